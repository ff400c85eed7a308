"""Retry timing decisions, as pure functions: Retry-After in both forms, the cap, full jitter."""

from __future__ import annotations

import email.utils
import random
from datetime import datetime, timedelta, timezone

import pytest

from driftless.retry import backoff_seconds, retry_after_seconds, retry_delay

NOW = datetime(2026, 11, 28, 14, 30, 0, tzinfo=timezone.utc)


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when, usegmt=True)


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds("120", NOW) == 120.0
    assert retry_after_seconds(" 0 ", NOW) == 0.0


def test_retry_after_as_an_http_date_in_every_form() -> None:
    assert retry_after_seconds(http_date(NOW + timedelta(seconds=90)), NOW) == 90.0
    assert retry_after_seconds("Saturday, 28-Nov-26 14:31:00 GMT", NOW) == 60.0
    assert retry_after_seconds("Sat Nov 28 14:30:30 2026", NOW) == 30.0


def test_a_retry_after_date_in_the_past_means_no_wait() -> None:
    assert retry_after_seconds(http_date(NOW - timedelta(hours=1)), NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_an_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert retry_after_seconds(value, NOW) is None
    delay, source = retry_delay(1, value, base=0.5, cap=30, rng=random.Random(1), now=NOW)
    assert source == "backoff" and 0 <= delay < 1.0


def test_retry_after_is_followed_up_to_the_cap() -> None:
    assert retry_delay(1, "3", base=0.5, cap=30, rng=random.Random(1), now=NOW) == (3.0, "Retry-After")
    assert retry_delay(1, "86400", base=0.5, cap=30, rng=random.Random(1), now=NOW) == (30.0, "Retry-After")


def test_full_jitter_stays_below_its_bound_and_spreads_over_it() -> None:
    rng = random.Random(7)
    for attempt in range(1, 13):
        bound = min(30.0, 0.5 * 2 ** attempt)
        delays = [backoff_seconds(attempt, 0.5, 30.0, rng) for _ in range(500)]
        assert all(0 <= d < bound for d in delays), attempt
        # Uniform over the range, not a fixed fraction of it: both ends are reached.
        assert max(delays) > 0.9 * bound and min(delays) < 0.1 * bound, attempt
    assert backoff_seconds(10_000, 0.5, 30.0, rng) < 30.0
