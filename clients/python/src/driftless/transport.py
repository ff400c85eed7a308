"""One HTTP POST to the ingest endpoint over a kept-alive connection, gzip-compressed, within a
timeout. It answers with the status, or raises ``TransportError``: what to do with either is the
client's decision."""

from __future__ import annotations

import gzip
import http.client
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# Verdicts for 500 events with a few errors each stay far below this; more is not an answer of ours.
MAX_ANSWER_BYTES = 8 * 1024 * 1024


class TransportError(Exception):
    """No answer: the connection failed, broke or timed out. Whether the server got the request
    is unknown, so the batch is sent again (with the same event ids; the lake drops duplicates)."""


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: str | None
    body: bytes


class Transport:
    def __init__(self, endpoint: str, *, timeout: float, compress: bool, headers: Mapping[str, str],
                 user_agent: str) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"endpoint {endpoint!r} is not an http:// or https:// URL: "
                             "give the ingest URL, e.g. https://ingest.example.com/v1/batch")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port
        self._target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._timeout = timeout
        self._compress = compress
        self._headers = {"Content-Type": "application/json", "User-Agent": user_agent, **headers}
        if compress:
            self._headers["Content-Encoding"] = "gzip"
        self._conn: http.client.HTTPConnection | None = None
        self._context = ssl.create_default_context() if self._https else None

    def post(self, body: bytes) -> Answer:
        data = gzip.compress(body, compresslevel=6) if self._compress else body
        reused = self._conn is not None
        try:
            return self._exchange(data)
        except (OSError, http.client.HTTPException) as first:
            self.close()
            # A kept-alive connection the server closed while idle fails on first use: that says
            # nothing about the endpoint, so one fresh connection is tried at once.
            if not (reused and isinstance(first, (http.client.RemoteDisconnected, ConnectionResetError,
                                                  BrokenPipeError))):
                raise TransportError(describe(first, self._timeout)) from first
        try:
            return self._exchange(data)
        except (OSError, http.client.HTTPException) as second:
            self.close()
            raise TransportError(describe(second, self._timeout)) from second

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def forget(self) -> None:
        """Drops the connection without closing it: in a forked child it is the parent's."""
        self._conn = None

    def _exchange(self, data: bytes) -> Answer:
        deadline = time.monotonic() + self._timeout
        conn = self._conn or self._connect()
        self._conn = conn
        conn.request("POST", self._target, body=data, headers=self._headers)
        # The socket timeout applies to each wait; narrowing it to what is left of the deadline
        # before each phase bounds the whole exchange, not just every single read.
        self._narrow(conn, deadline)
        resp = conn.getresponse()
        self._narrow(conn, deadline)
        answer = resp.read(MAX_ANSWER_BYTES + 1)
        if len(answer) > MAX_ANSWER_BYTES or resp.will_close:
            self.close()
        return Answer(resp.status, resp.getheader("Retry-After"), answer[:MAX_ANSWER_BYTES])

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    @staticmethod
    def _narrow(conn: http.client.HTTPConnection, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        if conn.sock is not None:
            conn.sock.settimeout(left)


def describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within timeout={timeout:g} s"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
