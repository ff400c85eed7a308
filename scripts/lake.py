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


def committed_days(s3, table: str) -> list[str]:
    """The days of a lake table that have a commit."""
    days = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"lake/{table}/", Delimiter="/"):
        for p in page.get("CommonPrefixes", []):
            name = p["Prefix"].rstrip("/").rsplit("/", 1)[1]
            if name.startswith("dt="):
                days.append(name[3:])
    return sorted(days)


def attach(con, s3, dest: Path, tables: tuple[str, ...] = ("events", "quarantine")) -> None:
    """Creates one DuckDB view per lake table (`events`, `quarantine`) over exactly what the lake
    has committed, with its `dt` column. Everything that reads the local lake goes through here,
    so a change of the table format changes this function only."""
    for table in tables:
        files = []
        for day in committed_days(s3, table):
            files += download_committed(s3, table, day, dest / table)
        if files:
            listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true)")
        else:
            raise LookupError(f"lake/{table}/ has no committed day yet: run compaction first")


def main() -> None:
    """`python scripts/lake.py sql "<query>"`: runs one DuckDB query over the committed lake (views
    `events` and `quarantine`, see `attach`) and prints the rows as a JSON array of objects. For
    tests written in other languages, which read the lake through this one place."""
    import argparse
    import tempfile

    import boto3
    import duckdb

    p = argparse.ArgumentParser(description=main.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("sql")
    q.add_argument("query")
    args = p.parse_args()
    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
                      region_name=os.environ.get("AWS_REGION", "us-east-1"))
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as tmp:
        for table in ("events", "quarantine"):
            try:
                attach(con, s3, Path(tmp), (table,))
            except LookupError:
                pass  # a query that names the missing table fails with DuckDB's own message
        cur = con.execute(args.query)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    print(json.dumps(rows, default=str))


if __name__ == "__main__":
    main()
