"""When to send a failed batch again: the server's ``Retry-After`` (seconds or an HTTP date) when
it gave one, else "full jitter" exponential backoff, which spreads out the many clients that
failed at the same moment instead of having them retry in lockstep."""

from __future__ import annotations

import email.utils
import random
from datetime import datetime, timezone


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait that a ``Retry-After`` header asks for, or None when it is absent or
    unreadable. A date in the past means no wait."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110: HTTP dates are UTC, and parsedate_to_datetime leaves "-0000" naive.
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter for retry number ``attempt`` (1 for the first retry): uniform in
    ``[0, min(cap, base * 2**attempt))``."""
    return rng.random() * min(cap, base * 2.0 ** min(attempt, 64))


def retry_delay(attempt: int, retry_after: str | None, *, base: float, cap: float, rng: random.Random,
                now: datetime) -> tuple[float, str]:
    """The wait before retry number ``attempt`` and where it came from (for the log). A server's
    ``Retry-After`` is followed, up to ``cap``: a bogus one-day value must not stall the queue."""
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        return min(asked, cap), "Retry-After"
    return backoff_seconds(attempt, base, cap, rng), "backoff"
