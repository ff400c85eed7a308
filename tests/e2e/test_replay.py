"""`driftless replay` on the local stack: after a schema fix, a quarantined event that the new
schema version accepts goes to the events stream and into the lake; the rest stays quarantined."""

import gzip
import json
import os
import secrets
import shutil
import subprocess

import lake
from conftest import ROOT
from test_compaction import TODAY, duckdb_lake, event, post, run_compaction

DRIFTLESS = ROOT / "target" / "debug" / "driftless"


def schemas_with_product_viewed_1_0_1(tmp_path):
    """The repository's schemas plus product_viewed 1-0-1, which adds an optional `color`."""
    root = tmp_path / "fixed"
    shutil.copytree(ROOT / "schema", root / "schema")
    schema = json.loads((ROOT / "schema" / "product_viewed" / "1-0-0.json").read_text())
    schema["$id"] = "driftless:product_viewed/1-0-1"
    schema["properties"]["color"] = {"type": "string", "maxLength": 32, "description": "Colour variant shown."}
    (root / "schema" / "product_viewed" / "1-0-1.json").write_text(json.dumps(schema, indent=2))
    return root


def raw_event_ids(s3) -> set[str]:
    ids = set()
    for key in lake.raw_keys(s3, "events", TODAY):
        body = s3.get_object(Bucket=lake.BUCKET, Key=key)["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        ids |= {json.loads(line)["event_id"] for line in body.splitlines() if line.strip()}
    return ids


def test_replay_forwards_what_a_later_schema_version_accepts_and_keeps_the_rest(s3, tmp_path):
    assert DRIFTLESS.exists(), f"{DRIFTLESS} is missing: `cargo test --workspace --no-run` builds it"
    anon = "replay-" + secrets.token_hex(4)
    # An SDK released before its schema: version 1-0-1 is unknown to the deployed function.
    early = event(anon, 1, color="red") | {"schema_version": "1-0-1"}
    broken = event(anon, 2, price="129.00")
    verdict = post([early, broken])
    assert verdict["accepted"] == 0
    assert {r["reason"] for r in verdict["rejected"]} == {"unknown_schema_version", "properties"}
    run_compaction()  # the two rejections move from raw/quarantine into the quarantine table
    late = event(anon, 3, color="blue") | {"schema_version": "1-0-1"}
    assert post([late])["accepted"] == 0  # still in raw/quarantine

    out = subprocess.run(
        [str(DRIFTLESS), "--root", str(schemas_with_product_viewed_1_0_1(tmp_path)), "replay",
         "--bucket", lake.BUCKET, "--date", TODAY],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    day = json.loads(out.stdout)["days"][0]
    assert day["forwarded"] >= 2, day
    assert day["still_invalid"].get("properties", 0) >= 1, day

    forwarded = raw_event_ids(s3)
    assert {early["event_id"], late["event_id"]} <= forwarded
    assert broken["event_id"] not in forwarded

    # Compacted, the replayed events are in the lake once, typed as 1-0-1; the broken one is not.
    run_compaction()
    con = duckdb_lake()
    rows = con.execute(
        "SELECT event_id, schema_version, json_extract_string(properties, '$.color') AS color "
        "FROM events WHERE anonymous_id = ? ORDER BY seq", [anon]).fetchall()
    assert rows == [(early["event_id"], "1-0-1", "red"), (late["event_id"], "1-0-1", "blue")]
    # The quarantine keeps every rejection, the replayed ones included, for the record.
    kept = {r[0] for r in con.execute("SELECT event_id FROM quarantine").fetchall()}
    assert {early["event_id"], broken["event_id"], late["event_id"]} <= kept

    # Replayed again (a second run of the tool), nothing lands twice.
    again = subprocess.run(
        [str(DRIFTLESS), "--root", str(schemas_with_product_viewed_1_0_1(tmp_path / "again")), "replay",
         "--bucket", lake.BUCKET, "--date", TODAY],
        capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    run_compaction()
    assert duckdb_lake().execute(
        "SELECT count(*) FROM events WHERE anonymous_id = ?", [anon]).fetchone() == (2,)
