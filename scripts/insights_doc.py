"""Writes the "Insights" section of docs/query.md: each generated insight query (its question,
its DuckDB SQL, how to run it) with its answer on the demo data.

    make demo && .venv/bin/python scripts/insights_doc.py          # the local stack's lake
    .venv/bin/python scripts/insights_doc.py --dir DIR             # a Delta lake laid out like the bucket

The section lies between the markers `<!-- insights:begin -->` and `<!-- insights:end -->`; the
rest of the file is left as it is. tests/insights/test_docs.py checks that the SQL shown is the
SQL that `driftless codegen` generates.
"""

from __future__ import annotations

import argparse
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

import insights
import lake
import report

DOC = Path(__file__).resolve().parent.parent / "docs" / "query.md"
BEGIN, END = "<!-- insights:begin -->", "<!-- insights:end -->"
MAX_ROWS = 8
# The section's order: the views, then the questions as the report shows them.
ORDER = [*insights.VIEWS, "events_per_day", "active_users", "funnel", "retention", "revenue",
         "quality_verdicts", "quality_completeness", "quality_freshness", "quality_bots"]
# What the docs show of each view: a few rows that say what it is for.
SAMPLES = {
    "identities": "SELECT * FROM identities ORDER BY first_seen",
    # The events a browser sent before its user signed in, now theirs.
    "events_stitched": 'SELECT person_id, anonymous_id, user_id, event_type, "timestamp" FROM events_stitched '
                       'WHERE user_id IS NULL AND person_id <> anonymous_id ORDER BY person_id, "timestamp"',
    "sessions": "SELECT * EXCLUDE (anonymous_id) FROM sessions ORDER BY started_at",
}


def header(name: str) -> tuple[str, str]:
    """The question a query answers and the notes of its header, from the generated file."""
    paragraphs, current = [], []
    for line in insights.sql(name).splitlines()[2:]:
        if not line.startswith("--"):
            break
        text = line[2:].strip()
        if text:
            current.append(text)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    question = paragraphs[0].partition(": ")[2]
    notes = paragraphs[1] if len(paragraphs) > 1 and not paragraphs[1].startswith("Reads:") else ""
    return question, notes


def body(name: str) -> str:
    """The query without its generated header comment."""
    return insights.sql(name).split("\n\n", 1)[1].strip()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    columns = list(rows[0])
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        out.append(f"\n… and {len(rows) - MAX_ROWS} more rows.")
    return "\n".join(out) + "\n"


def section(con: duckdb.DuckDBPyConnection, from_day: str, to_day: str, options: report.Options) -> str:
    span = {"from_day": from_day, "to_day": to_day}
    parts = [BEGIN, "", f"Answers below are from `make demo` ({from_day} to {to_day}: one day of 250 simulated "
             "visitors); yours will differ in the numbers, not in the shape.", ""]
    for name in ORDER:
        question, notes = header(name)
        parts += [f"### {question}", "", f"`{name}`{': ' + notes if notes else ''}", "",
                  f"<details><summary><code>queries/duckdb/insights/{name}.sql</code> "
                  f"(Athena: <code>queries/athena/insights/{name}.sql</code>)</summary>", "", "```sql", body(name),
                  "```", "", "</details>", ""]
        if name in insights.VIEWS:
            cur = con.execute(f"{SAMPLES[name]} LIMIT {MAX_ROWS}")
            rows = [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
            count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            parts += [f"On the demo data: {count[0] if count else 0:,} rows; the first ones:", "", table(rows)]
        else:
            params: dict[str, str | int] = dict(span)
            if name == "funnel":
                params |= {"steps": options.steps, "window_seconds": options.window_seconds}
            shown = ", ".join(f"{k} = {v!r}" for k, v in params.items())
            parts += [f"On the demo data ({shown}):", "", table(insights.run(con, name, **params))]
    parts.append(END)
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, help="a Delta lake laid out like the bucket (default: the local stack's)")
    args = ap.parse_args()
    options = report.Options()
    con = lake.duckdb_connect()
    if args.dir is not None:
        lake.delta_views(con, str(args.dir))
    else:
        lake.attach(con)
    insights.create_views(con)
    from_day, to_day = report.lake_range(con, options)
    text = section(con, from_day, to_day, options)
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} section to replace")
    start, end = doc.index(BEGIN), doc.index(END) + len(END)
    DOC.write_text(doc[:start] + text + doc[end:], encoding="utf-8")
    print(f"wrote the insights section of {DOC} ({date.today()})")


if __name__ == "__main__":
    main()
