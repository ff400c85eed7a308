"""The request body of the wire format (docs/wire-format.md): ``{"sent_at", "events"}`` around
events that were serialised once, when they were tracked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

# `{"sent_at":"<24 chars>","events":[` and `]}`.
ENVELOPE_BYTES = 50


def rfc3339(when: datetime) -> str:
    """``2026-11-28T14:30:21.950Z``: UTC with milliseconds, as ingest parses it."""
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_batch(events: Sequence[bytes], sent_at: datetime) -> bytes:
    """The body; ``sent_at`` is the clock now, set again for every attempt, so that ingest can
    correct the client's clock skew."""
    return b'{"sent_at":"' + rfc3339(sent_at).encode() + b'","events":[' + b",".join(events) + b"]}"

