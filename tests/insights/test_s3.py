"""DuckDB on `s3://`: the known-answer lake uploaded to the local stack's S3 (moto, at
AWS_ENDPOINT_URL) answers every insight query exactly as the local copy does, and the report
reads it with --bucket."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import duckdb
import insights
import lake
import pytest

REPORT = Path(__file__).resolve().parents[2] / "scripts" / "report.py"

RANGE = {"from_day": "2026-11-02", "to_day": "2026-11-22"}
FUNNEL = {"steps": "page_viewed,product_viewed,cart_item_added,checkout_completed", "window_seconds": 172_800}


@pytest.fixture(scope="module")
def bucket(lake_root: Path) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        pytest.fail("AWS_ENDPOINT_URL is not set: start the local stack (make stack-up) and export it")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))
    name = f"insights-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for path in sorted((lake_root / "lake").rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), name, path.relative_to(lake_root).as_posix())
    return name


@pytest.fixture(scope="module")
def s3_con(bucket: str) -> duckdb.DuckDBPyConnection:
    con = lake.duckdb_connect()
    lake.delta_views(con, f"s3://{bucket}")
    insights.create_views(con)
    return con


def test_duckdb_reads_the_delta_tables_on_s3(s3_con):
    # 29 events of people and 3 of bots (tests/insights/lake_fixture.py).
    assert s3_con.execute("SELECT count(*), count(DISTINCT dt) FROM events").fetchone() == (32, 10)
    assert s3_con.execute("SELECT count(*) FROM quarantine").fetchone() == (4,)


@pytest.mark.parametrize("name", ["events_per_day", "active_users", "retention", "revenue", "quality_verdicts",
                                  "quality_completeness", "quality_freshness", "quality_bots", "funnel"])
def test_every_query_answers_on_s3_as_on_the_local_copy(s3_con, con, name):
    params = RANGE | (FUNNEL if name == "funnel" else {})
    assert insights.run(s3_con, name, **params) == insights.run(con, name, **params)


def test_the_views_answer_on_s3_as_on_the_local_copy(s3_con, con):
    for view in insights.VIEWS:
        query = f"SELECT * FROM {view} ORDER BY ALL"
        assert s3_con.execute(query).fetchall() == con.execute(query).fetchall(), view


def test_the_report_reads_the_bucket(bucket: str, tmp_path: Path):
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, str(REPORT), "--bucket", bucket, "--from", "2026-11-02", "--to", "2026-11-22",
                           "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "29 events, 2026-11-02 to 2026-11-22" in done.stdout
    assert out.read_text(encoding="utf-8").count('class="chart"') == 9
