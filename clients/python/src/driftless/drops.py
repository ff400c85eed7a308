"""Why events left the queue without reaching the pipeline, as handed to ``on_drop``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NotRequired, TypedDict

DropReason = Literal["queue_full", "too_large", "rejected", "refused", "retries_exhausted", "shutdown"]
"""
- ``queue_full``: ``max_queue`` events were already waiting; the new event was not queued.
- ``too_large``: the event alone is bigger than ``max_batch_bytes``, so no request can carry it.
- ``rejected``: the endpoint judged the event invalid (``rejections`` says why; it is quarantined
  there). Resending it would be rejected again, so it never is.
- ``refused``: the endpoint answered the whole request with a status retrying cannot fix (400, 401,
  403, 413, 415, other 4xx, 3xx).
- ``retries_exhausted``: ``max_attempts`` sends failed with 429, 5xx, a timeout or a network error.
- ``shutdown``: tracked after ``shutdown()``, or still queued when its timeout ran out.
"""


class WireEvent(TypedDict):
    """One event as it travels to the endpoint (docs/wire-format.md)."""

    event_id: str
    event_type: str
    schema_version: str
    timestamp: str
    anonymous_id: str
    user_id: NotRequired[str]
    session_id: str
    seq: int
    context: Mapping[str, object]
    properties: Mapping[str, object]


@dataclass(frozen=True)
class FieldError:
    """One problem the endpoint found, located by a JSON pointer into the event."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


@dataclass(frozen=True)
class Rejection:
    """The endpoint's verdict on one rejected event."""

    event_id: str | None
    reason: str
    """``properties``, ``envelope``, ``unknown_event_type``, ... (docs/wire-format.md)."""
    errors: tuple[FieldError, ...]

    def __str__(self) -> str:
        problems = "; ".join(str(e) for e in self.errors) or "no details"
        return f"event {self.event_id} ({self.reason}): {problems}"


@dataclass(frozen=True)
class Drop:
    """Events that will not be delivered, and why."""

    reason: DropReason
    events: tuple[WireEvent, ...]
    message: str
    """What happened and what to fix, for a log line."""
    status: int | None = None
    """The HTTP status of ``refused`` and ``retries_exhausted`` (None: a network error or timeout)."""
    rejections: tuple[Rejection, ...] = field(default=())
    """For ``rejected``: one verdict per event, in the order of ``events``."""
