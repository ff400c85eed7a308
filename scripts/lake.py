"""The local lake from Python: invoke the compaction function that `cargo lambda watch` serves,
and fetch a committed day from moto's S3 for DuckDB. Used by `make demo` and the end-to-end tests.

`duckdb_connect()` opens DuckDB ready for the lake (Delta and S3 extensions, UTC, S3 credentials),
and `delta_views()` names the two Delta tables `events` and `quarantine` in it.
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
            # dt is a string, as in the Delta table and in Athena.
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet([{listed}], "
                        "hive_partitioning = true, hive_types = {'dt': VARCHAR})")
        else:
            raise LookupError(f"lake/{table}/ has no committed day yet: run compaction first")


# The lake's quarantine columns (shared/src/compact/table.rs), for a lake without that table yet.
QUARANTINE_COLUMNS = (
    ("event_id", "VARCHAR"), ("received_at", "TIMESTAMPTZ"), ("sent_at", "TIMESTAMPTZ"), ("index", "BIGINT"),
    ("event_type", "VARCHAR"), ("schema_version", "VARCHAR"), ("reason", "VARCHAR"), ("errors", "VARCHAR"),
    ("user_agent", "VARCHAR"), ("ip", "VARCHAR"), ("raw", "VARCHAR"), ("raw_truncated", "VARCHAR"), ("dt", "VARCHAR"),
)


def extension_directory() -> Path:
    """Where the PyPI packages duckdb-ext-delta and duckdb-ext-httpfs put their extensions. DuckDB
    cannot download extensions here, and these are built for the pinned DuckDB version."""
    import duckdb_ext  # a namespace package: it has __path__, no __file__

    for base in duckdb_ext.__path__:
        if (Path(base) / "extensions").is_dir():
            return Path(base) / "extensions"
    raise LookupError("duckdb_ext ships no extensions directory: pip install duckdb-ext-delta duckdb-ext-httpfs")


def duckdb_connect(s3_endpoint: str | None = None, region: str | None = None):
    """A DuckDB connection set up for the lake: the `delta` and `httpfs` extensions loaded from the
    PyPI packages, the session in UTC (so `CAST("timestamp" AS DATE)` is the UTC day, as in
    Athena), and an S3 secret with the credentials boto3 finds (environment, profile, SSO, role).

    `s3_endpoint` (default: $AWS_ENDPOINT_URL) points S3 at a local server such as moto's: path-style
    URLs, and plain HTTP when the endpoint is http://."""
    import boto3
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{sql_text(str(extension_directory()))}'")
    con.execute("LOAD delta")
    con.execute("LOAD httpfs")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
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


def delta_views(con, root: str) -> None:
    """Creates the views `events` and `quarantine` over the lake's Delta tables under `root`: a
    directory laid out like the bucket (`<root>/lake/events/_delta_log/...`) or `s3://<bucket>`.
    `dt` is the string partition column. A lake with no quarantine table yet gets an empty
    `quarantine` view with the table's columns; a lake with no events table is an error."""
    base = root.rstrip("/")
    for table in ("events", "quarantine"):
        location = f"{base}/lake/{table}"
        try:
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM delta_scan({repr_sql(location)})")
        except Exception as e:  # duckdb raises IOException, InvalidInputException... for a missing table
            if table == "events":
                raise LookupError(f"{location} is not a Delta table ({e}): compact the lake first") from e
            columns = ", ".join(f'CAST(NULL AS {ty}) AS "{name}"' for name, ty in QUARANTINE_COLUMNS)
            con.execute(f"CREATE OR REPLACE VIEW quarantine AS SELECT {columns} WHERE false")


def sql_text(s: str) -> str:
    return s.replace("'", "''")


def repr_sql(s: str) -> str:
    """A SQL string literal."""
    return "'" + sql_text(s) + "'"


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
