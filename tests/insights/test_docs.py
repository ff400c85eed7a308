"""docs/query.md shows every insight with the SQL that `driftless codegen` generates for it, so the
docs cannot drift from the queries (scripts/insights_doc.py rewrites the section from a lake)."""

from __future__ import annotations

from pathlib import Path

import insights
import insights_doc
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "query.md"
NAMES = sorted(p.stem for p in insights.INSIGHTS.glob("*.sql"))


def shown() -> str:
    doc = DOC.read_text(encoding="utf-8")
    return doc[doc.index(insights_doc.BEGIN):doc.index(insights_doc.END)]


def test_the_section_lists_every_insight_in_its_order():
    assert sorted(insights_doc.ORDER) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_the_docs_show_the_current_query_and_an_answer(name: str):
    section = shown()
    assert f"```sql\n{insights_doc.body(name)}\n```" in section, "run scripts/insights_doc.py after `driftless codegen`"
    after = section[section.index(f"queries/duckdb/insights/{name}.sql"):]
    assert "On the demo data" in after.split("</details>", 1)[1].split("### ", 1)[0]
