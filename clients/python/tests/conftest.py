"""A scripted stand-in for the ingest endpoint, on a loopback port: it records every request
(headers and decoded body) and answers from a script, then like ingest does (every event
accepted)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Request:
    headers: dict[str, str]
    body: dict[str, Any]
    size: int
    """Bytes of the body, decompressed."""

    @property
    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.body["events"]]


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """JSON to answer; None: ingest's verdict, every event accepted."""
    delay: float = 0.0
    """Seconds to wait before answering (for client timeouts)."""
    hang_up: bool = False
    """Close the connection without an answer (a network error)."""


Script = Callable[[Request], Reply]


class FakeEndpoint:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply | Script] = []
        self.lock = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/batch"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, *replies: Reply | Script) -> None:
        """Answers for the next requests, in order; then every event is accepted."""
        with self.lock:
            self.replies.extend(replies)

    def wait_for_requests(self, n: int, timeout: float = 30) -> list[Request]:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.requests) >= n, timeout), \
                f"{len(self.requests)} request(s) arrived, expected {n}"
            return list(self.requests)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for r in self.requests for e in r.body["events"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    raw = gzip.decompress(raw)
                request = Request({k.lower(): v for k, v in self.headers.items()}, json.loads(raw), len(raw))
                with endpoint.lock:
                    endpoint.requests.append(request)
                    endpoint.lock.notify_all()
                    script = endpoint.replies.pop(0) if endpoint.replies else Reply()
                reply = script(request) if callable(script) else script
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.hang_up:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = reply.body if reply.body is not None else {"accepted": len(request.body["events"]),
                                                                  "rejected": []}
                data = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up

        return Handler


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint()
    yield fake
    fake.close()
