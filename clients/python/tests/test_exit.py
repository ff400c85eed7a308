"""Events still queued when the interpreter exits are delivered by the atexit hook, and a forked
child process sends its own events with a sender thread of its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import FakeEndpoint


def run(script: str, endpoint: FakeEndpoint) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), endpoint.url],
                          capture_output=True, text=True, timeout=60)


def test_queued_events_are_delivered_before_the_interpreter_exits(endpoint: FakeEndpoint) -> None:
    out = run("""
        import sys
        from driftless import Client
        client = Client(sys.argv[1], flush_interval=3600, batch_size=500)
        for i in range(250):
            print(client.track("page_viewed", {"path": f"/p/{i}"}, anonymous_id="exit"))
        # No flush, no shutdown: the atexit hook drains the queue.
    """, endpoint)
    assert out.returncode == 0, out.stderr
    ids = out.stdout.split()
    assert len(ids) == 250
    assert [e["event_id"] for e in endpoint.events()] == ids


def test_a_forked_child_sends_its_own_events(endpoint: FakeEndpoint) -> None:
    out = run("""
        import os, sys
        from driftless import Client
        client = Client(sys.argv[1], flush_interval=3600)
        client.track("page_viewed", {"path": "/parent-before"}, anonymous_id="fork")
        pid = os.fork()
        if pid == 0:
            client.track("page_viewed", {"path": "/child"}, anonymous_id="fork")
            sys.exit(0 if client.shutdown(timeout=20) else 1)
        _, status = os.waitpid(pid, 0)
        client.track("page_viewed", {"path": "/parent-after"}, anonymous_id="fork")
        sys.exit(os.waitstatus_to_exitcode(status) or (0 if client.shutdown(timeout=20) else 1))
    """, endpoint)
    assert out.returncode == 0, out.stderr
    paths = sorted(e["properties"]["path"] for e in endpoint.events())
    # The child's copy of the parent's queue is the parent's to send: it goes out once.
    assert paths == ["/child", "/parent-after", "/parent-before"]


def test_forking_while_another_thread_tracks_never_deadlocks_the_child(endpoint: FakeEndpoint) -> None:
    out = run("""
        import os, sys, threading
        from driftless import Client
        client = Client(sys.argv[1], flush_interval=3600, max_queue=50)
        stop = threading.Event()
        def busy():
            # Holds the client's locks (queue, streams, ids) as often as it can.
            while not stop.is_set():
                client.track("page_viewed", {"path": "/busy"}, anonymous_id="busy")
        worker = threading.Thread(target=busy)
        worker.start()
        children = 0
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                client.track("page_viewed", {"path": "/child"}, anonymous_id="child")
                os._exit(0 if client.shutdown(timeout=20) else 1)
            _, status = os.waitpid(pid, 0)
            children += os.waitstatus_to_exitcode(status) == 0
        stop.set()
        worker.join()
        client.shutdown(timeout=20)
        print(children)
    """, endpoint)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["20"]
    assert sum(e["properties"]["path"] == "/child" for e in endpoint.events()) == 20
