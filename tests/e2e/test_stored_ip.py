"""What the default IP policy (`drop`) stores, against what docs/wire-format.md says it stores:
a record and a quarantine record sent through the real ingest function, read back from raw/."""

import json
from pathlib import Path

import lake
from test_compaction import TODAY, event, post

WIRE_FORMAT = Path(__file__).resolve().parents[2] / "docs" / "wire-format.md"


def raw_lines(s3, table: str, anon: str) -> list[dict]:
    lines = []
    for key in lake.raw_keys(s3, table, TODAY):
        for line in s3.get_object(Bucket=lake.BUCKET, Key=key)["Body"].read().splitlines():
            record = json.loads(line)
            if anon in (record.get("anonymous_id"), (record.get("raw") or {}).get("anonymous_id")):
                lines.append(record)
    return lines


def test_a_dropped_ip_is_stored_as_null_as_the_wire_format_says(s3):
    anon = "anon-ip-" + event("x", 0)["event_id"]
    bad = event(anon, 1, price="not a number")
    assert post([event(anon, 0), bad])["accepted"] == 1
    (stored,) = raw_lines(s3, "events", anon)
    (quarantined,) = raw_lines(s3, "quarantine", anon)
    for record in (stored, quarantined):
        assert "ip" in record and record["ip"] is None, record
    assert '`drop` (default: the field is there, `"ip": null`)' in WIRE_FORMAT.read_text(encoding="utf-8")
