"""The Lambda event fixtures (tests/fixtures/events) handed to the real functions, as
`sam local invoke <Function> --event <fixture>` would hand them (docs/deploy.md): here through the
Lambda Invoke API of the local stack, which needs no Docker. tests/template/test_event_fixtures.py
checks that each fixture is what its trigger in template.yaml sends.
"""

import json
from pathlib import Path

import lake
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "events"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["apigw-v2-batch.json", "function-url-batch.json"])
def test_ingest_accepts_the_batch_of_each_endpoint_type(name):
    event = fixture(name)
    answer = lake.invoke("ingest", event)
    assert answer["statusCode"] == 200, answer
    sent = json.loads(event["body"])["events"]
    assert json.loads(answer["body"]) == {"accepted": len(sent), "rejected": []}
    # The fixture comes from a page on https://shop.example: the function answers its CORS.
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    assert headers["access-control-allow-origin"] in ("*", event["headers"]["origin"])


def test_compaction_runs_the_scheduled_invocation():
    report = lake.invoke("compact", fixture("scheduler.json"))
    # Everything new appended, closed days optimized, a vacuum a day; failures reported, not raised.
    assert set(report) >= {"appends", "optimized", "vacuumed", "failures", "lag_days"}, report
    assert report["failures"] == [], report
    assert [a["table"] for a in report["appends"]] == ["events", "quarantine"], report


def test_compaction_runs_the_on_demand_append():
    report = lake.invoke("compact", fixture("compact-date.json"))
    assert [a["table"] for a in report["appends"]] == ["events", "quarantine"], report
    assert report["failures"] == [], report


def test_compaction_runs_the_on_demand_optimize():
    payload = fixture("compact-optimize.json")
    report = lake.invoke("compact", payload)
    assert {o["date"] for o in report["optimized"]} == {payload["optimize"]}, report
    assert [o["table"] for o in report["optimized"]] == ["events", "quarantine"], report
