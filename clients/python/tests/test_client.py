"""The client against a scripted local endpoint: the wire format, batching by count, bytes and
time, retries (429, 5xx, network errors, timeouts) and Retry-After, the queue bound, every drop
reason, flush and shutdown."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import FakeEndpoint, Reply

from driftless import Client, Drop


class Drops:
    """An ``on_drop`` that records what it is given."""

    def __init__(self) -> None:
        self.drops: list[Drop] = []
        self.lock = threading.Condition()

    def __call__(self, drop: Drop) -> None:
        with self.lock:
            self.drops.append(drop)
            self.lock.notify_all()

    def wait_for(self, n: int, timeout: float = 30) -> list[Drop]:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.drops) >= n, timeout), self.drops
            return list(self.drops)

    def reasons(self) -> list[str]:
        return [d.reason for d in self.drops]


@pytest.fixture
def drops() -> Drops:
    return Drops()


@pytest.fixture
def make_client(endpoint: FakeEndpoint, drops: Drops) -> Iterator[Any]:
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        options.setdefault("on_drop", drops)
        options.setdefault("flush_interval", 60.0)
        options.setdefault("retry_base", 0.01)
        client = Client(endpoint.url, **options)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.shutdown(timeout=5)


def page(client: Client, n: int, anonymous_id: str = "a-1", **options: Any) -> list[str]:
    return [client.track("page_viewed", {"path": f"/p/{i}"}, anonymous_id=anonymous_id, **options)
            for i in range(n)]


def test_sends_events_in_the_wire_format_gzipped(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client()
    first = client.track("product_viewed", {"product_id": "p-1", "price": 9.9, "currency": "EUR"},
                         anonymous_id="a-1", user_id="u-1", context={"locale": "de-DE"})
    second = client.track("signed_up", {"method": "github"}, anonymous_id="a-1")
    assert client.flush(timeout=10)

    [request] = endpoint.wait_for_requests(1)
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("driftless-python/")
    datetime.fromisoformat(request.body["sent_at"])
    a, b = request.body["events"]
    assert [a["event_id"], b["event_id"]] == [first, second]
    assert uuid.UUID(first).version == 7
    assert a["event_type"] == "product_viewed" and a["schema_version"] == "1-0-0"
    assert a["properties"] == {"product_id": "p-1", "price": 9.9, "currency": "EUR"}
    assert a["user_id"] == "u-1" and "user_id" not in b
    assert a["context"] == {"locale": "de-DE", "sdk": {"name": "driftless-python", "version": "0.1.0"}}
    assert a["timestamp"].endswith("Z") and len(a["timestamp"]) == 24
    assert (a["anonymous_id"], a["seq"]) == ("a-1", 0)
    assert (b["session_id"], b["seq"]) == (a["session_id"], 1)


def test_sends_uncompressed_when_gzip_is_off(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client(gzip=False)
    page(client, 1)
    assert client.flush(timeout=10)
    [request] = endpoint.wait_for_requests(1)
    assert "content-encoding" not in request.headers


def test_batches_hold_at_most_batch_size_events(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client(batch_size=3)
    ids = page(client, 7)
    assert client.flush(timeout=10)
    requests = endpoint.wait_for_requests(3)
    assert [len(r.event_ids) for r in requests] == [3, 3, 1]
    assert [i for r in requests for i in r.event_ids] == ids


def test_a_full_batch_is_sent_without_waiting_for_the_interval(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client(batch_size=5, flush_interval=3600)
    page(client, 5)
    [request] = endpoint.wait_for_requests(1)
    assert len(request.event_ids) == 5


def test_batches_stay_under_max_batch_bytes(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client(max_batch_bytes=2048, gzip=False)
    ids = [client.track("page_viewed", {"path": "/" + "x" * 500}, anonymous_id="a-1") for _ in range(9)]
    assert client.flush(timeout=10)
    requests = endpoint.wait_for_requests(3)
    assert len(requests) >= 3
    assert all(r.size <= 2048 for r in requests)
    assert [i for r in requests for i in r.event_ids] == ids


def test_an_unfull_batch_is_sent_after_flush_interval(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client(flush_interval=0.05)
    [event_id] = page(client, 1)
    [request] = endpoint.wait_for_requests(1)
    assert request.event_ids == [event_id]


def test_retries_a_503_after_retry_after_seconds_with_the_same_event_ids(
        make_client: Any, endpoint: FakeEndpoint, drops: Drops, caplog: pytest.LogCaptureFixture) -> None:
    endpoint.reply(Reply(503, {"Retry-After": "0"}, {"error": {"code": "unavailable", "message": "try later"}}))
    client = make_client()
    ids = page(client, 3)
    with caplog.at_level(logging.WARNING, "driftless"):
        assert client.flush(timeout=10)
    first, second = endpoint.wait_for_requests(2)
    assert first.event_ids == second.event_ids == ids
    assert drops.drops == []
    assert "in 0.000 s (Retry-After) after 503 (unavailable: try later)" in caplog.text


def test_retry_after_as_an_http_date_is_honoured(
        make_client: Any, endpoint: FakeEndpoint, drops: Drops, caplog: pytest.LogCaptureFixture) -> None:
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    endpoint.reply(Reply(503, {"Retry-After": past}))
    client = make_client()
    ids = page(client, 2)
    with caplog.at_level(logging.WARNING, "driftless"):
        assert client.flush(timeout=10)
    assert [r.event_ids for r in endpoint.wait_for_requests(2)] == [ids, ids]
    assert "in 0.000 s (Retry-After)" in caplog.text
    assert drops.drops == []


def test_retries_429_and_5xx_with_backoff(make_client: Any, endpoint: FakeEndpoint, drops: Drops,
                                          caplog: pytest.LogCaptureFixture) -> None:
    endpoint.reply(Reply(429), Reply(500), Reply(502))
    client = make_client()
    ids = page(client, 1)
    with caplog.at_level(logging.WARNING, "driftless"):
        assert client.flush(timeout=10)
    assert [r.event_ids for r in endpoint.wait_for_requests(4)] == [ids] * 4
    assert caplog.text.count("(backoff)") == 3
    assert drops.drops == []


def test_retries_after_the_connection_drops_without_an_answer(make_client: Any, endpoint: FakeEndpoint,
                                                              drops: Drops) -> None:
    endpoint.reply(Reply(hang_up=True))
    client = make_client()
    ids = page(client, 2)
    assert client.flush(timeout=10)
    assert [r.event_ids for r in endpoint.wait_for_requests(2)] == [ids, ids]
    assert drops.drops == []


def test_a_request_without_an_answer_in_time_is_retried(make_client: Any, endpoint: FakeEndpoint, drops: Drops,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    endpoint.reply(Reply(delay=3))
    client = make_client(timeout=0.2)
    ids = page(client, 1)
    with caplog.at_level(logging.WARNING, "driftless"):
        assert client.flush(timeout=20)
    assert [r.event_ids for r in endpoint.wait_for_requests(2)] == [ids, ids]
    assert "no answer within timeout=0.2 s" in caplog.text
    assert drops.drops == []


def test_gives_up_after_max_attempts(make_client: Any, endpoint: FakeEndpoint, drops: Drops) -> None:
    endpoint.reply(*[Reply(503, {"Retry-After": "0"})] * 3)
    client = make_client(max_attempts=3)
    ids = page(client, 2)
    assert client.flush(timeout=10)
    assert len(endpoint.wait_for_requests(3)) == 3
    [drop] = drops.drops
    assert drop.reason == "retries_exhausted" and drop.status == 503
    assert [e["event_id"] for e in drop.events] == ids
    assert "gave up after 3 attempts" in drop.message


def test_rejected_events_are_dropped_with_the_endpoints_reasons_and_never_resent(
        make_client: Any, endpoint: FakeEndpoint, drops: Drops) -> None:
    def verdict(request: Any) -> Reply:
        bad = request.body["events"][1]
        return Reply(200, body={"accepted": 2, "rejected": [{
            "index": 1, "event_id": bad["event_id"], "reason": "properties",
            "errors": [{"path": "/properties/path", "message": "must be at least 1 characters long, got 0"}]}]})

    endpoint.reply(verdict)
    client = make_client()
    ids = page(client, 3)
    assert client.flush(timeout=10)
    [drop] = drops.drops
    assert drop.reason == "rejected"
    assert [e["event_id"] for e in drop.events] == [ids[1]]
    [rejection] = drop.rejections
    assert (rejection.event_id, rejection.reason) == (ids[1], "properties")
    assert rejection.errors[0].path == "/properties/path"
    assert "must be at least 1 characters long" in drop.message
    assert len(endpoint.requests) == 1


def test_a_refused_request_is_dropped_without_retrying(make_client: Any, endpoint: FakeEndpoint,
                                                       drops: Drops) -> None:
    endpoint.reply(Reply(415, body={"error": {"code": "unsupported_media_type", "message": "use application/json"}}))
    client = make_client()
    page(client, 2)
    assert client.flush(timeout=10)
    [drop] = drops.drops
    assert (drop.reason, drop.status, len(drop.events)) == ("refused", 415, 2)
    assert "415 (unsupported_media_type: use application/json)" in drop.message
    assert len(endpoint.requests) == 1


def test_a_413_splits_the_batch(make_client: Any, endpoint: FakeEndpoint, drops: Drops) -> None:
    endpoint.reply(Reply(413))
    client = make_client()
    ids = page(client, 4)
    assert client.flush(timeout=10)
    assert [r.event_ids for r in endpoint.wait_for_requests(3)] == [ids, ids[:2], ids[2:]]
    assert drops.drops == []


def test_the_queue_is_bounded_and_reports_what_it_drops(make_client: Any, endpoint: FakeEndpoint,
                                                        drops: Drops) -> None:
    client = make_client(max_queue=3)
    ids = page(client, 5)
    assert client.queued == 3
    assert drops.reasons() == ["queue_full", "queue_full"]
    assert [d.events[0]["event_id"] for d in drops.drops] == ids[3:]
    assert "max_queue=3" in drops.drops[0].message
    assert client.flush(timeout=10)
    assert [e["event_id"] for e in endpoint.events()] == ids[:3]


def test_an_event_no_request_can_carry_is_dropped_when_tracked(make_client: Any, endpoint: FakeEndpoint,
                                                               drops: Drops) -> None:
    client = make_client(max_batch_bytes=1024)
    client.track("page_viewed", {"path": "/" + "x" * 2000}, anonymous_id="a-1")
    [drop] = drops.drops
    assert drop.reason == "too_large" and "max_batch_bytes=1,024" in drop.message
    assert client.flush(timeout=5) and endpoint.requests == []


def test_a_raising_drop_callback_does_not_stop_the_client(endpoint: FakeEndpoint) -> None:
    def explode(drop: Drop) -> None:
        raise RuntimeError("callback bug")

    endpoint.reply(Reply(400))
    client = Client(endpoint.url, on_drop=explode, flush_interval=60)
    page(client, 1)
    assert client.flush(timeout=10)
    ids = page(client, 1)
    assert client.shutdown(timeout=10)
    assert endpoint.wait_for_requests(2)[1].event_ids == ids


def test_shutdown_delivers_what_is_queued_and_refuses_later_events(endpoint: FakeEndpoint, drops: Drops) -> None:
    with Client(endpoint.url, flush_interval=3600, batch_size=4, on_drop=drops) as client:
        ids = page(client, 10)
    assert [e["event_id"] for e in endpoint.events()] == ids
    client.track("page_viewed", {"path": "/late"}, anonymous_id="a-1")
    assert drops.reasons() == ["shutdown"]
    assert client.shutdown() is True


def test_shutdown_gives_up_at_its_timeout_and_reports_the_rest(endpoint: FakeEndpoint, drops: Drops) -> None:
    endpoint.reply(*[Reply(503, {"Retry-After": "30"})] * 5)
    client = Client(endpoint.url, flush_interval=3600, batch_size=2, on_drop=drops)
    ids = page(client, 4)
    assert client.shutdown(timeout=0.5) is False
    # The queued batch is reported by shutdown, the one being retried by the sender as it stops.
    dropped = [e["event_id"] for d in drops.wait_for(2) for e in d.events]
    assert drops.reasons() == ["shutdown", "shutdown"]
    assert sorted(dropped) == sorted(ids)


def test_flush_returns_false_when_its_timeout_runs_out(make_client: Any, endpoint: FakeEndpoint) -> None:
    endpoint.reply(Reply(delay=2))
    client = make_client()
    page(client, 1)
    assert client.flush(timeout=0.2) is False
    assert client.flush(timeout=20) is True


def test_a_historical_timestamp_is_sent_as_given(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client()
    when = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=1)))
    client.track("signed_up", {"method": "email"}, user_id="u-9", timestamp=when)
    assert client.flush(timeout=10)
    [event] = endpoint.events()
    assert event["timestamp"] == "2026-03-01T08:30:15.250Z"
    assert (event["anonymous_id"], event["user_id"]) == ("u-9", "u-9")


def test_bad_arguments_raise_at_the_call(make_client: Any) -> None:
    client = make_client()
    untyped: Any = client
    with pytest.raises(ValueError, match="unknown event type 'page_view': use one of"):
        untyped.track("page_view", {"path": "/"}, anonymous_id="a")
    with pytest.raises(ValueError, match="give anonymous_id or user_id"):
        untyped.track("page_viewed", {"path": "/"})
    with pytest.raises(ValueError, match="anonymous_id must be a string of 1 to 128 characters"):
        untyped.track("page_viewed", {"path": "/"}, anonymous_id="x" * 129)
    with pytest.raises(ValueError, match="aware datetime"):
        untyped.track("page_viewed", {"path": "/"}, anonymous_id="a", timestamp=datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="properties must be JSON"):
        untyped.track("page_viewed", {"path": object()}, anonymous_id="a")
    with pytest.raises(TypeError, match="properties must be JSON"):
        untyped.track("product_viewed", {"product_id": "p", "price": float("nan"), "currency": "EUR"},
                      anonymous_id="a")
    with pytest.raises(TypeError, match="unknown option"):
        untyped.track("page_viewed", {"path": "/"}, anonymous_id="a", sesion_id="s")
    assert client.queued == 0


def test_the_source_key_goes_in_the_x_driftless_key_header(make_client: Any, endpoint: FakeEndpoint) -> None:
    client = make_client(key="dk_srv_1")
    page(client, 1)
    assert client.flush(timeout=10)
    [request] = endpoint.wait_for_requests(1)
    assert request.headers["x-driftless-key"] == "dk_srv_1"
    assert set(request.body) == {"sent_at", "events"}, "a server sends its key in the header, not the body"


def test_the_source_key_comes_from_the_environment_or_is_left_out(
        monkeypatch: pytest.MonkeyPatch, make_client: Any, endpoint: FakeEndpoint) -> None:
    monkeypatch.delenv("DRIFTLESS_KEY", raising=False)
    clients = [make_client()]
    monkeypatch.setenv("DRIFTLESS_KEY", "dk_from_env")
    clients.append(make_client())
    # An explicit key wins over the environment's.
    clients.append(make_client(key="dk_explicit"))
    for client in clients:
        page(client, 1)
        assert client.flush(timeout=10)
    requests = endpoint.wait_for_requests(3)
    assert sorted(r.headers.get("x-driftless-key", "") for r in requests) == ["", "dk_explicit", "dk_from_env"]


def test_a_401_for_the_key_is_dropped_without_retrying(make_client: Any, endpoint: FakeEndpoint,
                                                       drops: Drops) -> None:
    endpoint.reply(Reply(401, body={"error": {"code": "key_disabled", "message": "source key dk_old is disabled"}}))
    client = make_client(key="dk_old")
    page(client, 2)
    assert client.flush(timeout=10)
    [drop] = drops.drops
    assert (drop.reason, drop.status, len(drop.events)) == ("refused", 401, 2)
    assert "401 (key_disabled: source key dk_old is disabled)" in drop.message
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize("key", ["", "dk srv", "dk_srv\n", "dk_ü"])
def test_a_key_no_header_can_carry_is_refused_at_the_call(endpoint: FakeEndpoint, key: str) -> None:
    with pytest.raises(ValueError, match="key must be a non-empty source key"):
        Client(endpoint.url, key=key)


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 501}, "batch_size must be an integer, 1 to 500, got 501"),
    ({"max_batch_bytes": 2_000_000}, "max_batch_bytes must be an integer, 1,024 to 1,048,576"),
    ({"timeout": 0}, "timeout must be more than 0 seconds"),
    ({"max_retry_delay": 0.1, "retry_base": 1.0}, "max_retry_delay (0.1) must be at least retry_base"),
])
def test_bad_settings_are_refused_with_what_to_fix(endpoint: FakeEndpoint, options: dict[str, Any],
                                                   message: str) -> None:
    with pytest.raises(ValueError) as e:
        Client(endpoint.url, **options)
    assert message in str(e.value)


def test_the_endpoint_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, endpoint: FakeEndpoint) -> None:
    monkeypatch.delenv("DRIFTLESS_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="DRIFTLESS_ENDPOINT"):
        Client()
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        Client("ftp://example.com/v1/batch")
    monkeypatch.setenv("DRIFTLESS_ENDPOINT", endpoint.url)
    client = Client()
    assert client.endpoint == endpoint.url
    client.shutdown()
