"""Events through the real ingest function, then several compaction runs and an optimize through
the real compaction function; two independent readers of the Delta tables (the Python
`deltalake` package and DuckDB's delta extension) find every accepted event exactly once, with
typed columns, and every rejected one in the quarantine table."""

import json
import os
import secrets
import time
import urllib.request
from datetime import datetime, timezone

import lake
from conftest import ENDPOINT, SERVER_KEY
from deltalake import DeltaTable

TODAY = datetime.now(timezone.utc).strftime("%Y-%m-%d")


def uuid7() -> str:
    ms = int(time.time() * 1000)
    r = secrets.token_bytes(10)
    h = f"{ms:012x}" + "7" + r[:2].hex()[1:] + f"{(r[2] & 0x3F) | 0x80:02x}" + r[3:10].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def event(anon: str, seq: int, **props) -> dict:
    return {
        "event_id": uuid7(), "event_type": "product_viewed", "schema_version": "1-0-0",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "anonymous_id": anon, "session_id": "s-" + anon, "seq": seq,
        "context": {"page": {"url": f"https://shop.example/p/{seq}"}, "screen": {"width": 390, "height": 844}},
        "properties": {"product_id": f"sku-{seq}", "name": "Trail runner", "price": 129.0, "currency": "EUR", **props},
    }


def post(events: list[dict]) -> dict:
    body = json.dumps({"sent_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                       "events": events}).encode()
    req = urllib.request.Request(ENDPOINT, data=body, headers={"content-type": "text/plain", "x-driftless-key": SERVER_KEY})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def run_compaction() -> dict:
    """One run, as the 15-minute schedule does it for today's objects."""
    answer = lake.invoke("compact", {"date": TODAY})
    return {a["table"]: a for a in answer["appends"]}


def delta_table(table: str) -> DeltaTable:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    return DeltaTable(lake.table_uri(table), storage_options={
        "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": os.environ["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
    })


def duckdb_lake():
    con = lake.duckdb_connect(os.environ["AWS_ENDPOINT_URL"])
    lake.attach(con)
    return con


def counts_in_both_readers(ids: set[str]) -> tuple[dict, dict]:
    """{event_id: copies} of `ids` as the deltalake reader and as DuckDB see the events table."""
    rows = delta_table("events").to_pyarrow_table(columns=["event_id"]).column("event_id").to_pylist()
    by_deltalake = {i: rows.count(i) for i in ids}
    con = duckdb_lake()
    con.execute("CREATE TEMP TABLE mine (event_id VARCHAR)")
    con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in ids])
    by_duckdb = dict.fromkeys(ids, 0) | dict(con.execute(
        "SELECT event_id, count(*) FROM events JOIN mine USING (event_id) GROUP BY 1").fetchall())
    return by_deltalake, by_duckdb


def test_runs_and_an_optimize_leave_every_event_once_for_both_readers(s3):
    anon = "e2e-" + secrets.token_hex(4)
    events = [event(anon, i) for i in range(120)]
    bad = event(anon, 999, price="129.00")  # a string price: quarantined, not in the events table
    ids = {e["event_id"] for e in events}

    # Three runs, as three 15-minute ticks with arrivals between them; the second batch is also
    # retried (a lost response) and arrives in the next run.
    verdict = post(events[:40] + [bad])
    assert verdict["accepted"] == 40 and verdict["rejected"][0]["event_id"] == bad["event_id"]
    before = set(lake.raw_keys(s3, "events", TODAY))
    assert before, "Firehose (moto) wrote raw objects"
    first = run_compaction()
    assert first["events"]["outcome"] == "committed", first
    assert not (before & set(lake.raw_keys(s3, "events", TODAY))), "raw inputs deleted after the commit"
    post(events[40:80])
    run_compaction()
    post(events[40:80] + events[80:120])
    third = run_compaction()["events"]
    assert third["outcome"] == "committed" and third["already_committed"] >= 40, third
    by_deltalake, by_duckdb = counts_in_both_readers(ids)
    assert set(by_deltalake.values()) == {1}, "deltalake: each event once"
    assert by_duckdb == by_deltalake, "DuckDB: each event once"

    # The optimize rewrites today's files into as few as their size needs, without changing data.
    files_before = len(delta_table("events").file_uris())
    optimized = {o["table"]: o for o in lake.invoke("compact", {"optimize": TODAY})["optimized"]}
    assert optimized["events"]["outcome"] == "optimized", optimized
    assert len(delta_table("events").file_uris()) < files_before
    history = delta_table("events").history(1)[0]
    assert history["operation"] == "OPTIMIZE"
    by_deltalake, by_duckdb = counts_in_both_readers(ids)
    assert set(by_deltalake.values()) == {1} and by_duckdb == by_deltalake

    # Typed columns, through the table.
    con = duckdb_lake()
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["received_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["seq"] == "BIGINT"
    assert types["screen_width"] == "INTEGER"
    assert types["properties"] == "VARCHAR"
    row = con.execute(
        "SELECT seq, page_url, screen_width, json_extract(properties, '$.price')::DOUBLE, dt::VARCHAR "
        "FROM events WHERE anonymous_id = ? AND seq = 7", [anon]).fetchone()
    assert row == (7, "https://shop.example/p/7", 390, 129.0, TODAY)
    arrow = delta_table("events").to_pyarrow_table(columns=["timestamp", "seq"])
    assert str(arrow.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert str(arrow.schema.field("seq").type) == "int64"

    # The rejected event is in the quarantine table with its reason, for both readers.
    reason = con.execute("SELECT reason FROM quarantine WHERE event_id = ?", [bad["event_id"]]).fetchall()
    assert reason == [("properties",)]
    q = delta_table("quarantine").to_pyarrow_table(columns=["event_id", "reason"]).to_pylist()
    assert {"event_id": bad["event_id"], "reason": "properties"} in q


def test_a_repeated_compaction_request_is_harmless(s3):
    run_compaction()
    version = delta_table("events").version()
    report = run_compaction()
    assert report["events"]["outcome"] == "nothing_to_do"
    assert delta_table("events").version() == version
