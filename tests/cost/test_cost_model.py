"""Checks of scripts/cost_model.py (docs/cost.md): its arithmetic on hand-computed cases.

Run: .venv/bin/python -m pytest tests/cost -q
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cost_model.py"


def _load():
    spec = importlib.util.spec_from_file_location("cost_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cost_model"] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


cm = _load()

# Fixed inputs, so the hand computations below do not move with template.yaml's defaults.
BASE = cm.Params(
    ingest_memory_mb=128,
    compact_memory_mb=3008,
    events_buffer_interval_s=300,
    events_buffer_mb=64,
    lake_target_file_mb=256,
)


@pytest.mark.parametrize(
    ("record", "billed"),
    [(1, 5120), (4096, 5120), (5120, 5120), (5121, 10240), (6144, 10240), (24150, 25600), (0, 0)],
)
def test_firehose_rounds_each_record_up_to_5_kb(record, billed):
    # A 4 KB record is billed as 5 KB, a 6 KB one as 10 KB.
    assert cm.firehose_billed_bytes(record) == billed


def test_packing_fills_records_up_to_1000_kib():
    assert cm.pack(10, 483, 1000 * 1024) == [4830]
    per_record = 1000 * 1024 // 483  # 2,120 lines of 483 bytes fit one record
    assert cm.pack(3000, 483, 1000 * 1024) == [per_record * 483, (3000 - per_record) * 483]


def test_ten_events_a_request_by_hand():
    r = cm.model(replace(BASE, events_per_request=10))
    assert r.requests == 100_000
    # one record of 10 x 483 = 4,830 bytes, billed as 5,120
    assert (r.records_per_request, r.record_bytes, r.billed_record_bytes) == (1, 4830, 5120)
    assert r.lines["Firehose ingestion (5 KB rounding)"] == pytest.approx(100_000 * 5120 / 2**30 * 0.029)
    assert r.lines["API Gateway HTTP API requests"] == pytest.approx(0.10)
    assert r.lines["Lambda ingest: requests"] == pytest.approx(0.02)
    # CPU: 10 / 139,774 s + 0.3 ms, at 128/1769 of a vCPU, plus 20 ms for Firehose -> 26 ms billed
    cpu_ms = 10 / 139_774 * 1000 + 0.3
    assert r.billed_ms == math.ceil(cpu_ms / (128 / 1769) + 20) == 26
    assert r.lines["Lambda ingest: duration (GB-s)"] == pytest.approx(100_000 * 0.125 * 0.026 * 0.0000133334)
    assert r.lines["CloudWatch Logs ingestion"] == pytest.approx(100_000 * 2000 / 2**30 * 0.50)
    assert r.total == pytest.approx(sum(r.lines.values()))


def test_unpacked_events_would_pay_the_rounding_ten_times():
    one = cm.model(replace(BASE, events_per_request=1))
    ten = cm.model(replace(BASE, events_per_request=10))
    key = "Firehose ingestion (5 KB rounding)"
    # 1,000,000 records of 483 B billed as 5 KB each, against 100,000 records of 4,830 B
    assert one.lines[key] == pytest.approx(10 * ten.lines[key])


def test_fifty_events_a_request_cost_less_per_event_than_ten():
    ten = cm.model(replace(BASE, events_per_request=10))
    fifty = cm.model(replace(BASE, events_per_request=50))
    assert fifty.per_event < ten.per_event
    assert fifty.lines["API Gateway HTTP API requests"] == pytest.approx(ten.lines["API Gateway HTTP API requests"] / 5)


def test_quarantined_events_add_a_record():
    clean = cm.model(replace(BASE, events_per_request=10))
    dirty = cm.model(replace(BASE, events_per_request=10, quarantine_share=0.1))
    key = "Firehose ingestion (5 KB rounding)"
    assert dirty.lines[key] > clean.lines[key]
    # every event rejected: no events record, one quarantine record of 10 x 900 bytes per request
    allbad = cm.model(replace(BASE, events_per_request=10, quarantine_share=1.0))
    assert allbad.expected_billed_bytes == cm.firehose_billed_bytes(9000) == 10240
    assert allbad.lines[key] == pytest.approx(100_000 * 10240 / 2**30 * 0.029)
    # one event in two rejected, two events a request: both records with probability 1/2, one
    # events record or one quarantine record with 1/4 each; every record is billed as 5,120 bytes
    half = cm.model(replace(BASE, events_per_request=2, quarantine_share=0.5))
    assert half.expected_billed_bytes == pytest.approx(0.5 * 10240 + 0.25 * 5120 + 0.25 * 5120)


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_defaults_come_from_the_template():
    params = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CfnLoader)["Parameters"]  # noqa: S506
    for name in ("IngestMemorySize", "CompactMemorySize", "EventsBufferIntervalSecs", "EventsBufferSizeMb", "CompactTargetFileMb"):
        assert cm.template_default(name, -1) == params[name]["Default"], name
    assert cm.Params().ingest_memory_mb == params["IngestMemorySize"]["Default"]
    assert cm.template_default("NoSuchParameter", 7) == 7


def test_the_table_shows_10_and_50_events_a_request(capsys):
    cm.main([])
    out = capsys.readouterr().out
    assert "10 ev/req" in out and "50 ev/req" in out
    assert "us-east-1" in out and "list prices to be checked" in out
    assert "firehose_latency_ms=20.0" in out  # the assumption is stated, not hidden
