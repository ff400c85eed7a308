"""``session_id`` and ``seq`` for a server, which has no browser storage to persist them in.

The wire format counts ``seq`` per ``anonymous_id`` so that gaps in the lake measure loss. A
server process sees each ``anonymous_id`` only now and then, and several processes may track the
same one, so it cannot keep one counter per person forever. Instead each client keeps a *stream*
per ``anonymous_id``: a ``session_id`` of its own (a UUIDv7) and ``seq`` counted from 0 within it.
A stream ends after ``idle`` seconds without events (30 minutes, as a browser session does) or
when ``max_streams`` newer ones push it out; the next event of that ``anonymous_id`` starts a new
stream. So ``seq`` has no gaps and no repeats per ``(anonymous_id, session_id)``, and memory holds
only the streams active lately.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from driftless.uuid7 import uuid7

SESSION_IDLE_SECONDS = 30 * 60
MAX_STREAMS = 100_000


class Streams:
    def __init__(self, *, idle: float = SESSION_IDLE_SECONDS, max_streams: int = MAX_STREAMS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle
        self._max = max_streams
        self._clock = clock
        self._lock = threading.Lock()
        # anonymous_id -> [session_id, next seq, last use]; least recently used first.
        self._streams: OrderedDict[str, tuple[str, int, float]] = OrderedDict()

    def next(self, anonymous_id: str) -> tuple[str, int]:
        """The ``(session_id, seq)`` of the next event of ``anonymous_id``."""
        with self._lock:
            now = self._clock()
            stream = self._streams.pop(anonymous_id, None)
            if stream is None or now - stream[2] > self._idle:
                stream = (uuid7(), 0, now)
            session_id, seq, _ = stream
            self._streams[anonymous_id] = (session_id, seq + 1, now)
            self._forget(now)
            return session_id, seq

    def __len__(self) -> int:
        return len(self._streams)

    def _forget(self, now: float) -> None:
        while self._streams:
            _, (_, _, last) = next(iter(self._streams.items()))
            if len(self._streams) <= self._max and now - last <= self._idle:
                return
            self._streams.popitem(last=False)
