"""Runs the generated insight queries (`queries/duckdb/insights/`, from `driftless codegen`) on a
DuckDB connection whose `events` and `quarantine` relations are the lake (see lake.py).

    con = lake.duckdb_connect(); lake.delta_views(con, "lake-root")
    insights.create_views(con)
    rows = insights.run(con, "funnel", from_day="2026-11-01", to_day="2026-11-30",
                        steps="page_viewed,product_viewed", window_seconds=86400)
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any

import duckdb

QUERIES = Path(__file__).resolve().parent.parent / "queries" / "duckdb"
INSIGHTS = QUERIES / "insights"
# The views the queries read, in the order they build on each other.
VIEWS = ("identities", "events_stitched", "sessions")

Row = dict[str, Any]


def sql(name: str) -> str:
    path = INSIGHTS / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in INSIGHTS.glob("*.sql")))
        raise LookupError(f"no insight {name!r} in {INSIGHTS} (there are: {known}); run `driftless codegen`?")
    return path.read_text(encoding="utf-8")


def parameters(name: str) -> list[str]:
    """The variables a query reads, from its text."""
    return sorted(set(re.findall(r"getvariable\('(\w+)'\)", sql(name))))


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """The typed views of every event type (views.sql), then the insight views."""
    con.execute((QUERIES / "views.sql").read_text(encoding="utf-8"))
    for view in VIEWS:
        con.execute(sql(view))


def run(con: duckdb.DuckDBPyConnection, name: str, **params: str | int | _dt.date) -> list[Row]:
    """Runs query `name` with its parameters as DuckDB variables; returns its rows as dicts."""
    missing = [p for p in parameters(name) if p not in params]
    unknown = [p for p in params if p not in parameters(name)]
    if missing or unknown:
        raise TypeError(f"{name} takes the parameters {parameters(name)}: "
                        f"missing {missing}, unknown {unknown}")
    for key, value in params.items():
        con.execute(f"SET VARIABLE {key} = ?", [value])
    cur = con.execute(sql(name))
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]
