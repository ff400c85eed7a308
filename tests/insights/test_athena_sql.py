"""The Athena SQL under queries/athena/ is valid Trino: parsed by sqlglot's Trino dialect, so a
syntax error fails the build, and calling only functions Trino has, so a DuckDB spelling that
slipped into the Athena dialect (getvariable, quantile_disc, json_extract_string, ...) fails too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

ATHENA = Path(__file__).resolve().parents[2] / "queries" / "athena"
INSIGHTS = sorted((ATHENA / "insights").glob("*.sql"))

# Every function the generated Athena SQL may call: each one is in Trino's function reference.
TRINO_FUNCTIONS = {
    "approx_percentile", "avg", "cast", "coalesce", "count", "count_if", "date_add", "date_diff",
    "date_trunc", "fail", "first_value", "json_extract", "json_extract_scalar", "json_format", "lag",
    "lead", "least", "max", "max_by", "min", "min_by", "nullif", "round", "sequence", "split", "sum", "trim",
    "try_cast", "unnest",
}


def statements(path: Path) -> list[exp.Expression]:
    parsed = sqlglot.parse(path.read_text(encoding="utf-8"), read="trino", error_level=ErrorLevel.RAISE)
    return [s for s in parsed if s is not None]


def code(sql: str) -> str:
    """The SQL without its comments, and with every string literal emptied."""
    return re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", sql))


def called_functions(sql: str) -> set[str]:
    """Names written as `name(`, except a table alias with its columns (`AS t(day)`)."""
    return {m.lower() for m in re.findall(r"(?<!AS )\b([A-Za-z_][A-Za-z0-9_]*)\(", code(sql))}


def test_there_is_an_athena_file_for_every_duckdb_insight():
    duckdb = sorted(p.name for p in (ATHENA.parent / "duckdb" / "insights").glob("*.sql"))
    assert [p.name for p in INSIGHTS] == duckdb
    assert len(INSIGHTS) >= 10


@pytest.mark.parametrize("path", INSIGHTS, ids=lambda p: p.stem)
def test_each_insight_is_one_trino_statement(path: Path):
    parsed = statements(path)
    assert len(parsed) == 1
    assert isinstance(parsed[0], (exp.Select, exp.Union, exp.Create)), type(parsed[0])


@pytest.mark.parametrize("path", [*INSIGHTS, ATHENA / "views.sql"], ids=lambda p: p.stem)
def test_athena_sql_calls_only_trino_functions(path: Path):
    unknown = called_functions(path.read_text(encoding="utf-8")) - TRINO_FUNCTIONS
    assert not unknown, f"{path.name} calls functions Trino does not have: {sorted(unknown)}"


def test_the_typed_views_parse_as_trino_too():
    views = statements(ATHENA / "views.sql")
    assert views and all(isinstance(v, exp.Create) for v in views)


@pytest.mark.parametrize("path", INSIGHTS, ids=lambda p: p.stem)
def test_parameters_are_bound_once_each_in_the_order_the_header_gives(path: Path):
    sql = path.read_text(encoding="utf-8")
    documented = re.findall(r"^--   (\w+) +(DATE|VARCHAR|BIGINT) ", sql, flags=re.M)
    placeholders = re.findall(r"CAST\(\? AS (\w+)\) AS (\w+)", sql)
    assert [(name, ty) for ty, name in placeholders] == documented
    assert code(sql).count("?") == len(documented)


def test_a_syntax_error_is_caught():
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse("SELECT a FROM (SELECT 1 AS a", read="trino", error_level=ErrorLevel.RAISE)


def test_a_duckdb_function_in_athena_sql_would_be_caught():
    duckdb_funnel = (ATHENA.parent / "duckdb" / "insights" / "funnel.sql").read_text(encoding="utf-8")
    assert {"getvariable", "quantile_disc", "generate_series"} & (called_functions(duckdb_funnel) - TRINO_FUNCTIONS)
