"""Compacts today through the local stack and counts given events in the committed lake, read
through scripts/lake.py: `(rows, distinct event ids)` is `(n, n)` when each arrived exactly once."""

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import lake


def lake_counts(s3, tmp_path: Path, ids: list[str]) -> tuple[int, int]:
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lake.invoke("compact", {"date": today, "include_open_day": True})
    con = duckdb.connect()
    lake.attach(con, s3, tmp_path, ("events",))
    con.execute("CREATE TEMP TABLE mine (event_id VARCHAR)")
    con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in ids])
    n, distinct = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM events JOIN mine USING (event_id)").fetchone()
    return n, distinct
