"""The local lake from Python: invoke the compaction function that `cargo lambda watch` serves,
and fetch a committed day from moto's S3 for DuckDB. Used by `make demo` and the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

FUNCTIONS = os.environ.get("DRIFTLESS_FUNCTIONS_URL", "http://127.0.0.1:9000") + "/2015-03-31/functions"
BUCKET = os.environ.get("DRIFTLESS_BUCKET", "driftless-local")


def invoke(function: str, payload: dict, timeout: float = 900) -> dict:
    """Invokes a function through the emulator's Lambda Invoke API and returns its answer."""
    req = urllib.request.Request(f"{FUNCTIONS}/{function}/invocations",
                                 data=json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = json.load(resp)
    if isinstance(answer, dict) and "errorType" in answer:
        raise RuntimeError(f"{function} failed: {answer['errorType']}: {answer.get('errorMessage')}")
    return answer


def manifest(s3, table: str, day: str) -> dict | None:
    try:
        body = s3.get_object(Bucket=BUCKET, Key=f"lake/{table}/dt={day}/_manifest.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def download_committed(s3, table: str, day: str, dest: Path) -> list[Path]:
    """Downloads the parts the day's manifest lists into dest/dt=<day>/; returns their paths."""
    m = manifest(s3, table, day)
    out = []
    for part in (m or {}).get("parts", []):
        path = dest / f"dt={day}" / part["key"].rsplit("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(BUCKET, part["key"], str(path))
        out.append(path)
    return out


def raw_keys(s3, table: str, day: str) -> list[str]:
    prefix = f"raw/{table}/{day.replace('-', '/')}/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys
