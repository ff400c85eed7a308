"""A small lake whose answers are known: eight persons in a web shop over three weeks of November
2026 (Monday 2 to Sunday 22), written as the two Delta tables compaction writes, partitioned by
`dt`.

- Ana signs up on her laptop (events before that are anonymous), then buys on her phone the next
  day: one person on two browsers, through the whole funnel.
- Ben views a product and leaves; one of his events never arrived (a `seq` gap) and one arrived two
  hours late. He comes back in week 3.
- Cara goes as far as the cart; she buys four days later, outside a two-day funnel window. Her
  cart event happened at 23:59:59 and arrived after midnight (the next `dt`).
- Dan adds to the cart before viewing the product: out of order, so he stops at step 2.
- Eve buys in week 2 and her confirmation page tracks the order twice; she comes back in week 3.
- Fay only looks. Gus and Hal share a browser: Gus signs in first, Hal last.
- Two bots, which every insight but quality_bots leaves out: a crawler that views a product on
  the 9th, and a script carrying Ana's user_id on the 16th (it must not stitch a browser to her).
  Events that arrived before the 4th were written before ingest flagged bots (`is_bot` NULL, no
  user-agent fields): they count as humans.
- The quarantine holds a bad product_viewed (sent twice by a retry) that fills Ana's `seq` gap, an
  unknown event type from a browser seen nowhere else, and a body that was not an object.

`EVENTS` and `QUARANTINE` are the rows; the answers are written out in test_queries.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

HOST = "https://shop.example"
TS = pa.timestamp("ms", tz="UTC")

# The lake's columns (shared/src/compact/table.rs: EVENTS and QUARANTINE) plus the partition `dt`.
EVENTS_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("event_type", pa.string()), ("schema_version", pa.string()),
    ("timestamp", TS), ("client_timestamp", TS), ("sent_at", TS), ("received_at", TS),
    ("anonymous_id", pa.string()), ("user_id", pa.string()), ("session_id", pa.string()), ("seq", pa.int64()),
    ("page_url", pa.string()), ("page_referrer", pa.string()), ("page_title", pa.string()),
    ("locale", pa.string()), ("timezone", pa.string()), ("screen_width", pa.int32()), ("screen_height", pa.int32()),
    ("sdk_name", pa.string()), ("sdk_version", pa.string()), ("user_agent", pa.string()), ("ip", pa.string()),
    ("properties", pa.string()), ("source", pa.string()), ("ua_browser", pa.string()),
    ("ua_browser_version", pa.string()), ("ua_os", pa.string()), ("ua_device_type", pa.string()),
    ("is_bot", pa.bool_()), ("bot_reason", pa.string()), ("geo_country", pa.string()), ("geo_region", pa.string()),
    ("dt", pa.string()),
])
# Arrival days before this one were written before ingest flagged bots.
FIRST_FLAGGED_DAY = "2026-11-04"
QUARANTINE_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("received_at", TS), ("sent_at", TS), ("index", pa.int64()),
    ("event_type", pa.string()), ("schema_version", pa.string()), ("reason", pa.string()), ("errors", pa.string()),
    ("user_agent", pa.string()), ("ip", pa.string()), ("raw", pa.string()), ("raw_truncated", pa.string()),
    ("dt", pa.string()),
])


def at(day: int, hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2026, 11, day, h, m, s, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Event:
    n: int  # the event's number in this file, for the answers
    browser: str
    session: str
    seq: int
    event_type: str
    time: datetime
    path: str
    user: str | None = None
    referrer: str | None = None
    properties: dict | None = None
    lag_seconds: float = 2.0
    bot_reason: str | None = None  # a bot: the rule of ingest that flagged it

    @property
    def event_id(self) -> str:
        return f"e-{self.n:02d}"

    @property
    def received_at(self) -> datetime:
        return self.time + timedelta(seconds=self.lag_seconds)


def product(sku: str, price: float, currency: str = "EUR") -> dict:
    return {"product_id": sku, "name": sku.title(), "price": price, "currency": currency}


def order(order_id: str, total: float, currency: str) -> dict:
    return {"order_id": order_id, "total": total, "currency": currency,
            "items": [{"product_id": "tent", "quantity": 1, "price": total}]}


PV, PR, CA, SU, CO = "page_viewed", "product_viewed", "cart_item_added", "signed_up", "checkout_completed"

EVENTS = [
    # Ana's laptop, Monday 2: anonymous until she signs up.
    Event(1, "a-laptop", "s-ana-1", 1, PV, at(2, "10:00:00"), "/", referrer="https://search.example/"),
    Event(2, "a-laptop", "s-ana-1", 2, PR, at(2, "10:00:30"), "/p/tent", properties=product("tent", 120.0)),
    Event(3, "a-laptop", "s-ana-1", 3, CA, at(2, "10:01:00"), "/p/tent"),
    Event(4, "a-laptop", "s-ana-1", 4, SU, at(2, "10:02:00"), "/account/signup", user="u-ana",
          properties={"method": "email"}),
    # Ana's phone, Tuesday 3: anonymous first, then signed in; buys. Her seq 3 is in the quarantine.
    Event(5, "a-phone", "s-ana-2", 1, PV, at(3, "09:00:00"), "/cart"),
    Event(6, "a-phone", "s-ana-2", 2, PV, at(3, "09:01:00"), "/checkout", user="u-ana"),
    Event(7, "a-phone", "s-ana-2", 4, CO, at(3, "09:02:00"), "/checkout", user="u-ana",
          properties=order("o-1", 120.0, "EUR")),
    Event(8, "a-phone", "s-ana-3", 5, PV, at(10, "12:00:00"), "/", user="u-ana"),
    # Ben: product, then a seq gap (3 never arrived) and an event that came two hours late.
    Event(9, "b-1", "s-ben-1", 1, PV, at(2, "11:00:00"), "/", referrer="https://news.example/"),
    Event(10, "b-1", "s-ben-1", 2, PR, at(2, "11:00:20"), "/p/boots", properties=product("boots", 89.9)),
    Event(11, "b-1", "s-ben-1", 4, PV, at(2, "11:05:00"), "/p/socks", lag_seconds=7200),
    Event(12, "b-1", "s-ben-2", 5, PV, at(17, "08:00:00"), "/"),
    # Cara: up to the cart just before midnight (that event arrives on the 5th), buys on the 8th.
    Event(13, "c-1", "s-cara-1", 1, PV, at(4, "23:58:00"), "/"),
    Event(14, "c-1", "s-cara-1", 2, PR, at(4, "23:58:30"), "/p/tent", properties=product("tent", 50.0)),
    Event(15, "c-1", "s-cara-1", 3, CA, at(4, "23:59:59"), "/p/tent"),
    Event(16, "c-1", "s-cara-2", 4, CO, at(8, "10:00:00"), "/checkout", properties=order("o-2", 50.0, "EUR")),
    # Dan: cart before product.
    Event(17, "d-1", "s-dan-1", 1, PV, at(5, "09:00:00"), "/"),
    Event(18, "d-1", "s-dan-1", 2, CA, at(5, "09:01:00"), "/p/tent"),
    Event(19, "d-1", "s-dan-1", 3, PR, at(5, "09:02:00"), "/p/tent", properties=product("tent", 50.0)),
    # Eve: the whole funnel in a minute; the order is tracked twice.
    Event(20, "e-1", "s-eve-1", 1, PV, at(9, "14:00:00"), "/"),
    Event(21, "e-1", "s-eve-1", 2, PR, at(9, "14:00:10"), "/p/cap", properties=product("cap", 30.5, "USD")),
    Event(22, "e-1", "s-eve-1", 3, CA, at(9, "14:00:20"), "/p/cap"),
    Event(23, "e-1", "s-eve-1", 4, CO, at(9, "14:01:00"), "/checkout", properties=order("o-3", 30.5, "USD")),
    Event(24, "e-1", "s-eve-1", 5, CO, at(9, "14:01:10"), "/checkout", properties=order("o-3", 30.5, "USD")),
    Event(25, "e-1", "s-eve-2", 6, PV, at(16, "10:00:00"), "/"),
    # Fay.
    Event(26, "f-1", "s-fay-1", 1, PV, at(9, "15:00:00"), "/"),
    # Gus, then Hal, on one browser; Hal's last event is after he signed out.
    Event(27, "g-1", "s-g-1", 1, PV, at(16, "18:00:00"), "/", user="u-gus"),
    Event(28, "g-1", "s-g-2", 2, PV, at(18, "19:00:00"), "/", user="u-hal"),
    Event(29, "g-1", "s-g-2", 3, PV, at(18, "19:05:00"), "/account"),
    # Bots: a crawler on the 9th, a script with Ana's user_id on the 16th.
    Event(30, "z-crawler", "s-bot-1", 1, PV, at(9, "03:00:00"), "/", bot_reason="crawler_list"),
    Event(31, "z-crawler", "s-bot-1", 2, PR, at(9, "03:00:05"), "/p/tent", properties=product("tent", 120.0),
          bot_reason="crawler_list"),
    Event(32, "y-script", "s-bot-2", 1, PV, at(16, "04:00:00"), "/account", user="u-ana",
          bot_reason="non_browser_agent"),
]


@dataclass(frozen=True)
class Rejected:
    event_id: str | None
    received_at: datetime
    event_type: str | None
    reason: str
    raw: str


QUARANTINE = [
    # Ana's seq 3, with a price sent as a string, twice (the SDK retried the batch).
    *(Rejected("q-1", at(3, hms), PR, "properties",
               json.dumps({"event_id": "q-1", "event_type": PR, "anonymous_id": "a-phone", "seq": 3,
                           "properties": {"product_id": "tent", "price": "120"}}))
      for hms in ("09:01:32", "09:01:40")),
    Rejected("q-2", at(3, "12:00:00"), "button_clicked", "unknown_event_type",
             json.dumps({"event_id": "q-2", "event_type": "button_clicked", "anonymous_id": "f-2", "seq": 1})),
    Rejected(None, at(9, "16:00:00"), None, "not_an_object", json.dumps("oops")),
]


def user_agent(e: Event) -> dict:
    """The fields ingest derives from the request: none before it flagged bots."""
    if e.received_at.strftime("%Y-%m-%d") < FIRST_FLAGGED_DAY:
        return {"source": None, "ua_browser": None, "ua_browser_version": None, "ua_os": None, "ua_device_type": None,
                "is_bot": None, "bot_reason": None, "geo_country": None, "geo_region": None}
    bot = {"crawler_list": ("Googlebot", "2", "Other", "bot"), "non_browser_agent": ("curl", "8", "Linux", "other")}
    browser, version, os, device = bot[e.bot_reason] if e.bot_reason else ("Chrome", "131", "Windows", "desktop")
    return {"source": "web", "ua_browser": browser, "ua_browser_version": version, "ua_os": os, "ua_device_type": device,
            "is_bot": e.bot_reason is not None, "bot_reason": e.bot_reason, "geo_country": "DE", "geo_region": "DE-BY"}


def events_table() -> pa.Table:
    rows = []
    for e in EVENTS:
        page = HOST + e.path
        dt = e.received_at.strftime("%Y-%m-%d")
        rows.append({
            "event_id": e.event_id, "event_type": e.event_type, "schema_version": "1-0-0",
            "timestamp": e.time, "client_timestamp": e.time, "sent_at": e.received_at, "received_at": e.received_at,
            "anonymous_id": e.browser, "user_id": e.user, "session_id": e.session, "seq": e.seq,
            "page_url": page, "page_referrer": e.referrer, "page_title": "Driftless Outdoor",
            "locale": "de-DE", "timezone": "Europe/Berlin", "screen_width": 1440, "screen_height": 900,
            "sdk_name": "driftless-js", "sdk_version": "0.1.0", "user_agent": "Mozilla/5.0", "ip": None,
            "properties": json.dumps(e.properties if e.properties is not None else {"path": e.path}),
            **user_agent(e), "dt": dt,
        })
    return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)


def quarantine_table() -> pa.Table:
    rows = [{
        "event_id": r.event_id, "received_at": r.received_at, "sent_at": r.received_at, "index": 0,
        "event_type": r.event_type, "schema_version": "1-0-0" if r.event_type else None, "reason": r.reason,
        "errors": json.dumps([{"path": "", "message": r.reason}]), "user_agent": "Mozilla/5.0", "ip": None,
        "raw": r.raw, "raw_truncated": None, "dt": r.received_at.strftime("%Y-%m-%d"),
    } for r in QUARANTINE]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def write_lake(root: Path) -> Path:
    """Writes the two Delta tables under `root/lake/` (laid out like the bucket); returns root."""
    write_deltalake(str(root / "lake" / "events"), events_table(), partition_by=["dt"])
    write_deltalake(str(root / "lake" / "quarantine"), quarantine_table(), partition_by=["dt"])
    return root
