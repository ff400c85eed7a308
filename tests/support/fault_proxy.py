"""A fault-injecting HTTP proxy in front of the ingest endpoint, for client tests in any language.

    python3 tests/support/fault_proxy.py --upstream http://127.0.0.1:9000 --port 9400

It forwards every request (method, path, query, headers, body) to the upstream and returns its
answer, except while a fault is armed. Faults are armed and read over HTTP, so a test in Node.js
or Python drives it the same way:

    POST /__fault  {"mode": "reject", "count": 5, "status": 503, "retry_after": "1"}
        the next 5 requests get 503 (with Retry-After) and never reach the upstream
    POST /__fault  {"mode": "lose_response", "count": 3}
        the next 3 requests reach the upstream (the events are stored) but the client gets 503:
        a lost response, so a retry sends the same events again and the lake must deduplicate
    POST /__fault  {"mode": "hang", "count": 1, "seconds": 5}
        the next request waits this long before it is forwarded (for client timeouts)
    POST /__fault  {"mode": "off"}
    POST /__fault  [{"mode": "reject", "count": 3}, {"mode": "lose_response", "count": 2}]
        a list arms its faults one after the other: each applies to its `count` requests
    GET  /__stats  {"requests": n, "forwarded": n, "faulted": n, "bodies": [...]}
        "bodies" holds each request's body as received (base64), for asserting what was sent

It prints "listening on <port>" once it accepts connections (port 0 picks a free one).

From Python tests, `FaultProxy` runs it as a subprocess and drives it:

    with FaultProxy("http://127.0.0.1:9000") as proxy:
        proxy.arm({"mode": "reject", "count": 3, "retry_after": "0"})
        ...  # send to proxy.url + "/lambda-url/ingest/v1/batch"
        proxy.stats()["faulted"]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
              "content-length", "proxy-authorization", "proxy-authenticate"}


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Armed faults, applied in order, each to its `count` requests.
        self.faults: list[dict] = []
        self.requests = 0
        self.forwarded = 0
        self.faulted = 0
        self.bodies: list[str] = []

    def arm(self, armed: dict | list[dict]) -> dict | list[dict]:
        """Replaces the armed faults; answers what is armed, in the shape it was given."""
        with self.lock:
            faults = armed if isinstance(armed, list) else [armed]
            self.faults = [dict(f) for f in faults if f.get("mode", "off") != "off"]
            if isinstance(armed, list):
                return [dict(f) for f in self.faults]
            return dict(self.faults[0]) if self.faults else {"mode": "off"}

    def take_fault(self) -> dict:
        """The fault that applies to the request arriving now, counting it down."""
        with self.lock:
            self.requests += 1
            while self.faults and int(self.faults[0].get("count", 1)) <= 0:
                self.faults.pop(0)
            if not self.faults:
                return {"mode": "off"}
            fault = self.faults[0]
            fault["count"] = int(fault.get("count", 1)) - 1
            self.faulted += 1
            return dict(fault)


def make_handler(upstream: str, state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args) -> None:  # quiet: tests read /__stats instead
            pass

        def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value) -> None:
            self._reply(status, json.dumps(value).encode(), [("content-type", "application/json")])

        def _body(self) -> bytes:
            n = int(self.headers.get("content-length") or 0)
            return self.rfile.read(n) if n else b""

        def _forward(self, body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
            req = urllib.request.Request(upstream + self.path, data=body if body else None,
                                         method=self.command)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    req.add_header(k, v)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return resp.status, resp.read(), list(resp.headers.items())
            except urllib.error.HTTPError as e:
                return e.code, e.read(), list(e.headers.items())

        def _proxy(self) -> None:
            body = self._body()
            if self.path == "/__fault" and self.command == "POST":
                return self._json(200, {"armed": state.arm(json.loads(body or b"{}"))})
            if self.path == "/__stats":
                with state.lock:
                    return self._json(200, {"requests": state.requests, "forwarded": state.forwarded,
                                            "faulted": state.faulted, "bodies": state.bodies})
            with state.lock:
                state.bodies.append(base64.b64encode(body).decode())
            fault = state.take_fault()
            mode = fault.get("mode", "off")
            failure = [("content-type", "application/json")]
            if fault.get("retry_after") is not None:
                failure.append(("retry-after", str(fault["retry_after"])))
            if mode == "reject":
                return self._reply(int(fault.get("status", 503)),
                                   b'{"error":{"code":"injected","message":"fault_proxy"}}', failure)
            if mode == "hang":
                time.sleep(float(fault.get("seconds", 5)))
            status, answer, headers = self._forward(body)
            with state.lock:
                state.forwarded += 1
            if mode == "lose_response":
                return self._reply(int(fault.get("status", 503)),
                                   b'{"error":{"code":"injected","message":"response lost"}}', failure)
            kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
            self._reply(status, answer, kept)

        do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _proxy

    return Handler


class FaultProxy:
    """The proxy in a subprocess on a free port, for the lifetime of a `with` block."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> "FaultProxy":
        self._process = subprocess.Popen([sys.executable, __file__, "--upstream", self.upstream, "--port", "0"],
                                         stdout=subprocess.PIPE, text=True)
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("listening on "):
            self._process.kill()
            raise RuntimeError(f"fault proxy did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[-1])}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def _call(self, path: str, body: dict | list[dict] | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(self.url + path, data=data), timeout=10) as resp:
            return json.load(resp)

    def arm(self, fault: dict | list[dict]) -> dict:
        """Arms a fault or a sequence of them (see the module docstring); {"mode": "off"} disarms."""
        return self._call("/__fault", fault)

    def stats(self) -> dict:
        return self._call("/__stats")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9000 (no trailing /)")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.upstream.rstrip("/"), State()))
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
