"""Shared pieces of the HTTP-level tests, which talk to the local stack started by `make test`."""

import os
import urllib.request

import pytest

ENDPOINT = os.environ.get("DRIFTLESS_ENDPOINT", "http://127.0.0.1:9000/lambda-url/ingest/v1/batch")
# The local stack's server key (scripts/stack.sh, Makefile).
SERVER_KEY = os.environ.get("DRIFTLESS_KEY", "dk_local_server")


@pytest.fixture(scope="session")
def endpoint() -> str:
    body = b'{"sent_at":"2026-01-01T00:00:00.000Z","events":[]}'
    req = urllib.request.Request(ENDPOINT, data=body, headers={"content-type": "application/json", "x-driftless-key": SERVER_KEY})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except OSError as e:
        pytest.fail(f"ingest is not answering at {ENDPOINT} ({e}): run `make stack-up`")
    return ENDPOINT
