"""Day rollups of the lake: what the report needs of each arrival day (`dt`), computed once per
day and kept in a cache directory, so a report over 30 unchanged days reads a few million rollup
rows instead of scanning and joining 33 million events.

    con = lake.duckdb_connect(); lake.delta_views(con, root); insights.create_views(con)
    summary = rollups.refresh(con, root, Path("~/.cache/driftless/rollups").expanduser())
    con.execute("SELECT * FROM rollup_event_counts")

Each rollup is one Parquet file per arrival day, `<cache>/<lake>/<rollup>/dt=<day>/<key>.parquet`:
`<lake>` names the lake root, `<key>` is a fingerprint of the day's data files in both lake
tables (their names and row counts, as the Delta log lists them, and their sizes and modification
times) and of the rollups' version. Delta never reuses a data file's name (an append, an optimize
or an erasure writes new files); the size and time also catch a file rewritten in place under its
name (a restored backup, a hand-made lake), which Delta itself would not notice. The table's
version is not in the key: every append to one day makes a new version, and would summarise the
29 unchanged days again. So a day whose files are the same has the same rows: its rollups are read from the cache; a day
whose files changed gets new ones, computed over the changed days only, in one pass per rollup;
a day that left the lake (retention) is no longer read, and its files are removed.

The rollups, each with the arrival day `dt`:
- `event_counts`: events per event day, type and bot verdict (events per day, accepted per type);
- `browser_days`: per browser (anonymous_id), user_id and event day, a group number `g` and the
  first and last event (identity stitching, active users, retention);
- `browser_day_types`: per group and event type, the first and last event and every event's
  time, in order (the funnel);
- `orders`: per order and event day, the first event's time, currency and total (revenue);
- `completeness`, `freshness`, `bots`: the generated quality queries' rows for the arrival day
  (they group by `dt`, so a day's rows never depend on another day).

The person rollups (browser_days, browser_day_types) hold human events only, as the generated
queries count them (`is_bot IS NOT TRUE`); event_counts keeps bots apart for the quality panel.

tests/insights/test_rollups.py checks that the report's figures from the rollups are the
generated queries' answers over the lake, row for row.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

import insights
import lake

# Bump when a rollup's SQL or columns change: every day's key changes with it.
VERSION = 2
# Days computed together: one scan of the lake per rollup and batch, a batch's events in memory.
BATCH_DAYS = 5
DAY = "(DATE '1970-01-01' + CAST(epoch_ms(\"timestamp\") // 86400000 AS INTEGER))"

# The columns of a batch of days that the rollups of events read, with `g` numbering the
# (browser, user_id, event day) groups of each arrival day: browser_day_types names its group by it.
# `bot`: ingest flagged the event (the generated queries' `is_bot IS NOT TRUE` keeps the others);
# event_counts keeps bots for the quality panel, the person rollups leave them out.
BATCH = f"""
CREATE OR REPLACE TEMP TABLE rollup_batch AS
SELECT dt, anonymous_id, user_id, {DAY} AS day, event_type, "timestamp", is_bot IS TRUE AS bot,
  CAST(dense_rank() OVER (PARTITION BY dt ORDER BY anonymous_id, user_id, {DAY}) AS UINTEGER) AS g
FROM events
WHERE dt IN {{days}}"""
# What each rollup holds, over the batch's arrival days `{days}` (a SQL list of dt strings).
SOURCES: dict[str, str] = {
    "event_counts": """
SELECT dt, day, event_type, bot, count(*) AS events
FROM rollup_batch
GROUP BY ALL""",
    "browser_days": """
SELECT dt, g, anonymous_id, user_id, day, min("timestamp") AS first_at, max("timestamp") AS last_at
FROM rollup_batch
WHERE NOT bot
GROUP BY ALL""",
    "browser_day_types": """
SELECT dt, g, event_type, min("timestamp") AS first_at, max("timestamp") AS last_at,
  list("timestamp" ORDER BY "timestamp") AS times
FROM rollup_batch
WHERE NOT bot
GROUP BY ALL""",
    # As revenue.sql reads the typed view: an order's events of one (arrival day, event day).
    "orders": f"""
SELECT
  dt,
  {DAY} AS day,
  coalesce(order_id, event_id) AS order_id,
  min("timestamp") AS ordered_at,
  min_by(currency, "timestamp") AS currency,
  min_by(total, "timestamp") AS total
FROM checkout_completed
WHERE dt IN {{days}}
GROUP BY ALL""",
}
# The order a rollup's file is written in: browser_day_types by event type (a funnel reads the
# row groups of its steps' types only).
ORDER = {"browser_day_types": " ORDER BY event_type, g"}
# The generated quality queries, whose rows are per arrival day already, with their HUGEINT sums
# (which Parquet would store as DOUBLE) kept as BIGINT: a day's sums fit.
PER_DAY_QUERIES: dict[str, tuple[str, ...]] = {
    "completeness": ("received_events", "expected_events"),
    "freshness": (),
    "bots": ("events", "bot_events"),
}
NAMES = (*SOURCES, *PER_DAY_QUERIES)


@dataclass(frozen=True)
class Summary:
    """What a refresh did: the lake's arrival days, those computed now and those read from the
    cache, and how long it took."""
    days: int
    built: list[str]
    reused: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {"days": self.days, "built": len(self.built), "reused": self.reused, "seconds": self.seconds}


def day_keys(con: duckdb.DuckDBPyConnection, root: str) -> dict[str, str]:
    """The cache key of every arrival day of the events table: a fingerprint of the day's files
    (name, rows, size, modification time) in both tables and of VERSION."""
    files = {table: lake.day_files(con, root, table) for table in lake.TABLES}
    keys = {}
    for day in sorted(files["events"]):
        state = [VERSION, files["events"][day], files["quarantine"].get(day, [])]
        keys[day] = hashlib.sha256(json.dumps(state).encode()).hexdigest()[:20]
    return keys


def lake_directory(cache: Path, root: str) -> Path:
    """The lake's own directory in the cache: one per root, so two lakes never share rollups."""
    return cache / hashlib.sha256(root.encode()).hexdigest()[:16]


def refresh(con: duckdb.DuckDBPyConnection, root: str, cache: Path) -> Summary:
    """Brings the cache up to date with the lake behind `con` (views `events`, `quarantine` and the
    typed views of views.sql), then creates one view per rollup, `rollup_<name>`, over exactly the
    files of the lake's current days. Raises LookupError when the lake has no events."""
    started = time.monotonic()
    keys = day_keys(con, root)
    if not keys:
        raise LookupError("the lake has no events yet: nothing to report")
    home = lake_directory(cache, root)
    home.mkdir(parents=True, exist_ok=True)
    (home / "lake.txt").write_text(root + "\n", encoding="utf-8")

    def path(name: str, day: str) -> Path:
        return home / name / f"dt={day}" / f"{keys[day]}.parquet"

    stale = [d for d in keys if not all(path(n, d).is_file() for n in NAMES)]
    if stale:
        build(con, home, stale, {d: keys[d] for d in stale})
    for gone in home.iterdir():
        # Rollups an older version made.
        if gone.is_dir() and not gone.name.startswith(".") and gone.name not in NAMES:
            shutil.rmtree(gone)
    for name in NAMES:
        # Days the lake no longer has, and older keys of the days it has.
        for old in (home / name).glob("dt=*/*.parquet"):
            day = old.parent.name.removeprefix("dt=")
            if keys.get(day) != old.stem:
                old.unlink()
        files = ", ".join(lake.repr_sql(str(path(name, d))) for d in sorted(keys))
        con.execute(f"CREATE OR REPLACE TEMP VIEW rollup_{name} AS SELECT * FROM read_parquet([{files}], hive_partitioning = false)")
    return Summary(len(keys), stale, len(keys) - len(stale), round(time.monotonic() - started, 3))


def build(con: duckdb.DuckDBPyConnection, home: Path, days: list[str], keys: dict[str, str]) -> None:
    """Computes every rollup of `days`, a batch of days at a time, and writes one file per rollup
    and day; a file appears under its final name only once it is complete."""
    staging = home / f".staging-{uuid.uuid4().hex[:8]}"
    try:
        for start in range(0, len(days), BATCH_DAYS):
            batch = days[start:start + BATCH_DAYS]
            listed = "(" + ", ".join(lake.repr_sql(d) for d in batch) + ")"
            con.execute(BATCH.format(days=listed))
            for name in NAMES:
                con.execute(f"CREATE OR REPLACE TEMP TABLE rollup_staged AS {source(con, name, batch, listed)}")
                for day in batch:
                    target = home / name / f"dt={day}" / f"{keys[day]}.parquet"
                    part = staging / name / f"{day}.parquet"
                    part.parent.mkdir(parents=True, exist_ok=True)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    con.execute(f"COPY (SELECT * FROM rollup_staged WHERE dt = {lake.repr_sql(day)}{ORDER.get(name, '')}) "
                                f"TO {lake.repr_sql(str(part))} (FORMAT parquet, COMPRESSION zstd)")
                    part.replace(target)
                con.execute("DROP TABLE rollup_staged")
            con.execute("DROP TABLE rollup_batch")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def source(con: duckdb.DuckDBPyConnection, name: str, batch: list[str], listed: str) -> str:
    """The query of rollup `name` over the batch."""
    if name in SOURCES:
        return SOURCES[name].format(days=listed)
    # The generated query over the span of the batch, kept to its days (a day's row is the same
    # whatever the span).
    text = insights.sql(f"quality_{name}").rstrip().rstrip(";")
    for key, value in (("from_day", min(batch)), ("to_day", max(batch))):
        con.execute(f"SET VARIABLE {key} = ?", [value])
    casts = ", ".join(f"CAST({c} AS BIGINT) AS {c}" for c in PER_DAY_QUERIES[name])
    return f"SELECT day AS dt, *{f' REPLACE ({casts})' if casts else ''} FROM ({text}) WHERE day IN {listed}"
