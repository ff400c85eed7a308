"""The Python client (clients/python, installed into the venv by `make test`) against the real
local stack: events land in the lake exactly once, a rejected event reaches the drop callback
with the endpoint's reason, a 503 storm from the fault proxy loses and duplicates nothing, and
events still queued when the interpreter exits are delivered by then. The lake is read through
scripts/lake.py only."""

import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import lake
import pytest
from conftest import ENDPOINT
from exactly_once import lake_counts

from driftless import Client, Drop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from fault_proxy import FaultProxy  # noqa: E402

# The proxy forwards paths as they come: the client posts to <proxy>/lambda-url/ingest/v1/batch.
UPSTREAM, PATH = ENDPOINT.split("/lambda-url/", 1)
# cargo lambda's function URL emulator answers 500 to any body that is not UTF-8, gzip included
# (AWS base64-encodes such bodies for the function): on the local stack the client sends plain
# JSON. Its gzip bodies are tested against a scripted endpoint (clients/python/tests).
PLAIN = {"gzip": False}


class Drops:
    def __init__(self) -> None:
        self.drops: list[Drop] = []
        self.lock = threading.Lock()

    def __call__(self, drop: Drop) -> None:
        with self.lock:
            self.drops.append(drop)


def shop(client: Client, user: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        ids.append(client.track("product_viewed", {"product_id": f"sku-{i}", "price": 19.5, "currency": "EUR"},
                                anonymous_id=f"anon-{user}", user_id=user))
        ids.append(client.track("cart_item_added", {"cart_id": f"c-{user}", "product_id": f"sku-{i}",
                                                    "quantity": 1, "price": 19.5, "currency": "EUR"}, user_id=user))
    return ids


def test_a_batch_is_accepted_and_lands_in_the_lake_once_with_its_fields(s3, tmp_path) -> None:
    drops = Drops()
    user = "py-" + datetime.now().strftime("%H%M%S%f")
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    with Client(ENDPOINT, on_drop=drops, **PLAIN) as client:
        ids = shop(client, user, 10)
        ids.append(client.track("checkout_completed", {
            "order_id": f"o-{user}", "total": 39.0, "currency": "EUR", "shipping_method": "express",
            "items": [{"product_id": "sku-1", "quantity": 2, "price": 19.5}]}, user_id=user, timestamp=yesterday))
    assert drops.drops == []
    assert lake_counts(ids) == (21, 21)

    con = lake.duckdb_connect()
    lake.attach(con, ("events",))
    row = con.execute("SELECT user_id, anonymous_id, sdk_name, client_timestamp, properties FROM events "
                      "WHERE event_id = ?", [ids[-1]]).fetchone()
    assert row[0] == user and row[1] == user and row[2] == "driftless-python"
    assert abs((row[3].replace(tzinfo=timezone.utc) - yesterday).total_seconds()) < 1
    assert '"shipping_method":"express"' in row[4].replace(" ", "")


def test_a_rejected_event_reaches_the_drop_callback_with_the_endpoints_reason(s3, tmp_path) -> None:
    drops = Drops()
    with Client(ENDPOINT, on_drop=drops, **PLAIN) as client:
        untyped: Any = client  # what mypy would refuse, as a caller without types could send it
        good = client.track("page_viewed", {"path": "/ok"}, anonymous_id="py-rejected")
        bad = untyped.track("product_viewed", {"product_id": "p", "price": "12", "currency": "EUR"},
                            anonymous_id="py-rejected")
    [drop] = drops.drops
    assert drop.reason == "rejected"
    assert [e["event_id"] for e in drop.events] == [bad]
    [rejection] = drop.rejections
    assert (rejection.event_id, rejection.reason) == (bad, "properties")
    assert [(e.path, e.message) for e in rejection.errors] == [("/properties/price", 'must be a number, got string "12"')]
    assert lake_counts([good, bad]) == (1, 1)


@pytest.fixture
def proxy():
    with FaultProxy(UPSTREAM) as p:
        yield p


def test_a_503_storm_is_retried_and_the_lake_has_every_event_exactly_once(s3, tmp_path, proxy) -> None:
    drops = Drops()
    # Rejected before ingest (nothing stored), then answers lost after ingest stored the events:
    # the client resends batches that did arrive, and the lake must drop those copies.
    proxy.arm([{"mode": "reject", "count": 4, "status": 503, "retry_after": "0"},
               {"mode": "lose_response", "count": 3, "status": 503}])
    with Client(f"{proxy.url}/lambda-url/{PATH}", on_drop=drops, batch_size=25, retry_base=0.05,
                max_attempts=10, **PLAIN) as client:
        ids = shop(client, "py-storm", 50)
    stats = proxy.stats()
    assert drops.drops == []
    assert stats["faulted"] == 7
    # Four batches of 25 events, and every lost answer cost one batch sent twice.
    assert stats["forwarded"] == 4 + 3
    assert lake_counts(ids) == (100, 100)


def test_events_queued_at_exit_are_delivered_before_the_interpreter_exits(s3, tmp_path) -> None:
    script = textwrap.dedent("""
        import sys
        from driftless import Client
        client = Client(sys.argv[1], flush_interval=3600, batch_size=100, gzip=False)
        for i in range(300):
            print(client.track("page_viewed", {"path": f"/exit/{i}"}, anonymous_id="py-exit"))
        # No flush and no shutdown: the atexit hook drains the queue.
    """)
    out = subprocess.run([sys.executable, "-c", script, ENDPOINT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ids = out.stdout.split()
    assert len(ids) == 300
    assert lake_counts(ids) == (300, 300)
