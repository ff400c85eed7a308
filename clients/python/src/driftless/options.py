"""What a ``track`` call may carry besides the event's properties."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict


class PageContext(TypedDict, total=False):
    """The page the event is about, when a server knows it (say, from the request it handles)."""

    url: str
    referrer: str
    title: str


class ScreenContext(TypedDict):
    """Screen size in CSS pixels."""

    width: int
    height: int


class EventContext(TypedDict, total=False):
    """The wire format's ``context``; ``sdk`` is always the client's own name and version."""

    page: PageContext
    locale: str
    """BCP 47 language tag, e.g. de-DE."""
    timezone: str
    """IANA time zone, e.g. Europe/Berlin."""
    screen: ScreenContext


class TrackOptions(TypedDict, total=False):
    """Keyword arguments of ``Client.track``."""

    anonymous_id: str
    """Who did it, as the browser SDK calls them (1 to 128 characters); defaults to ``user_id``."""
    user_id: str | None
    """The signed-in user (1 to 256 characters), if any."""
    timestamp: datetime
    """When it happened (an aware datetime), for backfills; default: now."""
    context: EventContext
