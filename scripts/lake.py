"""The lake from Python: invoke the functions that `cargo lambda watch` serves, and read the lake's
Delta tables with DuckDB (its delta and httpfs extensions, which the PyPI packages
duckdb-ext-delta and duckdb-ext-httpfs ship for DuckDB 1.4.4: DuckDB cannot download them here),
on the local stack's S3 (moto), on AWS, or in a local directory laid out like the bucket. Used by
`make demo`, the report, the end-to-end tests and the tests of the clients (also through
`python scripts/lake.py sql "..."`, for tests in other languages).

`duckdb_connect()` opens DuckDB ready for the lake; `delta_views(con, root)` names the two tables
`events` and `quarantine` in it; `attach(con)` does that for the local stack's bucket.
"""

from __future__ import annotations

import json
import os
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


def raw_keys(s3, table: str, day: str) -> list[str]:
    """The raw objects of an arrival day still in the bucket (not compacted yet)."""
    prefix = f"raw/{table}/{day.replace('-', '/')}/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def extension_directory() -> Path:
    """Where the PyPI packages duckdb-ext-delta and duckdb-ext-httpfs put their extensions. DuckDB
    cannot download extensions here, and these are built for the pinned DuckDB version."""
    import duckdb_ext  # a namespace package: it has __path__, no __file__

    for base in duckdb_ext.__path__:
        if (Path(base) / "extensions").is_dir():
            return Path(base) / "extensions"
    raise LookupError("duckdb_ext ships no extensions directory: pip install duckdb-ext-delta duckdb-ext-httpfs")


def duckdb_connect(s3_endpoint: str | None = None, region: str | None = None, *, s3: bool = True):
    """A DuckDB connection set up for the lake: the `delta` and `httpfs` extensions loaded from the
    PyPI packages, the session in UTC (so `CAST("timestamp" AS DATE)` is the UTC day, as in
    Athena), and an S3 secret with the credentials boto3 finds (environment, profile, SSO, role).

    `s3_endpoint` (default: $AWS_ENDPOINT_URL) points S3 at a local server such as moto's: path-style
    URLs, and plain HTTP when the endpoint is http://. `s3=False` is for a lake in a local
    directory: no httpfs, no credentials (a third of a second less to open)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{sql_text(str(extension_directory()))}'")
    con.execute("LOAD delta")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if not s3:
        return con
    import boto3

    con.execute("LOAD httpfs")
    session = boto3.Session()
    # Option values as SQL: strings quoted, booleans bare.
    secret = {"TYPE": "s3", "REGION": repr_sql(region or session.region_name or "us-east-1")}
    credentials = session.get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        secret["KEY_ID"], secret["SECRET"] = repr_sql(frozen.access_key), repr_sql(frozen.secret_key)
        if frozen.token:
            secret["SESSION_TOKEN"] = repr_sql(frozen.token)
    endpoint = s3_endpoint if s3_endpoint is not None else os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        secret["ENDPOINT"] = repr_sql(host.rstrip("/"))
        secret["URL_STYLE"] = "'path'"
        secret["USE_SSL"] = "true" if scheme == "https" else "false"
    con.execute("CREATE OR REPLACE SECRET lake (" + ", ".join(f"{k} {v}" for k, v in secret.items()) + ")")
    return con


def table_uri(table: str, root: str = f"s3://{BUCKET}") -> str:
    return f"{root.rstrip('/')}/lake/{table}"


def delta_views(con, root: str, tables: tuple[str, ...] = TABLES) -> None:
    """Creates one DuckDB view per lake table (`events`, `quarantine`) over the table's current
    version (`delta_scan`: only committed files), with its string partition column `dt`. `root`
    is `s3://<bucket>` or a directory laid out like the bucket (`<root>/lake/events/_delta_log/`).
    Everything that reads the lake goes through here, so a change of the table format changes
    this function only."""
    for table in tables:
        location = table_uri(table, root)
        try:
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM delta_scan({repr_sql(location)})")
            con.execute(f"SELECT count(*) FROM {table}").fetchone()
        except Exception as e:  # DuckDB raises IOException, InvalidInputException... for a missing table
            # DuckDB's message runs to several lines with a caret under the path; its first says why.
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise LookupError(f"{location} is not a Delta table: compact the lake first ({reason})") from e


def day_files(con, root: str, table: str) -> dict[str, list[list]]:
    """The data files of each arrival day of a lake table in its current version, as the Delta
    log lists them: `{dt: [[file, rows, bytes, modified], ...]}`, files by their path inside the
    table, `modified` as ISO text. Reads the log, the files' footers and their sizes and times (a
    HEAD request each on S3), not their rows."""
    location = table_uri(table, root)
    rows = con.execute(f"SELECT dt, filename, count(*) FROM delta_scan({repr_sql(location)}, filename = true) "
                       "GROUP BY ALL ORDER BY ALL").fetchall()
    stats: dict[str, tuple[int, str]] = {}
    if rows:
        listed = ", ".join(repr_sql(filename) for _, filename, _ in rows)
        # read_blob reads no content when only these columns are asked for.
        for filename, size, modified in con.execute(
                f"SELECT filename, size, CAST(last_modified AS VARCHAR) FROM read_blob([{listed}])").fetchall():
            stats[filename] = (size, modified)
    out: dict[str, list[list]] = {}
    for dt, filename, count in rows:
        out.setdefault(dt, []).append([filename.removeprefix(location).lstrip("/"), count, *stats[filename]])
    return out


def attach(con, tables: tuple[str, ...] = TABLES) -> None:
    """`delta_views` over the local stack's bucket."""
    delta_views(con, f"s3://{BUCKET}", tables)


def sql_text(s: str) -> str:
    return s.replace("'", "''")


def repr_sql(s: str) -> str:
    """A SQL string literal."""
    return "'" + sql_text(s) + "'"


def main() -> None:
    """`python scripts/lake.py sql "<query>"`: runs one DuckDB query over the local stack's lake
    (views `events` and `quarantine`, see `attach`) and prints the rows as a JSON array of objects."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("sql")
    q.add_argument("query")
    args = p.parse_args()
    con = duckdb_connect()
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
