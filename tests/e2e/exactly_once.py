"""Runs compaction on today's arrivals through the local stack and counts given events in the
lake's events table, read through scripts/lake.py: `(rows, distinct event ids)` is `(n, n)` when
each arrived exactly once."""

from datetime import datetime, timezone

import lake


def lake_counts(ids: list[str]) -> tuple[int, int]:
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lake.invoke("compact", {"date": today})
    con = lake.duckdb_connect()
    lake.attach(con, ("events",))
    con.execute("CREATE TEMP TABLE mine (event_id VARCHAR)")
    con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in ids])
    n, distinct = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM events JOIN mine USING (event_id)").fetchone()
    return n, distinct
