"""Driftless for servers and scripts: ``Client.track`` typed by the schema, with batching, gzip,
retries and a bounded in-memory queue drained by a background thread.

    from driftless import Client

    with Client("https://ingest.example.com/v1/batch") as driftless:
        driftless.track("checkout_completed", {"order_id": "o-1", "total": 42.0, "currency": "EUR",
                                               "items": [{"product_id": "p-1", "quantity": 1, "price": 42.0}]},
                        user_id="u-1")
"""

__version__ = "0.1.0"

import logging

from driftless.client import Client
from driftless.drops import Drop, DropReason, FieldError, Rejection, WireEvent
from driftless.events import SCHEMA_VERSIONS, EventType
from driftless.options import EventContext, PageContext, ScreenContext, TrackOptions

__all__ = [
    "Client", "Drop", "DropReason", "EventContext", "EventType", "FieldError", "PageContext", "Rejection",
    "SCHEMA_VERSIONS", "ScreenContext", "TrackOptions", "WireEvent", "__version__",
]

# A library logs only when the application configured logging.
logging.getLogger("driftless").addHandler(logging.NullHandler())
