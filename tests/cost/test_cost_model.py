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
    system_log_level="WARN",
    function_log_bytes_per_request=1300,
    ingest_events_per_second_one_core=139_774,
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
    # the function's 1,300 B and the access log's 330 B; no platform lines at SystemLogLevel WARN
    assert r.lines["CloudWatch Logs ingestion"] == pytest.approx(100_000 * 1630 / 2**30 * 0.50)
    assert r.lines["CloudFront (custom domain of the URL)"] == 0
    assert r.total == pytest.approx(sum(r.lines.values()))


def test_the_log_parts_add_up_to_the_former_2000_byte_assumption():
    # The HTTP API at SystemLogLevel INFO logs what the single 2,000 B figure assumed before.
    assert cm.log_bytes_per_request(replace(BASE, system_log_level="INFO")) == 2000
    assert cm.log_bytes_per_request(replace(BASE, system_log_level="DEBUG")) == 2000
    assert cm.log_bytes_per_request(BASE) == 2000 - 370
    assert cm.log_bytes_per_request(replace(BASE, endpoint_type="FunctionUrl")) == 1300


def test_the_function_url_pays_no_api_gateway_and_no_access_log():
    api = cm.model(replace(BASE, events_per_request=20))
    url = cm.model(replace(BASE, events_per_request=20, endpoint_type="FunctionUrl"))
    assert url.lines["API Gateway HTTP API requests"] == 0 and url.apigw_billed_requests == 0
    assert api.lines["API Gateway HTTP API requests"] == pytest.approx(0.05)
    assert api.lines["CloudWatch Logs ingestion"] - url.lines["CloudWatch Logs ingestion"] == pytest.approx(50_000 * 330 / 2**30 * 0.50)
    same = [k for k in api.lines if k not in ("API Gateway HTTP API requests", "CloudWatch Logs ingestion")]
    assert all(api.lines[k] == pytest.approx(url.lines[k]) for k in same)
    # an API custom domain costs nothing more
    assert cm.model(replace(BASE, events_per_request=20, custom_domain=True)).total == pytest.approx(api.total)


def test_cloudfront_in_front_of_the_url_bills_requests_bodies_and_responses():
    r = cm.model(replace(BASE, events_per_request=20, endpoint_type="FunctionUrl", custom_domain=True))
    body = 20 * 400 + 40
    assert r.lines["CloudFront (custom domain of the URL)"] == pytest.approx(50_000 * 1.00 / 1e6 + 50_000 * body / 2**30 * 0.020)
    assert r.lines["Data transfer out (responses)"] == pytest.approx(50_000 * 350 / 2**30 * 0.085)


def test_an_unknown_endpoint_type_is_refused():
    with pytest.raises(ValueError, match="endpoint_type must be one of HttpApi, FunctionUrl"):
        cm.model(replace(BASE, endpoint_type="RestApi"))


def test_the_goal_line_gives_the_log_bytes_that_meet_it():
    at = replace(BASE, endpoint_type="FunctionUrl", events_per_request=20)
    allowed = cm.log_bytes_for(cm.GOAL_PER_MILLION, at)
    assert 0 < allowed < 10_000
    most = math.floor(allowed)  # the largest whole number of bytes that meets the goal
    assert cm.model(replace(at, function_log_bytes_per_request=most)).total <= cm.GOAL_PER_MILLION
    assert cm.model(replace(at, function_log_bytes_per_request=most + 1)).total > cm.GOAL_PER_MILLION
    assert f", met with 0 B of function logs a request (met up to {allowed:,.0f} B)" in cm.goal(
        replace(BASE, function_log_bytes_per_request=0))
    assert f", not met with {most + 1:,} B" in cm.goal(replace(BASE, function_log_bytes_per_request=most + 1))


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


def _template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506


def test_defaults_come_from_the_template():
    tpl = _template()
    params = tpl["Parameters"]
    for name in ("IngestMemorySize", "CompactMemorySize", "EventsBufferIntervalSecs", "EventsBufferSizeMb", "CompactTargetFileMb"):
        assert cm.template_default(name, -1) == params[name]["Default"], name
    assert cm.Params().ingest_memory_mb == params["IngestMemorySize"]["Default"]
    assert cm.template_default("NoSuchParameter", 7) == 7
    level = tpl["Resources"]["IngestFunction"]["Properties"]["LoggingConfig"]["SystemLogLevel"]
    assert cm.template_system_log_level() == cm.Params().system_log_level == level


@pytest.mark.parametrize("endpoint", cm.ENDPOINT_TYPES)
def test_alarm_metrics_are_counted_for_each_endpoint_type(endpoint):
    watched = 0
    for res in _template()["Resources"].values():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        if res.get("Condition") == "IsHttpApi" and endpoint != "HttpApi":
            continue
        metrics = res["Properties"].get("Metrics")
        watched += sum("MetricStat" in m for m in metrics) if metrics else 1
    assert cm.alarm_metrics(endpoint) == watched
    assert watched >= 15


def test_the_table_shows_both_endpoint_types_at_10_and_20_events_a_request(capsys):
    cm.main([])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("per 1,000,000 events"))
    assert header.split()[3:] == ["HttpApi", "10", "HttpApi", "20", "FunctionUrl", "10", "FunctionUrl", "20"]
    assert "us-east-1" in out and "list prices to be checked" in out
    assert "firehose_latency_ms=20.0" in out  # the assumptions are stated, not hidden
    assert "function_log_bytes_per_request=16" in out and "access_log_bytes_per_request=330" in out
    assert "Goal: at most $0.05 per million events at 20 events/request on the function URL" in out
    assert "Fixed monthly costs with FunctionUrl" in out


def test_a_custom_domain_column_is_marked(capsys):
    cm.main(["--endpoint-type", "FunctionUrl", "--custom-domain", "--events-per-request", "20"])
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("per 1,000,000 events"))
    assert header.split()[3:] == ["FunctionUrl+CF", "20"]
