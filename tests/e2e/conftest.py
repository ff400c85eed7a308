"""End-to-end tests on the local stack `make test` starts: the real ingest and compaction
functions under `cargo lambda watch`, moto's S3 and Firehose, DuckDB reading the lake."""

import os
import sys
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

# moto accepts any credentials; these keep the tests runnable outside `make`.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")

ENDPOINT = os.environ.get("DRIFTLESS_ENDPOINT", "http://127.0.0.1:9000/lambda-url/ingest/v1/batch")
# The local stack's source keys (scripts/stack.sh; the Makefile exports them).
SERVER_KEY = os.environ.get("DRIFTLESS_KEY", "dk_local_server")
SERVER_KEY_NEXT = os.environ.get("DRIFTLESS_KEY_NEXT", "dk_local_server_next")
WEB_KEY = os.environ.get("DRIFTLESS_WEB_KEY", "dk_local_web")
RETIRED_KEY = os.environ.get("DRIFTLESS_RETIRED_KEY", "dk_local_retired")
SHOP_ORIGIN = f"http://127.0.0.1:{os.environ.get('SHOP_PORT', '5173')}"


@pytest.fixture(scope="session")
def s3():
    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


@pytest.fixture(scope="session")
def firehose():
    return boto3.client("firehose", endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))
