"""The local lake from Python: invoke the functions that `cargo lambda watch` serves, and read the
lake's Delta tables on moto's S3 with DuckDB (its delta and httpfs extensions, which the PyPI
packages duckdb-ext-delta and duckdb-ext-httpfs ship for DuckDB 1.4.4: DuckDB cannot download
them here). Used by `make demo`, the end-to-end tests and the tests of the clients (also through
`python scripts/lake.py sql "..."`, for tests in other languages).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from pathlib import Path

FUNCTIONS = os.environ.get("DRIFTLESS_FUNCTIONS_URL", "http://127.0.0.1:9000") + "/2015-03-31/functions"
BUCKET = os.environ.get("DRIFTLESS_BUCKET", "driftless-local")
TABLES = ("events", "quarantine")


def invoke(function: str, payload: dict, timeout: float = 900) -> dict:
    """Invokes a function through the emulator's Lambda Invoke API and returns its answer."""
    req = urllib.request.Request(f"{FUNCTIONS}/{function}/invocations",
                                 data=json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = json.load(resp)
    if isinstance(answer, dict) and "errorType" in answer:
        raise RuntimeError(f"{function} failed: {answer['errorType']}: {answer.get('errorMessage')}")
    return answer


def extension_directory() -> str:
    """Where duckdb-ext-delta and duckdb-ext-httpfs put the extensions."""
    import duckdb_ext  # the namespace both packages install into

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def duckdb_connect(s3_endpoint: str | None = None):
    """A DuckDB connection with the delta and httpfs extensions loaded and, when `s3_endpoint`
    is given (moto locally: AWS_ENDPOINT_URL), an S3 secret for it."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET extension_directory = '{extension_directory()}'")
    con.execute("LOAD httpfs")
    con.execute("LOAD delta")
    if s3_endpoint:
        url = urllib.parse.urlparse(s3_endpoint)
        con.execute(
            "CREATE OR REPLACE SECRET moto (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, "
            "URL_STYLE 'path', USE_SSL ?)",
            [os.environ.get("AWS_ACCESS_KEY_ID", "test"), os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
             os.environ.get("AWS_REGION", "us-east-1"), url.netloc, url.scheme == "https"],
        )
    return con


def table_uri(table: str, bucket: str = BUCKET) -> str:
    return f"s3://{bucket}/lake/{table}"


def attach(con, tables: tuple[str, ...] = TABLES, bucket: str = BUCKET) -> None:
    """Creates one DuckDB view per lake table (`events`, `quarantine`) over the table's current
    version (`delta_scan`), with its `dt` column. Everything that reads the local lake goes
    through here, so a change of the table format changes this function only."""
    for table in tables:
        try:
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM delta_scan('{table_uri(table, bucket)}')")
            con.execute(f"SELECT count(*) FROM {table}").fetchone()
        except Exception as e:  # DuckDB raises IOException and friends for a missing table
            raise LookupError(f"{table_uri(table, bucket)} is not a Delta table yet: run compaction first ({e})") from e


def raw_keys(s3, table: str, day: str) -> list[str]:
    """The raw objects of an arrival day still in the bucket (not compacted yet)."""
    prefix = f"raw/{table}/{day.replace('-', '/')}/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def main() -> None:
    """`python scripts/lake.py sql "<query>"`: runs one DuckDB query over the lake (views `events`
    and `quarantine`, see `attach`) and prints the rows as a JSON array of objects."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("sql")
    q.add_argument("query")
    args = p.parse_args()
    con = duckdb_connect(os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    for table in TABLES:
        try:
            attach(con, (table,))
        except LookupError:
            pass  # a query that names the missing table fails with DuckDB's own message
    cur = con.execute(args.query)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    print(json.dumps(rows, default=str))


if __name__ == "__main__":
    main()
