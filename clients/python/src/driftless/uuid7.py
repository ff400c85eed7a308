"""RFC 9562 UUIDv7: 48-bit Unix milliseconds, a 12-bit counter (method 1, so that ids made in one
millisecond still sort in creation order), 62 random bits. The lake deduplicates on these ids."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = -1
_counter = 0


def uuid7() -> str:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            # A random start below 2048 leaves room for 2,048 more ids in this millisecond.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            # Same millisecond, or the clock stepped back: keep counting on the last time, so ids
            # never go backwards; a full counter borrows the next millisecond.
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at the fork; in the child it would stay held.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
