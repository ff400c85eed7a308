"""Events through the real ingest function, then the real compaction function; DuckDB reads the
lake and finds every accepted event exactly once, with typed columns."""

import json
import secrets
import time
import urllib.request
from datetime import datetime, timezone

import duckdb
import lake
from conftest import ENDPOINT

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
    req = urllib.request.Request(ENDPOINT, data=body, headers={"content-type": "text/plain"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def compact_today() -> dict:
    answer = lake.invoke("compact", {"date": TODAY, "include_open_day": True})
    return {d["table"]: d for d in answer["days"]}


def lake_rows(s3, tmp_path, ids: set[str]):
    parts = lake.download_committed(s3, "events", TODAY, tmp_path)
    assert parts, "the manifest lists parts"
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{tmp_path}/dt=*/*.parquet', hive_partitioning = true)")
    con.execute("CREATE TEMP TABLE mine (event_id VARCHAR)")
    con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in ids])
    return con


def test_accepted_events_land_in_the_lake_exactly_once_with_types(s3, tmp_path):
    anon = "e2e-" + secrets.token_hex(4)
    events = [event(anon, i) for i in range(120)]
    bad = event(anon, 999, price="129.00")  # a string price: quarantined, not in the lake
    verdicts = [post(events[i:i + 30] + ([bad] if i == 0 else [])) for i in range(0, 120, 30)]
    assert sum(v["accepted"] for v in verdicts) == 120
    post(events[30:60])  # a retry after a lost response: the same event_ids again
    before = set(lake.raw_keys(s3, "events", TODAY))
    assert before, "Firehose (moto) wrote raw objects"

    report = compact_today()
    ev = report["events"]
    assert ev["outcome"] == "committed", ev
    assert ev["duplicates_dropped"] >= 30
    manifest = lake.manifest(s3, "events", TODAY)
    assert manifest is not None
    assert before <= {i["key"] for i in manifest["inputs"]}, "every raw object read is in the manifest"
    assert not (before & set(lake.raw_keys(s3, "events", TODAY))), "raw inputs deleted after the commit"

    ids = {e["event_id"] for e in events}
    con = lake_rows(s3, tmp_path, ids)
    n, distinct = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM events JOIN mine USING (event_id)").fetchone()
    assert (n, distinct) == (120, 120)
    assert con.execute("SELECT count(*) - count(DISTINCT event_id) FROM events").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM events WHERE event_id = ?", [bad["event_id"]]).fetchone()[0] == 0
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
    # Sorted by event_type, then timestamp, within each part.
    for part in manifest["parts"]:
        name = part["key"].rsplit("/", 1)[1]
        ordered = con.execute(
            f"SELECT bool_and(ok) FROM (SELECT (event_type, timestamp) >= lag((event_type, timestamp)) "
            f"OVER () OR lag(event_type) OVER () IS NULL AS ok FROM read_parquet('{tmp_path}/dt={TODAY}/{name}'))"
        ).fetchone()[0]
        assert ordered

    # The quarantined event is in the quarantine lake with its reason.
    q = report["quarantine"]
    assert q["outcome"] in ("committed", "nothing_to_do")
    qparts = lake.download_committed(s3, "quarantine", TODAY, tmp_path / "q")
    reason = con.execute(
        f"SELECT reason FROM read_parquet({[str(p) for p in qparts]}) WHERE event_id = ?", [bad["event_id"]]
    ).fetchone()
    assert reason == ("properties",)

    # Late delivery: a redelivery of committed events plus new ones, merged by the next run.
    late = [event(anon, i) for i in range(120, 140)]
    post(events[:10] + late)
    again = compact_today()["events"]
    assert again["outcome"] == "committed" and again["generation"] >= 2, again
    assert again["already_committed"] >= 10
    con = lake_rows(s3, tmp_path / "g2", ids | {e["event_id"] for e in late})
    n, distinct = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM events JOIN mine USING (event_id)").fetchone()
    assert (n, distinct) == (140, 140)
    assert con.execute("SELECT count(*) - count(DISTINCT event_id) FROM events").fetchone()[0] == 0


def test_a_repeated_compaction_request_is_harmless(s3):
    compact_today()
    m1 = lake.manifest(s3, "events", TODAY)
    report = compact_today()
    assert report["events"]["outcome"] == "nothing_to_do"
    assert lake.manifest(s3, "events", TODAY) == m1
