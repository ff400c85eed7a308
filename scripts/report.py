"""The insights report: one self-contained HTML page of charts over the lake, which works offline.

    .venv/bin/python scripts/report.py --dir DIR | --bucket B [--from D] [--to D] [-o report.html]
        [--cache DIR | --no-rollups]
    make report REPORT_ARGS="--bucket my-bucket --from 2026-11-01 --to 2026-11-30"

`--dir` is a directory laid out like the bucket (`DIR/lake/events/_delta_log/...`), `--bucket`
the bucket itself (AWS_ENDPOINT_URL points it at a local S3 such as moto's). The range is of
event days (UTC), both included; without it the report covers the 30 days up to the lake's
newest arrival day. Every figure is the answer of a generated query of queries/duckdb/insights/,
so the report and `docs/query.md` answer the same questions the same way. The report computes
them from day rollups (scripts/rollups.py: each arrival day summarised once, cached in --cache
under a key of the day's files): the quality rows and the active-user and retention queries run
as generated over the rollups, the other figures by the SQL below, which
tests/insights/test_rollups.py holds to the generated queries' answers. `--no-rollups` runs the
generated queries over the whole lake instead (scripts/insights.py). The figures:

- events per day by type, daily/weekly/monthly active users (persons, across devices);
- the funnel page_viewed -> product_viewed -> cart_item_added -> checkout_completed (--steps,
  --window-hours), weekly retention cohorts as a heatmap, revenue per day and currency;
- data quality: accepted and quarantined events per type and reason, delivery completeness,
  arrival lag and the share of bots (by the rule that flagged them) per arrival day. Every other
  figure counts humans only: the generated queries leave out events ingest flagged `is_bot`.

The charts are drawn by plotly.js, inlined once in the page (no CDN, nothing fetched).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

import insights
import lake
import rollups

# The most steps funnel.sql takes (cli/src/codegen/insights/funnel.rs).
MAX_STEPS = 8
DEFAULT_STEPS = "page_viewed,product_viewed,cart_item_added,checkout_completed"
DEFAULT_DAYS = 30
# One colour per series, the same in every chart of the page.
PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563"]
# Quarantine reasons: warm colours, none of them the accepted green of the other charts.
REASON_PALETTE = ["#f97316", "#dc2626", "#9333ea", "#ca8a04", "#db2777", "#7c2d12", "#4b5563"]
# The columns of events_stitched that the report's queries read.
STITCHED_COLUMNS = ("person_id", "event_type", '"timestamp"', "dt")
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Options:
    from_day: str | None = None
    to_day: str | None = None
    steps: str = DEFAULT_STEPS
    window_seconds: int = 86_400
    # Where the day rollups are kept (scripts/rollups.py). None: no rollups, every figure straight
    # from the generated queries over the whole lake (the slower path the rollups are checked
    # against).
    cache: Path | None = None


@dataclass
class Result:
    path: Path
    from_day: str
    to_day: str
    events: int
    # Seconds per step, in the order they ran.
    timings: dict[str, float] = field(default_factory=dict)
    # What the rollups' refresh did (rollups.Summary.as_dict), when the report used them.
    rollups: dict[str, object] | None = None


class Timer:
    """Seconds per step, in the order the steps ran."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, label: str, run: Any) -> Any:
        started = time.monotonic()
        out = run()
        self.timings[label] = round(time.monotonic() - started, 3)
        return out


# ---------------------------------------------------------------------------------- the data

def lake_range(con: duckdb.DuckDBPyConnection, options: Options,
               bounds: str = 'SELECT CAST(min("timestamp") AS DATE), max(dt) FROM events') -> tuple[str, str]:
    """The report's event days: as given, else the 30 days up to the newest arrival day, from no
    earlier than the oldest event (an event can arrive the day after it happened). `bounds`
    answers the oldest event day and the newest arrival day."""
    to_day, from_day = options.to_day, options.from_day
    if to_day is None or from_day is None:
        first, last = con.execute(bounds).fetchone() or (None, None)
        if last is None:
            raise LookupError("the lake has no events yet: nothing to report")
        to_day = to_day or str(last)
        if from_day is None:
            start = date.fromisoformat(to_day) - timedelta(days=DEFAULT_DAYS - 1)
            from_day = max(start, first).isoformat()
    for name, value in (("--from", from_day), ("--to", to_day)):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not a day: write YYYY-MM-DD") from None
    if from_day > to_day:
        raise ValueError(f"--from {from_day} is after --to {to_day}")
    return from_day, to_day


def collect(con: duckdb.DuckDBPyConnection, from_day: str, to_day: str, options: Options,
            timed: Timer) -> dict[str, Rows]:
    """Every figure of the report from the generated queries over the whole lake."""
    # Every query orders its own output: rows need not keep their scan order, which lets DuckDB
    # build the temporary table below in parallel and with less memory.
    con.execute("SET preserve_insertion_order = false")
    timed("views", lambda: insights.create_views(con))
    # The person-level queries (active users, retention, funnel) read events_stitched, which joins
    # every event with the stitched identities. The report stitches once, into a temporary table
    # named like the view (DuckDB resolves temporary objects first) with only the columns those
    # queries read, instead of scanning and joining the lake once per query.
    timed("stitching", lambda: con.execute(
        f"CREATE OR REPLACE TEMP TABLE events_stitched AS SELECT {', '.join(STITCHED_COLUMNS)} FROM main.events_stitched"))
    span = {"from_day": from_day, "to_day": to_day}
    data: dict[str, Rows] = {}
    for name in ("events_per_day", "active_users", "retention", "revenue",
                 "quality_verdicts", "quality_completeness", "quality_freshness", "quality_bots"):
        data[name] = timed(name, lambda n=name: insights.run(con, n, **span))
    data["funnel"] = timed("funnel", lambda: insights.run(con, "funnel", **span, steps=options.steps,
                                                          window_seconds=options.window_seconds))
    return data


# The report's figures over the rollups, each the same rows (columns, types, order) as the
# generated query of the same name; tests/insights/test_rollups.py holds them to it.
FROM_DAY, TO_DAY = "CAST(getvariable('from_day') AS DATE)", "CAST(getvariable('to_day') AS DATE)"
EVENT_DAYS = (f"dt BETWEEN CAST({FROM_DAY} AS VARCHAR) AND CAST(({TO_DAY} + 1) AS VARCHAR) "
              f"AND day BETWEEN {FROM_DAY} AND {TO_DAY}")
ARRIVAL_DAYS = f"dt BETWEEN CAST({FROM_DAY} AS VARCHAR) AND CAST({TO_DAY} AS VARCHAR)"
FROM_ROLLUPS = {
    "events_per_day": f"""
SELECT day, event_type, CAST(sum(events) AS BIGINT) AS events
FROM rollup_event_counts
WHERE {EVENT_DAYS} AND NOT bot
GROUP BY 1, 2
ORDER BY day, events DESC, event_type""",
    "revenue": f"""
WITH orders AS (
  SELECT order_id, min(ordered_at) AS ordered_at, min_by(currency, ordered_at) AS currency,
    min_by(total, ordered_at) AS total
  FROM rollup_orders
  WHERE {EVENT_DAYS}
  GROUP BY order_id
)
SELECT
  (DATE '1970-01-01' + CAST(epoch_ms(ordered_at) // 86400000 AS INTEGER)) AS day,
  currency,
  count(*) AS orders,
  round(sum(total), 2) AS revenue,
  round(avg(total), 2) AS average_order_value
FROM orders
GROUP BY 1, 2
ORDER BY day, currency""",
    # Accepted events from the rollups; the quarantine (a hundredth of the events) as it is, since
    # an event_id sent again on another day counts once.
    "quality_verdicts": f"""
WITH accepted AS (
  SELECT event_type, 'accepted' AS verdict, CAST(sum(events) AS BIGINT) AS events
  FROM rollup_event_counts
  WHERE {ARRIVAL_DAYS}
  GROUP BY event_type
),
quarantined AS (
  SELECT
    coalesce(event_type, '(unreadable)') AS event_type,
    reason AS verdict,
    count(DISTINCT event_id) + count_if(event_id IS NULL) AS events
  FROM quarantine
  WHERE {ARRIVAL_DAYS}
  GROUP BY 1, 2
),
verdicts AS (
  SELECT * FROM accepted
  UNION ALL
  SELECT * FROM quarantined
)
SELECT
  event_type,
  verdict,
  events,
  round(100 * CAST(events AS DOUBLE) / sum(events) OVER (PARTITION BY event_type), 2) AS percent_of_type
FROM verdicts
ORDER BY event_type, verdict <> 'accepted', events DESC, verdict""",
    "quality_completeness": f"""
SELECT day, CAST(received_events AS HUGEINT) AS received_events, CAST(expected_events AS HUGEINT) AS expected_events,
  completeness_percent
FROM rollup_completeness
WHERE {ARRIVAL_DAYS}
ORDER BY day""",
    "quality_freshness": f"""
SELECT * EXCLUDE (dt)
FROM rollup_freshness
WHERE {ARRIVAL_DAYS}
ORDER BY day""",
    "quality_bots": f"""
SELECT day, bot_reason, CAST(events AS HUGEINT) AS events, CAST(bot_events AS HUGEINT) AS bot_events, bot_percent
FROM rollup_bots
WHERE {ARRIVAL_DAYS}
ORDER BY day, bot_reason NULLS FIRST""",
}

# Identity stitching over the rollups: identities.sql's user of each browser, from the first and
# last event of each (browser, user_id, day) instead of every event.
STITCHED_IDENTITIES = """
CREATE OR REPLACE TEMP TABLE report_identities AS
WITH links AS (
  SELECT anonymous_id, user_id, min(first_at) AS first_seen, max(last_at) AS last_seen
  FROM rollup_browser_days
  WHERE user_id IS NOT NULL
  GROUP BY anonymous_id, user_id
)
SELECT anonymous_id, max_by(user_id, last_seen) AS user_id
FROM links
GROUP BY anonymous_id"""
# Each (arrival day, browser day group) of the rollups with its person as a number: joins and
# counts on a number instead of an id string. The number is the person's 64-bit hash, which
# needs no DISTINCT and no join back (numbering persons took half of the stitching): two of the
# report's ~2 million persons share a hash with odds of about 1 in 10^7, and would count once.
# (Every event has an anonymous_id: the envelope requires it, so every group has a person.)
PERSONS = """
CREATE OR REPLACE TEMP TABLE report_persons AS
SELECT b.dt, b.g, b.day, b.first_at, hash(coalesce(b.user_id, i.user_id, b.anonymous_id)) AS pid
FROM rollup_browser_days AS b
LEFT JOIN report_identities AS i ON i.anonymous_id = b.anonymous_id"""
# Active users and retention read only which persons were active on which (event day, arrival
# day): one row per browser day group stands for all of its events (its first), so the generated
# queries run as they are over a tenth of the rows.
PERSON_DAYS = """
CREATE OR REPLACE TEMP VIEW events_stitched AS
SELECT pid AS person_id, first_at AS "timestamp", dt
FROM report_persons"""


def funnel_sql(steps: list[str]) -> str:
    """funnel.sql's answer over the rollups, for these steps. A person enters with the earliest
    first step-1 event of their groups (browser day groups of the range). Each later step is the
    person's first event of its type at or after the step before (after, when the two steps are
    the same type): in a group whose first event of that type is at or after it, that first
    event; in a group where the step before falls between its first and last event of the type,
    the first of its events after it (from the group's list of times of the type): one join per
    step. Within the window of the first step."""
    if len(steps) > MAX_STEPS:
        raise ValueError(f"a funnel has at most {MAX_STEPS} steps: shorten the steps parameter")
    if any(s == "" for s in steps):
        raise ValueError("the steps parameter has an empty event type: list event types separated by commas")
    types = "(" + ", ".join(lake.repr_sql(s) for s in sorted(set(steps))) + ")"
    ctes = [f"""person_types AS MATERIALIZED (
  SELECT p.pid, t.event_type, t.first_at, t.last_at, t.times
  FROM rollup_browser_day_types AS t
  JOIN report_persons AS p ON p.dt = t.dt AND p.g = t.g
  WHERE t.dt BETWEEN CAST({FROM_DAY} AS VARCHAR) AND CAST(({TO_DAY} + 1) AS VARCHAR)
    AND t.event_type IN {types}
    AND p.day BETWEEN {FROM_DAY} AND {TO_DAY}
)""", f"""step_1 AS (
  SELECT pid, min(first_at) AS entered_at, min(first_at) AS reached_at
  FROM person_types
  WHERE event_type = {lake.repr_sql(steps[0])}
  GROUP BY pid
)"""]
    for k in range(2, len(steps) + 1):
        after = ">" if steps[k - 1] == steps[k - 2] else ">="
        step = lake.repr_sql(steps[k - 1])
        # A group reaches the step when its last event of the type is late enough: at its first
        # event of the type when that one is, else at the first of its times that is.
        ctes.append(f"""step_{k} AS (
  SELECT pid, any_value(entered_at) AS entered_at, min(reached_at) AS reached_at
  FROM (
    SELECT p.pid, p.entered_at,
      CASE WHEN t.first_at {after} p.reached_at THEN t.first_at
        ELSE list_min(list_filter(t.times, x -> x {after} p.reached_at)) END AS reached_at
    FROM step_{k - 1} AS p
    JOIN person_types AS t ON t.pid = p.pid
    WHERE t.event_type = {step} AND t.last_at {after} p.reached_at
  )
  GROUP BY pid
  HAVING (epoch_ms(min(reached_at)) - epoch_ms(any_value(entered_at))) <= CAST(getvariable('window_seconds') AS BIGINT) * 1000
)""")
    reached = "\n  UNION ALL\n  ".join(
        f"SELECT {k} AS step, count(*) AS persons, quantile_disc((epoch_ms(reached_at) - epoch_ms(entered_at)) / 1000E0, 0.5) "
        f"AS median_seconds_from_entry FROM step_{k}" for k in range(1, len(steps) + 1))
    ctes.append(f"reached AS (\n  {reached}\n)")
    values = ", ".join(f"(CAST({k} AS BIGINT), {lake.repr_sql(s)})" for k, s in enumerate(steps, 1))
    ctes.append(f"funnel_steps AS (SELECT * FROM (VALUES {values}) AS s(step, event_type))")
    return "WITH " + ",\n".join(ctes) + """
SELECT
  s.step,
  s.event_type,
  r.persons,
  round(100 * CAST(r.persons AS DOUBLE) / nullif(first_value(r.persons) OVER (ORDER BY s.step), 0), 2)
    AS percent_of_first,
  round(100 * CAST(r.persons AS DOUBLE) / nullif(lag(r.persons) OVER (ORDER BY s.step), 0), 2)
    AS percent_of_previous,
  r.median_seconds_from_entry
FROM funnel_steps AS s
JOIN reached AS r ON r.step = s.step
ORDER BY s.step"""


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, **params: str | int) -> Rows:
    for key, value in params.items():
        con.execute(f"SET VARIABLE {key} = ?", [value])
    cur = con.execute(sql)
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]


def collect_from_rollups(con: duckdb.DuckDBPyConnection, root: str, options: Options, cache: Path,
                         timed: Timer) -> tuple[str, str, dict[str, Rows], dict[str, object]]:
    """Every figure of the report from the day rollups (brought up to date first) and, for the
    funnel, the events of its steps."""
    con.execute("SET preserve_insertion_order = false")
    timed("views", lambda: insights.create_views(con))
    summary = timed("rollups", lambda: rollups.refresh(con, root, cache))
    from_day, to_day = lake_range(con, options, "SELECT min(day), max(dt) FROM rollup_event_counts")
    span = {"from_day": from_day, "to_day": to_day}
    data: dict[str, Rows] = {}
    for name in ("events_per_day", "revenue", "quality_verdicts", "quality_completeness", "quality_freshness",
                 "quality_bots"):
        data[name] = timed(name, lambda n=name: run_sql(con, FROM_ROLLUPS[n], **span))
    timed("stitching", lambda: (con.execute(STITCHED_IDENTITIES), con.execute(PERSONS), con.execute(PERSON_DAYS)))
    for name in ("active_users", "retention"):
        data[name] = timed(name, lambda n=name: insights.run(con, n, **span))
    steps = [s.strip() for s in options.steps.split(",")]

    data["funnel"] = timed("funnel", lambda: run_sql(con, funnel_sql(steps), **span,
                                                    window_seconds=options.window_seconds))
    for temporary in ("VIEW events_stitched", "TABLE report_persons", "TABLE report_identities"):
        con.execute(f"DROP {temporary}")
    return from_day, to_day, data, summary.as_dict()


# ---------------------------------------------------------------------------------- the charts

def layout(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "margin": {"l": 56, "r": 16, "t": 8, "b": 40}, "height": 340, "template": "plotly_white",
        "legend": {"orientation": "h", "y": -0.18}, "font": {"family": "system-ui, sans-serif", "size": 12},
        "hovermode": "x unified",
    }
    base.update(extra)
    return base


Span = tuple[str, str]


def day_axis(span: Span, **extra: Any) -> dict[str, Any]:
    """An x axis of whole days over the report's range, also when only one day has data (plotly
    would otherwise zoom in to the hours around it)."""
    first, last = (datetime.fromisoformat(d) for d in span)
    axis = {"type": "date", "range": [(first - timedelta(hours=12)).isoformat(), (last + timedelta(hours=12)).isoformat()],
            "tickformat": "%b %-d", **extra}
    if (last - first).days < 14:
        axis["dtick"] = 86_400_000  # one tick a day; plotly's own choice puts two on the same day
    return axis


def colours(names: list[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def events_chart(rows: Rows, span: Span) -> go.Figure:
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["event_type"]] = totals.get(r["event_type"], 0) + r["events"]
    types = sorted(totals, key=lambda t: -totals[t])
    colour = colours(types)
    fig = go.Figure(layout=layout(barmode="stack", yaxis_title="events", xaxis=day_axis(span)))
    for t in types:
        mine = [r for r in rows if r["event_type"] == t]
        fig.add_bar(name=t, x=[r["day"] for r in mine], y=[r["events"] for r in mine], marker_color=colour[t])
    return fig


def active_users_chart(rows: Rows, span: Span) -> go.Figure:
    fig = go.Figure(layout=layout(yaxis_title="persons", xaxis=day_axis(span)))
    for column, name, colour in (("daily_active_users", "daily", PALETTE[0]),
                                 ("weekly_active_users", "weekly (7 days)", PALETTE[1]),
                                 ("monthly_active_users", "monthly (30 days)", PALETTE[2])):
        fig.add_scatter(name=name, x=[r["day"] for r in rows], y=[r[column] for r in rows],
                        mode="lines+markers", line={"color": colour, "width": 2}, marker={"size": 5})
    return fig


def funnel_chart(rows: Rows, span: Span) -> go.Figure:
    fig = go.Figure(layout=layout(hovermode="closest", margin={"l": 180, "r": 16, "t": 8, "b": 24}))
    fig.add_funnel(y=[f"{r['step']}. {r['event_type']}" for r in rows], x=[r["persons"] for r in rows],
                   textinfo="value+percent initial+percent previous", marker={"color": PALETTE[0]},
                   connector={"fillcolor": "#dbeafe"})
    return fig


def retention_chart(rows: Rows, span: Span) -> go.Figure:
    cohorts = sorted({r["cohort_week"] for r in rows})
    weeks = sorted({r["week_number"] for r in rows})
    cell = {(r["cohort_week"], r["week_number"]): r for r in rows}
    z = [[cell[(c, w)]["retained_percent"] if (c, w) in cell else None for w in weeks] for c in cohorts]
    text = [[f"{cell[(c, w)]['retained_percent']:.0f}%<br>{cell[(c, w)]['active_persons']:,}" if (c, w) in cell else ""
             for w in weeks] for c in cohorts]
    sizes = {r["cohort_week"]: r["cohort_persons"] for r in rows}
    fig = go.Figure(layout=layout(hovermode="closest", height=max(220, 60 + 34 * len(cohorts)),
                                  xaxis={"title": "weeks after the first", "side": "top", "dtick": 1},
                                  yaxis={"autorange": "reversed", "type": "category"},
                                  margin={"l": 150, "r": 16, "t": 48, "b": 16}))
    fig.add_heatmap(z=z, x=weeks, y=[f"{c} ({sizes[c]:,})" for c in cohorts], text=text, texttemplate="%{text}",
                    colorscale="Blues", zmin=0, zmax=100, colorbar={"title": "%"}, hoverongaps=False,
                    hovertemplate="cohort %{y}<br>week %{x}: %{z:.1f}%<extra></extra>")
    return fig


def revenue_chart(rows: Rows, span: Span) -> go.Figure:
    currencies = sorted({r["currency"] for r in rows})
    colour = colours(currencies)
    fig = go.Figure(layout=layout(barmode="group", yaxis_title="revenue", xaxis=day_axis(span)))
    for c in currencies:
        mine = [r for r in rows if r["currency"] == c]
        fig.add_bar(name=c, x=[r["day"] for r in mine], y=[r["revenue"] for r in mine], marker_color=colour[c],
                    customdata=[r["orders"] for r in mine], hovertemplate="%{y:,.2f} " + c + " from %{customdata} orders")
    return fig


def verdicts_chart(rows: Rows, span: Span) -> go.Figure:
    """The quarantined share of each event type, stacked by reason: the accepted events would dwarf
    them (at a real rate, one in a hundred is quarantined), so they are in the hover text."""
    types = sorted({r["event_type"] for r in rows}, key=lambda t: -sum(r["events"] for r in rows if r["event_type"] == t))
    accepted = {r["event_type"]: r["events"] for r in rows if r["verdict"] == "accepted"}
    reasons = sorted({r["verdict"] for r in rows} - {"accepted"})
    colour = {v: REASON_PALETTE[i % len(REASON_PALETTE)] for i, v in enumerate(reasons)}
    fig = go.Figure(layout=layout(barmode="stack", hovermode="closest", xaxis={"title": "% of the event type quarantined"},
                                  # Every event type gets its row, also those with nothing quarantined.
                                  yaxis={"type": "category", "categoryorder": "array", "categoryarray": types,
                                         "range": [len(types) - 0.5, -0.5]},
                                  margin={"l": 150, "r": 16, "t": 8, "b": 40}, height=max(240, 90 + 28 * len(types))))
    for v in reasons:
        mine = [r for r in rows if r["verdict"] == v]
        fig.add_bar(name=v, orientation="h", y=[r["event_type"] for r in mine], x=[r["percent_of_type"] for r in mine],
                    marker_color=colour[v], customdata=[[r["events"], accepted.get(r["event_type"], 0)] for r in mine],
                    hovertemplate="%{y}: %{customdata[0]:,} " + v + " (%{x}%), %{customdata[1]:,} accepted<extra></extra>")
    return fig


def completeness_chart(rows: Rows, span: Span) -> go.Figure:
    low = min((r["completeness_percent"] for r in rows), default=99)
    fig = go.Figure(layout=layout(xaxis=day_axis(span),
                                  yaxis={"title": "% of seq numbers that arrived", "range": [min(low, 99) - 0.5, 100.2]}))
    fig.add_scatter(name="completeness", x=[r["day"] for r in rows], y=[r["completeness_percent"] for r in rows],
                    mode="lines+markers", line={"color": PALETTE[0], "width": 2}, marker={"size": 5})
    return fig


def freshness_chart(rows: Rows, span: Span) -> go.Figure:
    fig = go.Figure(layout=layout(xaxis=day_axis(span), yaxis={"title": "seconds from event to arrival", "type": "log"}))
    for column, name, colour in (("lag_p50_seconds", "median", PALETTE[0]), ("lag_p95_seconds", "95th percentile", PALETTE[1]),
                                 ("lag_p99_seconds", "99th percentile", PALETTE[4])):
        fig.add_scatter(name=name, x=[r["day"] for r in rows], y=[max(r[column], 0.001) for r in rows],
                        mode="lines+markers", line={"color": colour, "width": 2}, marker={"size": 5})
    return fig


def bots_chart(rows: Rows, span: Span) -> go.Figure:
    """The share of each arrival day's accepted events that ingest flagged as bots, stacked by the
    rule that flagged them (the day's rows with a bot_reason add up to its total row)."""
    reasons = sorted({r["bot_reason"] for r in rows if r["bot_reason"] is not None})
    colour = {v: REASON_PALETTE[i % len(REASON_PALETTE)] for i, v in enumerate(reasons)}
    fig = go.Figure(layout=layout(barmode="stack", xaxis=day_axis(span), yaxis={"title": "% of accepted events"}))
    for v in reasons:
        mine = [r for r in rows if r["bot_reason"] == v]
        fig.add_bar(name=v, x=[r["day"] for r in mine], y=[r["bot_percent"] for r in mine], marker_color=colour[v],
                    customdata=[[r["bot_events"], r["events"]] for r in mine],
                    hovertemplate="%{customdata[0]:,} of %{customdata[1]:,} (%{y}%) " + v + "<extra></extra>")
    return fig


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    about: str
    query: str
    draw: Any
    empty: str
    # Whether the rows have anything to draw; the funnel has a row per step even when no one entered.
    drawable: Any = bool


CHARTS = [
    Chart("events_per_day", "Events per day", "Accepted events by event day (UTC) and type.",
          "events_per_day", events_chart, "No events in this range."),
    Chart("active_users", "Active users", "Persons (one user across devices counts once) active that day, "
          "and in the 7 and 30 days up to it.", "active_users", active_users_chart, "No one was active in this range."),
    Chart("funnel", "Funnel", "", "funnel", funnel_chart, "No one entered the funnel in this range.",
          lambda rows: bool(rows) and rows[0]["persons"] > 0),
    Chart("retention", "Weekly retention", "Persons by the week they were first seen (with its size), and the share "
          "of them active in each later week.", "retention", retention_chart, "No cohort starts in this range."),
    Chart("revenue", "Revenue", "checkout_completed totals per day and currency; an order tracked twice counts once.",
          "revenue", revenue_chart, "No orders in this range."),
    Chart("quality_verdicts", "Quarantined per event type", "The share of each event type that failed the schema "
          "or the envelope, by reason, over arrival days; hover for the counts.", "quality_verdicts", verdicts_chart,
          "Nothing arrived in this range."),
    Chart("quality_completeness", "Delivery completeness", "Of the events each browser numbered (seq), the share that "
          "arrived, accepted or quarantined, per arrival day.", "quality_completeness", completeness_chart,
          "Nothing arrived in this range."),
    Chart("quality_freshness", "Arrival lag", "Time from an event to its arrival: the browser's queue and the way "
          "(logarithmic scale).", "quality_freshness", freshness_chart, "Nothing arrived in this range."),
    Chart("quality_bots", "Bot share", "Accepted events that ingest flagged as bots, per arrival day and the rule "
          "that flagged them; every other chart counts humans only.", "quality_bots", bots_chart,
          "No bots arrived in this range.", lambda rows: any(r["bot_reason"] is not None for r in rows)),
]


# ---------------------------------------------------------------------------------- the page

def kpis(data: dict[str, Rows]) -> list[tuple[str, str]]:
    events = sum(r["events"] for r in data["events_per_day"])
    au = data["active_users"]
    funnel = data["funnel"]
    revenue: dict[str, float] = {}
    orders = 0
    for r in data["revenue"]:
        revenue[r["currency"]] = revenue.get(r["currency"], 0.0) + r["revenue"]
        orders += r["orders"]
    verdicts = data["quality_verdicts"]
    quarantined = sum(r["events"] for r in verdicts if r["verdict"] != "accepted")
    arrived = sum(r["events"] for r in verdicts)
    last = max((r["last_received_at"] for r in data["quality_freshness"]), default=None)
    out = [("events", f"{events:,}"),
           ("peak daily active users", f"{max((r['daily_active_users'] for r in au), default=0):,}"),
           ("monthly active users (last day)", f"{au[-1]['monthly_active_users']:,}" if au else "0")]
    if len(funnel) > 1 and funnel[-1]["percent_of_first"] is not None:
        out.append(("funnel conversion", f"{funnel[-1]['percent_of_first']:.1f}%"))
    out.append(("orders", f"{orders:,}"))
    out += [(f"revenue {c}", f"{v:,.2f}") for c, v in sorted(revenue.items(), key=lambda kv: -kv[1])[:3]]
    out.append(("quarantined", f"{100 * quarantined / arrived:.2f}%" if arrived else "0"))
    days = [r for r in data["quality_bots"] if r["bot_reason"] is None]
    accepted = sum(r["events"] for r in days)
    out.append(("bots", f"{100 * sum(r['bot_events'] for r in days) / accepted:.2f}%" if accepted else "0"))
    if last is not None:
        out.append(("newest arrival", last.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    return out


def funnel_about(options: Options) -> str:
    hours = options.window_seconds / 3600
    steps = " → ".join(s.strip() for s in options.steps.split(","))
    return (f"{steps}, within {hours:g} hours of the first step. Persons enter with their first "
            f"{options.steps.split(',')[0].strip()} in the range.")


def render(data: dict[str, Rows], from_day: str, to_day: str, options: Options, source: str) -> str:
    sections = []
    for chart in CHARTS:
        rows = data[chart.key]
        about = funnel_about(options) if chart.key == "funnel" else chart.about
        if chart.drawable(rows):
            body = chart.draw(rows, (from_day, to_day)).to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG,
                                            div_id=f"chart-{chart.key}")
        else:
            body = f'<p class="empty">{html.escape(chart.empty)}</p>'
        sections.append(
            f'<section class="chart" data-chart="{chart.key}" data-rows="{len(rows)}">'
            f"<h2>{html.escape(chart.title)}</h2><p class=\"about\">{html.escape(about)}</p>{body}"
            f'<p class="query">queries/duckdb/insights/{chart.query}.sql</p></section>')
    cards = "".join(f'<div class="kpi"><span>{html.escape(v)}</span>{html.escape(k)}</div>' for k, v in kpis(data))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return PAGE.format(
        title=html.escape(f"Driftless report {from_day} to {to_day}"), plotly=get_plotlyjs(),
        heading=html.escape(f"{from_day} to {to_day}"),
        meta=html.escape(f"{source} · generated {generated} · event days in UTC"),
        kpis=cards, sections="\n".join(sections))


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  :root {{ color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; }}
  body {{ margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); background: #f9fafb; }}
  header {{ padding: 20px 28px 8px; }}
  header h1 {{ margin: 0; font-size: 22px; }}
  header p {{ margin: 4px 0 0; color: var(--muted); }}
  .kpis {{ display: flex; flex-wrap: wrap; gap: 10px; padding: 12px 28px; }}
  .kpi {{ background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; color: var(--muted); min-width: 120px; }}
  .kpi span {{ display: block; font-size: 20px; font-weight: 600; color: var(--ink); }}
  main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; padding: 8px 28px 28px; }}
  .chart {{ background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 0; }}
  .chart h2 {{ margin: 0; font-size: 16px; }}
  .chart .about {{ margin: 2px 0 6px; color: var(--muted); }}
  .chart .query {{ margin: 4px 0 0; color: var(--muted); font: 11px ui-monospace, monospace; }}
  .empty {{ padding: 40px 0; text-align: center; color: var(--muted); }}
</style>
<script>{plotly}</script>
</head>
<body>
<header><h1>Driftless · {heading}</h1><p>{meta}</p></header>
<div class="kpis">{kpis}</div>
<main>
{sections}
</main>
</body>
</html>
"""


def write_report(con: duckdb.DuckDBPyConnection, root: str, out: Path, options: Options) -> Result:
    """Writes the report of the lake at `root` (views `events` and `quarantine` on `con`, see
    lake.delta_views) to `out`: from the day rollups in `options.cache`, else from the
    generated queries over the whole lake."""
    timed = Timer()
    summary = None
    if options.cache is not None:
        from_day, to_day, data, summary = collect_from_rollups(con, root, options, options.cache, timed)
    else:
        from_day, to_day = lake_range(con, options)
        data = collect(con, from_day, to_day, options, timed)
    started = time.monotonic()
    page = render(data, from_day, to_day, options, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    timed.timings["render"] = round(time.monotonic() - started, 3)
    return Result(out, from_day, to_day, sum(r["events"] for r in data["events_per_day"]), timed.timings, summary)


def default_cache() -> Path:
    """$XDG_CACHE_HOME/driftless/rollups, else ~/.cache/driftless/rollups."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driftless" / "rollups"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", type=Path, help="a directory laid out like the bucket: DIR/lake/events/...")
    where.add_argument("--bucket", help="the bucket (AWS_ENDPOINT_URL is honoured)")
    ap.add_argument("--from", dest="from_day", help="first event day, YYYY-MM-DD (default: 29 days before --to)")
    ap.add_argument("--to", dest="to_day", help="last event day, YYYY-MM-DD (default: the newest arrival day)")
    ap.add_argument("--steps", default=DEFAULT_STEPS, help="funnel steps, comma-separated (default: %(default)s)")
    ap.add_argument("--window-hours", type=float, default=24, help="funnel conversion window (default: %(default)s)")
    ap.add_argument("-o", "--output", type=Path, default=Path("report.html"), help="default: %(default)s")
    cache = ap.add_mutually_exclusive_group()
    cache.add_argument("--cache", type=Path, default=default_cache(),
                       help="where the day rollups are kept (default: %(default)s)")
    cache.add_argument("--no-rollups", dest="cache", action="store_const", const=None,
                       help="no rollups: every figure from the generated queries over the whole lake (slower)")
    args = ap.parse_args()
    if args.window_hours <= 0:
        ap.error("--window-hours must be more than 0")
    root = str(args.dir) if args.dir is not None else f"s3://{args.bucket}"
    options = Options(args.from_day, args.to_day, args.steps, int(args.window_hours * 3600), args.cache)
    started = time.monotonic()
    try:
        con = lake.duckdb_connect(s3=args.bucket is not None)
        lake.delta_views(con, root)
        result = write_report(con, root, args.output, options)
    except (LookupError, ValueError, duckdb.Error) as e:
        sys.exit(f"report: {e}")
    size = result.path.stat().st_size
    rolled = ""
    if result.rollups is not None:
        rolled = f", rollups: {result.rollups['built']} of {result.rollups['days']} days built, the rest cached"
    print(f"wrote {result.path} ({size / 1024:,.0f} KiB): {result.events:,} events, {result.from_day} to "
          f"{result.to_day}, in {time.monotonic() - started:.1f}s{rolled} ({json.dumps(result.timings)})")


if __name__ == "__main__":
    main()
