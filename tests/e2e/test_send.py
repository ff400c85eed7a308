"""`driftless send` against the real local stack: a file with valid and invalid lines (offline
check, exit status, summary), an event the stack's schema does not know (rejected by the endpoint,
reported at its line), and a 503 storm through the fault proxy (retried; the lake has each event
exactly once). The lake is read through scripts/lake.py only."""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from conftest import ENDPOINT
from exactly_once import lake_counts

from driftless.uuid7 import uuid7

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from fault_proxy import FaultProxy  # noqa: E402

DRIFTLESS = Path(os.environ.get("DRIFTLESS_BIN", ROOT / "target" / "debug" / "driftless"))
UPSTREAM, PATH = ENDPOINT.split("/lambda-url/", 1)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(anon: str, seq: int, event_type: str = "page_viewed", **properties: object) -> dict:
    return {"event_id": uuid7(), "event_type": event_type, "schema_version": "1-0-0", "timestamp": now(),
            "anonymous_id": anon, "session_id": f"s-{anon}", "seq": seq,
            "properties": properties or {"path": f"/backfill/{seq}"}}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def send(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`driftless send` with plain bodies: cargo lambda's function URL emulator answers 500 to a
    body that is not UTF-8 (gzip is tested against a scripted endpoint in cli/tests/send.rs)."""
    assert DRIFTLESS.exists(), f"{DRIFTLESS} is missing: `cargo test --workspace --no-run` builds it (make test does)"
    return subprocess.run([str(DRIFTLESS), "--root", str(root), "send", "--no-gzip", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "DRIFTLESS_ENDPOINT": ENDPOINT})


def test_a_file_with_invalid_lines_is_refused_whole_unless_told_to_skip_them(s3, tmp_path) -> None:
    good = [event("send-mixed", i) for i in range(30)]
    bad = event("send-mixed", 30, "product_viewed", product_id="p", price="12", currency="EUR")
    lines = [json.dumps(e) for e in good[:10]] + [json.dumps(bad), "{not json"] + [json.dumps(e) for e in good[10:]]
    file = write(tmp_path / "mixed.ndjson", lines)

    refused = send(str(file))
    assert refused.returncode == 1
    assert refused.stdout.splitlines() == [
        f"{file}:11: event {bad['event_id']} (properties): /properties/price: must be a number, got string \"12\"",
        f"{file}:12: not valid JSON: key must be a string at line 1 column 2",
    ]
    assert "nothing was sent" in refused.stderr and "--skip-invalid to send the 30 valid event(s)" in refused.stderr

    sent = send(str(file), "--skip-invalid", "--batch-size", "7")
    assert sent.returncode == 1, sent.stderr
    assert "accepted         30" in sent.stderr and "invalid           2" in sent.stderr
    assert lake_counts([e["event_id"] for e in good] + [bad["event_id"]]) == (30, 30)


def test_an_event_the_endpoint_does_not_know_is_reported_at_its_line(s3, tmp_path) -> None:
    # schema/ here is ahead of the deployed one: coupon_applied passes offline, the stack rejects it.
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "schema", root / "schema")
    (root / "schema" / "coupon_applied").mkdir()
    (root / "schema" / "coupon_applied" / "1-0-0.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "driftless:coupon_applied/1-0-0",
        "title": "coupon_applied", "description": "A coupon was applied.", "type": "object",
        "properties": {"code": {"type": "string", "maxLength": 64, "description": "The code."}},
        "required": ["code"], "additionalProperties": False}))
    good = [event("send-unknown", i) for i in range(5)]
    new = event("send-unknown", 5, "coupon_applied", code="WINTER")
    file = write(tmp_path / "ahead.ndjson", [json.dumps(e) for e in good[:3] + [new] + good[3:]])

    out = send(str(file), root=root)
    assert out.returncode == 1
    [line] = out.stdout.splitlines()
    assert line.startswith(f"{file}:4: event {new['event_id']} (unknown_event_type): /event_type: unknown event type")
    assert "accepted          5" in out.stderr and "rejected          1" in out.stderr
    assert "deploy the current schema" in out.stderr
    assert lake_counts([e["event_id"] for e in good]) == (5, 5)


def test_a_503_storm_is_retried_and_the_lake_has_every_event_once(s3, tmp_path) -> None:
    events = [event("send-storm", i) for i in range(200)]
    file = write(tmp_path / "storm.ndjson", [json.dumps(e) for e in events])
    with FaultProxy(UPSTREAM) as proxy:
        proxy.arm([{"mode": "reject", "count": 3, "status": 503, "retry_after": "0"},
                   {"mode": "lose_response", "count": 2, "status": 503, "retry_after": "0"}])
        out = send(str(file), "--endpoint", f"{proxy.url}/lambda-url/{PATH}", "--batch-size", "50",
                   "--concurrency", "2")
        stats = proxy.stats()
    assert out.returncode == 0, out.stdout + out.stderr
    assert stats["faulted"] == 5
    assert "accepted        200" in out.stderr and "retried           5" in out.stderr
    # Four batches, two of them stored twice (their answers were lost): the lake keeps one copy.
    assert stats["forwarded"] == 4 + 2
    assert lake_counts([e["event_id"] for e in events]) == (200, 200)
