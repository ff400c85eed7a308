"""Erasure on the local stack, through the compaction function's `{"erase": ...}`: a person whose
events span three arrival days (two compacted, one still raw; accepted and quarantined), with an
identify linking two anonymous ids, is erased by user id. Afterwards the `deltalake` reader finds
none of their rows in any table version it can still read, DuckDB none in the current one, no raw
object holds them, and another person's rows are exactly as before."""

import hashlib
import json
import secrets
from datetime import datetime, timedelta, timezone

import lake
from test_compaction import delta_table, duckdb_lake

TODAY = datetime.now(timezone.utc).date()
DAYS = [(TODAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]


def stored_event(event_id: str, day: str, anon: str, user: str | None, seq: int) -> dict:
    """An event line as the ingest function stores it."""
    ts = f"{day}T10:00:{seq % 60:02d}.000Z"
    return {
        "event_id": event_id, "event_type": "page_viewed", "schema_version": "1-0-0",
        "timestamp": ts, "client_timestamp": ts, "sent_at": ts, "received_at": f"{day}T10:01:00.000Z",
        "anonymous_id": anon, "user_id": user, "session_id": "s-" + anon, "seq": seq,
        "context": {"page": {"url": f"https://shop.example/{event_id}"}}, "properties": {"n": seq},
        "user_agent": "UA", "ip": None,
    }


def stored_rejection(event_id: str, day: str, raw: dict) -> dict:
    return {
        "received_at": f"{day}T12:00:00.000Z", "sent_at": f"{day}T12:00:00.000Z", "index": 0,
        "event_id": event_id, "event_type": "product_viewed", "schema_version": "1-0-0",
        "reason": "properties", "errors": [{"path": "/properties/price", "message": "must be a number"}],
        "user_agent": None, "ip": None, "raw": raw,
    }


def put_raw(s3, table: str, day: str, hour: int, lines: list[dict]) -> None:
    key = f"raw/{table}/{day.replace('-', '/')}/{hour:02d}/erase-e2e-{secrets.token_hex(4)}"
    s3.put_object(Bucket=lake.BUCKET, Key=key, Body="".join(json.dumps(line) + "\n" for line in lines).encode())


def rows_of(table, ids: set[str]) -> list[dict]:
    """The rows of a pyarrow table that name any of `ids` (quarantine: anywhere in the raw event)."""
    out = []
    for row in table.to_pylist():
        text = json.dumps(row, default=str)
        if any(f'"{i}"' in text or f'\\"{i}\\"' in text for i in ids):
            out.append(row)
    return out


def checksum(rows: list[dict]) -> tuple[int, str]:
    lines = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_erase_by_user_id_removes_the_person_from_every_readable_version_and_keeps_everyone_else(s3):
    tag = secrets.token_hex(4)
    user, anon_1, anon_2 = f"erase-user-{tag}", f"erase-anon-1-{tag}", f"erase-anon-2-{tag}"
    person = {user, anon_1, anon_2}
    other = f"keep-anon-{tag}"
    mine = {  # day index: the person's (anonymous id, user id) events
        0: [(anon_1, None), (anon_1, None), (anon_1, user)],  # browses, then signs in (identify)
        1: [(anon_2, None), (anon_2, user)],  # a second device
        2: [(anon_1, user)],  # still raw when the request comes
    }
    for n, day in enumerate(DAYS):
        events = [stored_event(f"keep-{tag}-{n}-{i}", day, other, None, n * 100 + i) for i in range(20)]
        events += [stored_event(f"p-{tag}-{n}-{i}", day, a, u, 900 + i) for i, (a, u) in enumerate(mine[n])]
        put_raw(s3, "events", day, 10, events[: len(events) // 2])
        put_raw(s3, "events", day, 11, events[len(events) // 2:])
        put_raw(s3, "quarantine", day, 12, [
            stored_rejection(f"pq-{tag}-{n}", day, {"anonymous_id": anon_1 if n != 1 else anon_2, "properties": {}}),
            stored_rejection(f"kq-{tag}-{n}", day, {"anonymous_id": other, "properties": {}}),
        ])
        if n < 2:
            lake.invoke("compact", {"date": day})
    lake.invoke("compact", {"optimize": DAYS[1]})

    others_before = {t: checksum(rows_of(delta_table(t).to_pyarrow_table(), {other})) for t in lake.TABLES}
    assert others_before["events"][0] == 40, "the other person's two compacted days"
    assert rows_of(delta_table("events").to_pyarrow_table(), person), "the person is in the lake"

    answer = lake.invoke("compact", {"erase": {"user_ids": [user], "requested_by": f"e2e-{tag}"}})
    erasure = answer["erasure"]
    assert erasure["verified"], erasure
    assert answer["erasure_request"] in erasure["done"]
    assert erasure["linked_anonymous_ids"] >= 2

    # No version that can still be read holds a row of the person.
    for table in lake.TABLES:
        latest = delta_table(table).version()
        readable = 0
        for version in range(latest + 1):
            dt = delta_table(table)
            try:
                dt.load_as_version(version)
                data = dt.to_pyarrow_table()
            except Exception:  # a file of that version is gone: vacuumed or erased
                continue
            readable += 1
            assert not rows_of(data, person), f"{table} v{version} holds the person"
        assert readable >= 1, f"{table}: the current version is readable"

    con = duckdb_lake()
    found = con.execute(
        "SELECT count(*) FROM events WHERE anonymous_id IN (?, ?) OR user_id = ?", [anon_1, anon_2, user]
    ).fetchone()[0]
    assert found == 0
    for i in person:
        assert con.execute("SELECT count(*) FROM quarantine WHERE strpos(raw, ?) > 0", [i]).fetchone()[0] == 0

    # Everyone else is intact: the other person's compacted rows as before, and day 3's added.
    after = {t: rows_of(delta_table(t).to_pyarrow_table(), {other}) for t in lake.TABLES}
    for t in lake.TABLES:
        old_days = [r for r in after[t] if str(r["dt"]) != DAYS[2]]
        assert checksum(old_days) == others_before[t], t
    assert len(after["events"]) == 60 and len(after["quarantine"]) == 3
    duck = con.execute("SELECT count(*) FROM events WHERE anonymous_id = ?", [other]).fetchone()[0]
    assert duck == 60

    # No raw object holds them (day 3's were compacted without their rows, then deleted).
    for table in lake.TABLES:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=lake.BUCKET, Prefix=f"raw/{table}/"):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=lake.BUCKET, Key=o["Key"])["Body"].read()
                assert not any(i.encode() in body for i in person), o["Key"]

    # The request is done and its report is the proof.
    request = json.loads(s3.get_object(Bucket=lake.BUCKET,
                                       Key=f"erasure/requests/{answer['erasure_request']}.json")["Body"].read())
    assert request["status"] == "done" and request["requested_by"] == f"e2e-{tag}"
    assert set(request["linked_anonymous_ids"]) == {anon_1, anon_2}
    report = json.loads(s3.get_object(Bucket=lake.BUCKET, Key=request["report"])["Body"].read())
    last = report["runs"][-1]
    assert last["verified"]
    removed = {t["table"]: sum(d["rows_removed"] for d in t["days"]) for t in last["tables"]}
    assert removed["events"] >= 5 and removed["quarantine"] >= 2, removed
