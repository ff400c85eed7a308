"""Report benchmark for `make bench`: the insights report (scripts/report.py) over 30 days of lake
at the compaction benchmark's daily rate (about 1.1 million events a day, 33 million in all),
from the day rollups (scripts/rollups.py) and, as the peer, from the generated queries over the
whole lake (`--no-rollups`, the report's path before the rollups).

1. Generates the lake straight into Delta tables (compacting 33 million events through the
   pipeline would take most of an hour): per day, DuckDB writes one sorted zstd Parquet part of
   `events` and one of `quarantine` in the lake's columns under `lake/<table>/dt=YYYY-MM-DD/`,
   then `deltalake.convert_to_deltalake` writes the Delta log over them. The traffic is a web
   shop's: sessions of about 11 events (page views, product views, carts, sign-ups, orders), 45%
   of them from returning browsers (so retention and stitching have work to do), a quarter of the
   browsers signed in with users that have several devices, clock skew and offline queues, a
   small share of events lost (seq gaps) and 0.8% quarantined; 3% of the sessions are bots, with
   the user-agent and geo columns ingest writes (the first day's rows predate the bot flag: `is_bot`
   NULL). Cached in --workdir: a second run with the same parameters reuses it.
2. Runs the report, each in its own process under /usr/bin/time, with an empty rollup cache at
   the start: 30 days summarising every day (the first report of a lake), 30 days again (every
   day's rollups cached), 30 days after the newest day's rollups were dropped (the daily run: one
   new day to summarise), 1 day, and 30 days without rollups.
3. Prints wall time, CPU time and peak RSS of each, the time of each step of the cached and the
   no-rollups runs, and the ratios between them. Speed is reported, never asserted.

    .venv/bin/python scripts/bench_insights.py [--days 30] [--events-per-day 1100000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import lake
from bench_compact import measured

REPO = Path(__file__).resolve().parent.parent
FIRST_DAY = date(2026, 11, 1)
# Bump when the generated data changes, so cached lakes are regenerated.
GENERATOR_VERSION = 3
EVENTS_PER_SESSION = 11


def day_sql(day: date, index: int, sessions: int, seed: int) -> str:
    """The events of one arrival day, in the lake's columns, sorted as compaction sorts them."""
    d = day.isoformat()
    return f"""
WITH sessions AS (
  SELECT
    i AS session,
    -- 45% of sessions come from a browser first seen on an earlier day, more often a recent one.
    CASE WHEN {index} > 0 AND hash(i, {seed}, 'returning') % 100 < 45
         THEN CAST(({index} - 1 - hash(i, {seed}, 'back') % (1 + hash(i, {seed}, 'recency') % {index})) * {sessions}
                   + hash(i, {seed}, 'who', {index}) % {sessions} AS BIGINT)
         ELSE CAST({index} * {sessions} + i AS BIGINT) END AS browser,
    TIMESTAMPTZ '{d} 00:00:00+00' + to_milliseconds(CAST(
      -- more traffic in the (European) afternoon and evening
      86400000 * (0.25 * (hash(i, {seed}, 'start') % 1000000) / 1e6
                  + 0.75 * sqrt((hash(i, {seed}, 'late') % 1000000) / 1e6)) * 0.96 AS BIGINT)) AS started_at,
    least(150, 1 + CAST(floor(-ln(greatest((hash(i, {seed}, 'length') % 1000000) / 1e6, 1e-9)) * {EVENTS_PER_SESSION - 1}) AS BIGINT)) AS length,
    hash(i, {seed}, 'signs_in') % 100 AS signs_in,
    ['EUR', 'EUR', 'EUR', 'USD', 'GBP'][1 + CAST(hash(i, {seed}, 'currency') % 5 AS INTEGER)] AS currency,
    -- 3% of the sessions are bots (ingest's rules flagged them), each with the first rule that matched
    CASE WHEN hash(i, {seed}, 'bot') % 1000 < 30
         THEN ['crawler_list', 'crawler_list', 'headless_browser', 'non_browser_agent', 'no_accept_language']
              [1 + CAST(hash(i, {seed}, 'bot_reason') % 5 AS INTEGER)] END AS bot_reason
  FROM range({sessions}) AS t(i)
),
steps AS (
  SELECT s.*, k,
    s.started_at + to_milliseconds(k * 20000 + hash(s.session, k, {seed}, 'gap', {index}) % 40000) AS happened_at,
    hash(s.session, k, {seed}, 'type', {index}) % 1000 AS r,
    hash(s.session, k, {seed}, 'product', {index}) % 3000 AS product,
    -- the browser queue: most events go out within seconds, a few after minutes or hours offline
    CASE WHEN hash(s.session, k, {seed}, 'offline', {index}) % 1000 < 15
         THEN 60000 + hash(s.session, k, {seed}, 'offline_ms', {index}) % 7200000
         ELSE 150 + hash(s.session, k, {seed}, 'lag', {index}) % 4000 END AS lag_ms
  FROM sessions AS s, LATERAL (SELECT unnest(range(s.length)) AS k)
),
typed AS (
  SELECT *,
    CASE WHEN k = 0 OR r < 540 THEN 'page_viewed'
         WHEN r < 840 THEN 'product_viewed'
         WHEN r < 955 THEN 'cart_item_added'
         WHEN r < 985 THEN 'checkout_completed'
         ELSE 'signed_up' END AS event_type,
    -- a quarter of the browsers belong to signed-in users; users have one to three devices
    CASE WHEN browser % 4 = 0 AND (signs_in < 60 OR k >= 3)
         THEN 'usr_' || lpad(CAST(hash(browser // 4, {seed}) % ({sessions} * 3) AS VARCHAR), 8, '0') END AS user_id,
    least(happened_at + to_milliseconds(lag_ms), TIMESTAMPTZ '{d} 23:59:59.999+00') AS received_at,
    -- each browser numbers its events; later days continue above earlier ones
    {index} * 100000 + row_number() OVER (PARTITION BY browser ORDER BY happened_at, session, k) AS seq
  FROM steps
  WHERE happened_at < TIMESTAMPTZ '{d} 23:59:59+00'
),
arrived AS (
  -- 0.5% of events never arrive: gaps in seq
  SELECT * FROM typed WHERE hash(session, k, {seed}, 'lost', {index}) % 1000 >= 5
)
SELECT
  CAST(uuid() AS VARCHAR) AS event_id,
  event_type,
  '1-0-0' AS schema_version,
  happened_at AS "timestamp",
  happened_at + to_milliseconds(CAST(hash(browser, {seed}, 'skew') % 2000 AS BIGINT) - 1000) AS client_timestamp,
  received_at - to_milliseconds(90) AS sent_at,
  received_at,
  'anon-' || lpad(CAST(browser AS VARCHAR), 10, '0') AS anonymous_id,
  user_id,
  'ses-{d}-' || session AS session_id,
  CAST(seq AS BIGINT) AS seq,
  'https://shop.example/p/sku-' || lpad(CAST(product AS VARCHAR), 5, '0') AS page_url,
  CASE WHEN k = 0 THEN ['https://www.google.com/', 'https://l.facebook.com/', NULL, NULL][1 + session % 4] END AS page_referrer,
  'Product ' || product || ' – Driftless Outdoor' AS page_title,
  ['de-DE', 'en-US', 'en-GB', 'fr-FR'][1 + browser % 4] AS locale,
  ['Europe/Berlin', 'America/New_York', 'Europe/London', 'Europe/Paris'][1 + browser % 4] AS timezone,
  CAST([1920, 390, 1440, 412][1 + browser % 4] AS INTEGER) AS screen_width,
  CAST([1080, 844, 900, 915][1 + browser % 4] AS INTEGER) AS screen_height,
  'driftless-js' AS sdk_name,
  '0.1.0' AS sdk_version,
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
   'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1']
    [1 + browser % 2] AS user_agent,
  CAST(NULL AS VARCHAR) AS ip,
  CASE event_type
    WHEN 'page_viewed' THEN '{{"path":"/p/sku-' || product || '","title":"Product ' || product || '","category":"product"}}'
    WHEN 'product_viewed' THEN '{{"product_id":"sku-' || product || '","name":"Product ' || product
      || '","category":"camping","price":' || (9.5 + product % 300) || ',"currency":"' || currency || '","in_stock":true}}'
    WHEN 'cart_item_added' THEN '{{"cart_id":"cart-' || session || '","product_id":"sku-' || product
      || '","quantity":1,"price":' || (9.5 + product % 300) || ',"currency":"' || currency || '"}}'
    WHEN 'checkout_completed' THEN '{{"order_id":"ord-{d}-' || session || '-' || k || '","total":' || (19.9 + product % 400)
      || ',"currency":"' || currency || '","items":[{{"product_id":"sku-' || product || '","quantity":1,"price":'
      || (19.9 + product % 400) || '}}],"shipping_method":"standard"}}'
    ELSE '{{"method":"email","plan":"free"}}'
  END AS properties,
  'web' AS source,
  CASE WHEN bot_reason = 'crawler_list' THEN 'Googlebot' WHEN bot_reason = 'headless_browser' THEN 'HeadlessChrome'
       WHEN bot_reason = 'non_browser_agent' THEN 'curl' WHEN browser % 2 = 0 THEN 'Chrome' ELSE 'Mobile Safari' END AS ua_browser,
  CASE WHEN bot_reason = 'non_browser_agent' THEN '8' WHEN browser % 2 = 0 THEN '131' ELSE '18' END AS ua_browser_version,
  CASE WHEN bot_reason IS NOT NULL THEN 'Linux' WHEN browser % 2 = 0 THEN 'Windows' ELSE 'iOS' END AS ua_os,
  CASE WHEN bot_reason = 'crawler_list' THEN 'bot' WHEN bot_reason IS NOT NULL THEN 'other'
       WHEN browser % 2 = 0 THEN 'desktop' ELSE 'mobile' END AS ua_device_type,
  -- the first day's files were written before ingest flagged bots: no verdict (humans, to the queries)
  CASE WHEN {index} > 0 THEN bot_reason IS NOT NULL END AS is_bot,
  CASE WHEN {index} > 0 THEN bot_reason END AS bot_reason,
  ['DE', 'US', 'GB', 'FR'][1 + browser % 4] AS geo_country,
  ['DE-BY', 'US-NY', 'GB-ENG', 'FR-IDF'][1 + browser % 4] AS geo_region
FROM arrived
ORDER BY event_type, "timestamp"
"""


def quarantine_sql(day: date, events_part: Path, seed: int) -> str:
    """0.8% of the day's events as the quarantine would hold them, with a reason and the raw event
    (the accepted copy stays: a replayed event is in both)."""
    return f"""
SELECT
  event_id, received_at, sent_at, CAST(hash(event_id) % 25 AS BIGINT) AS "index",
  CASE WHEN reason = 'unknown_event_type' THEN 'button_clicked' ELSE event_type END AS event_type,
  schema_version, reason,
  '[{{"path":"/properties/price","message":"must be a number, got string \\"12\\""}}]' AS errors,
  user_agent, ip,
  '{{"event_id":"' || event_id || '","event_type":"' || event_type || '","anonymous_id":"' || anonymous_id
    || '","seq":' || seq || ',"properties":' || properties || '}}' AS raw,
  CAST(NULL AS VARCHAR) AS raw_truncated
FROM (
  SELECT *, ['properties', 'properties', 'unknown_event_type', 'envelope', 'unknown_schema_version'][1 + CAST(hash(event_id) % 5 AS INTEGER)] AS reason
  FROM read_parquet('{events_part}')
  WHERE hash(event_id, {seed}, 'quarantine') % 1000 < 8
)
ORDER BY received_at
"""


def generate(workdir: Path, days: int, events_per_day: int, seed: int) -> Path:
    """The lake under `workdir/lake/`, from the cache when its parameters match; returns workdir."""
    import duckdb
    # delta-rs logs a warning per string column it keeps no statistics for; they say nothing
    # here. Its logger reads RUST_LOG once, when the module is imported.
    os.environ.setdefault("RUST_LOG", "error")
    from deltalake import Field, Schema, convert_to_deltalake
    from deltalake.schema import PrimitiveType

    stamp = workdir / "lake.json"
    params = {"version": GENERATOR_VERSION, "days": days, "events_per_day": events_per_day, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        return workdir
    shutil.rmtree(workdir / "lake", ignore_errors=True)
    sessions = events_per_day // EVENTS_PER_SESSION
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    started = time.monotonic()
    for index in range(days):
        day = FIRST_DAY + timedelta(days=index)
        parts = {t: workdir / "lake" / t / f"dt={day.isoformat()}" / "part-00000.parquet" for t in ("events", "quarantine")}
        for part in parts.values():
            part.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({day_sql(day, index, sessions, seed)}) TO '{parts['events']}' "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
        con.execute(f"COPY ({quarantine_sql(day, parts['events'], seed)}) TO '{parts['quarantine']}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        print(f"  generated {day}: {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    for table in ("events", "quarantine"):
        convert_to_deltalake(str(workdir / "lake" / table), partition_by=Schema([Field("dt", PrimitiveType("string"))]),
                             partition_strategy="hive")
    stamp.write_text(json.dumps(params))
    return workdir


def child(args: argparse.Namespace) -> None:
    """One measured run: the report over the lake, from the day rollups in --cache or, with
    --no-rollups, from the generated queries over the whole lake."""
    import report

    con = lake.duckdb_connect(s3=False)
    lake.delta_views(con, str(args.lake))
    options = report.Options(from_day=args.from_day, to_day=args.to_day, cache=args.cache)
    result = report.write_report(con, str(args.lake), args.output, options)
    print(json.dumps({"timings": result.timings, "events": result.events, "rollups": result.rollups}))


def forget_day(cache: Path, lake_root: Path, day: str) -> None:
    """Removes one arrival day's rollups from the cache, as if the day had new files."""
    import rollups

    for part in rollups.lake_directory(cache, str(lake_root)).glob(f"*/dt={day}/*.parquet"):
        part.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command")
    run = sub.add_parser("run", help="one measured run (used by the benchmark itself)")
    run.add_argument("--lake", type=Path, required=True)
    run.add_argument("--cache", type=Path)
    run.add_argument("--from", dest="from_day", required=True)
    run.add_argument("--to", dest="to_day", required=True)
    run.add_argument("--output", type=Path, required=True)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--events-per-day", type=int, default=1_100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/driftless-bench-insights"),
                    help="lake cache, rollups and reports (default: %(default)s)")
    args = ap.parse_args()
    if args.command == "run":
        child(args)
        return

    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other work on the machine slows every run)")
    started = time.monotonic()
    generate(args.workdir, args.days, args.events_per_day, args.seed)
    print(f"lake: {args.days} days x ~{args.events_per_day:,} events under {args.workdir}/lake "
          f"({time.monotonic() - started:.0f}s to generate or find)")
    last = FIRST_DAY + timedelta(days=args.days - 1)
    first = FIRST_DAY.isoformat()
    cache = args.workdir / "rollups"
    shutil.rmtree(cache, ignore_errors=True)
    # (label, rollup cache or None, from, to, day whose rollups are dropped first)
    runs: list[tuple[str, Path | None, str, str, str | None]] = [
        ("30 days, rollups built", cache, first, last.isoformat(), None),
        ("30 days, rollups cached", cache, first, last.isoformat(), None),
        ("30 days, 1 new day", cache, first, last.isoformat(), last.isoformat()),
        ("1 day, rollups cached", cache, last.isoformat(), last.isoformat(), None),
        ("30 days, no rollups", None, first, last.isoformat(), None),
    ]
    results = {}
    for label, rollup_cache, from_day, to_day, forget in runs:
        if forget is not None:
            forget_day(cache, args.workdir, forget)
        out = args.workdir / f"report-{from_day}-{to_day}.html"
        cmd = [sys.executable, __file__, "run", "--lake", str(args.workdir), "--from", from_day, "--to", to_day,
               "--output", str(out)] + (["--cache", str(rollup_cache)] if rollup_cache is not None else [])
        r = measured(cmd, label)
        r.update(json.loads(r["stdout"].strip().splitlines()[-1]))
        results[label] = r
        built = f", {r['rollups']['built']} days summarised" if r["rollups"] else ""
        print(f"{label:<24} {r['seconds']:6.2f}s wall, {r['cpu_seconds']:6.2f}s CPU, peak RSS {r['peak_rss_mb']:6.0f} MB, "
              f"{r['events']:>11,} events{built}")
    warm, day, scan = results["30 days, rollups cached"], results["1 day, rollups cached"], results["30 days, no rollups"]
    cold, new_day = results["30 days, rollups built"], results["30 days, 1 new day"]
    for label in ("30 days, rollups cached", "30 days, no rollups"):
        print(f"\n{label}, seconds per step:")
        for name, seconds in results[label]["timings"].items():
            print(f"  {name:<22} {seconds:6.2f}")
    print(f"\nrollups cached / no rollups (30 days): {scan['seconds'] / warm['seconds']:.1f}x faster, "
          f"{warm['peak_rss_mb'] / scan['peak_rss_mb']:.2f}x the peak memory")
    print(f"1 new day / no rollups: {scan['seconds'] / new_day['seconds']:.1f}x faster; "
          f"all 30 days summarised / no rollups: {cold['seconds'] / scan['seconds']:.2f}x the time")
    print(f"30 days / 1 day (rollups cached): {warm['seconds'] / day['seconds']:.1f}x the time, "
          f"{warm['peak_rss_mb'] / day['peak_rss_mb']:.1f}x the peak memory, "
          f"{warm['events'] / max(day['events'], 1):.1f}x the events")
    print(f"goal: the 30-day report in under 10 s: {warm['seconds']:.1f}s with the rollups cached, "
          f"{new_day['seconds']:.1f}s after a new day ({'met' if new_day['seconds'] < 10 else 'NOT met'} on this machine "
          f"at this load)")


if __name__ == "__main__":
    main()
