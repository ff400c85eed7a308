"""Checks of the typed Athena views as Glue tables, in queries/athena/catalog.template.yaml.

Run: .venv/bin/python -m pytest tests/template -q

`driftless codegen` generates the template next to queries/athena/views.sql; template.yaml deploys
it as the nested stack AthenaCatalog. Checked here:
- two views per event type under schema/ (its name, which leaves bots out, and `<name>_all`, which
  keeps them), and the same views as queries/athena/views.sql;
- each is a Presto view (TableType VIRTUAL_VIEW, presto_view = "true", ViewExpandedText) whose
  ViewOriginalText, once CloudFormation has resolved Fn::Sub with a database name and encoded it
  with Fn::Base64, decodes the way Trino decodes it ("/* Presto View: <base64> */", then JSON) to
  the view's SELECT from views.sql, in that database;
- every column of the SELECT, in order, in the definition's columns and in the Glue columns, with
  types that agree with each other, with the lake's column table and with the SQL;
- cfn-lint reports nothing.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfn import load_cfn

ROOT = Path(__file__).resolve().parents[2]
VIEWS_TEMPLATE = ROOT / "queries" / "athena" / "catalog.template.yaml"
VIEWS_SQL = ROOT / "queries" / "athena" / "views.sql"
SCHEMA = ROOT / "schema"

FAKE_DATABASE = "fake_db_1"

# Trino type in the view definition -> Hive type of the Glue column.
TRINO_TO_HIVE = {
    "varchar": "string",
    "bigint": "bigint",
    "integer": "int",
    "double": "double",
    "boolean": "boolean",
    "timestamp(3)": "timestamp",
}


@pytest.fixture(scope="module")
def views() -> dict[str, dict]:
    """TableInput of every view, by view name."""
    doc = load_cfn(VIEWS_TEMPLATE)
    out = {}
    for name, res in doc["Resources"].items():
        assert res["Type"] == "AWS::Glue::Table", name
        if name in ("EventsTable", "QuarantineTable"):  # the Delta tables the views read
            continue
        props = res["Properties"]
        assert props["DatabaseName"] == {"Ref": "GlueDatabase"}, name
        assert props["CatalogId"] == {"Ref": "AWS::AccountId"}, name
        ti = props["TableInput"]
        assert ti["Name"] not in out, ti["Name"]
        out[ti["Name"]] = ti
    return out


@pytest.fixture(scope="module")
def sql_selects() -> dict[str, str]:
    """The SELECT of every view of queries/athena/views.sql, by view name."""
    text = VIEWS_SQL.read_text(encoding="utf-8")
    found = re.findall(r'^CREATE OR REPLACE VIEW "([^"]+)" AS\n(SELECT\n.*?);$', text, re.S | re.M)
    assert len(found) == text.count("CREATE OR REPLACE VIEW")
    return dict(found)


def resolve_sub(value) -> str:
    """What Fn::Sub yields with GlueDatabase = FAKE_DATABASE (the template's only parameter)."""
    assert isinstance(value, str), "Fn::Sub without a variable map"
    names = set(re.findall(r"\$\{(?!!)([^}]*)\}", value))
    assert names == {"GlueDatabase"}, names
    return value.replace("${GlueDatabase}", FAKE_DATABASE).replace("${!", "${")


def resolve_original_text(value) -> str:
    """ViewOriginalText as CloudFormation resolves it: Fn::Join of strings and Fn::Base64(Fn::Sub)."""
    (key, (delimiter, parts)), = value.items()
    assert key == "Fn::Join"
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            (fn, arg), = part.items()
            assert fn == "Fn::Base64"
            (sub, text), = arg.items()
            assert sub == "Fn::Sub"
            out.append(base64.b64encode(resolve_sub(text).encode("utf-8")).decode("ascii"))
    return delimiter.join(out)


def decode_presto_view(text: str) -> dict:
    """Trino's PrestoViewReader.decodeViewData."""
    prefix, suffix = "/* Presto View: ", " */"
    assert text.startswith(prefix) and text.endswith(suffix), text[:40]
    return json.loads(base64.b64decode(text[len(prefix):-len(suffix)], validate=True))


def select_columns(select: str) -> list[tuple[str, str]]:
    """(output name, expression) of every item of a generated SELECT (one item per line)."""
    body = select.split("\n")[1:]
    end = body.index("FROM events")
    assert body[end + 1].startswith("WHERE event_type = "), body[end:]
    assert body[end + 2:] in ([], ["  AND is_bot IS DISTINCT FROM TRUE"]), body[end:]
    out = []
    for line in body[:end]:
        item = line.strip().rstrip(",")
        aliased = re.fullmatch(r'(.+) AS "([^"]+)"', item)
        if aliased:
            out.append((aliased.group(2), aliased.group(1)))
        else:
            bare = re.fullmatch(r'"([^"]+)"', item)
            assert bare, item
            out.append((bare.group(1), item))
    return out


def expression_type(expr: str) -> str:
    """The Trino type of a generated property expression."""
    cast = re.fullmatch(r"TRY_CAST\(.* AS (BIGINT|DOUBLE|BOOLEAN)\)", expr)
    if cast:
        return cast.group(1).lower()
    assert expr.startswith(("json_extract_scalar(", "json_format(")), expr
    return "varchar"


def events_table_columns() -> dict[str, str]:
    """Hive type of every column of the lake's events table, partition key included, from the
    column table of shared/src/record."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from columns import hive_columns, lake_columns
    finally:
        sys.path.pop(0)
    return dict(hive_columns("events")) | {lake_columns()["partition"]: "string"}


def test_one_view_per_event_type_and_the_same_views_as_the_sql(views, sql_selects):
    event_types = sorted(p.name for p in SCHEMA.iterdir() if p.is_dir())
    assert event_types
    names = sorted(n for t in event_types for n in (t, f"{t}_all"))
    assert sorted(views) == names
    assert sorted(sql_selects) == names


def test_the_view_of_an_event_type_leaves_bots_out_and_its_all_twin_keeps_them(sql_selects):
    for name, select in sql_selects.items():
        hides_bots = select.endswith("\n  AND is_bot IS DISTINCT FROM TRUE")
        assert hides_bots != name.endswith("_all"), name
        if hides_bots:
            twin = sql_selects[f"{name}_all"]
            assert select.removesuffix("\n  AND is_bot IS DISTINCT FROM TRUE") == twin, name


def test_views_are_presto_views(views):
    for name, ti in views.items():
        assert ti["TableType"] == "VIRTUAL_VIEW", name
        assert ti["Parameters"] == {"presto_view": "true", "comment": "Presto View"}, name
        assert ti["ViewExpandedText"] == "/* Presto View */", name
        assert ti["Description"].startswith(f"{name} "), name
        assert len(ti["Description"]) <= 2048, name


def test_view_definition_decodes_to_the_select_of_views_sql(views, sql_selects):
    for name, ti in views.items():
        definition = decode_presto_view(resolve_original_text(ti["ViewOriginalText"]))
        assert definition["originalSql"] == sql_selects[name], name
        assert definition["catalog"] == "awsdatacatalog", name
        assert definition["schema"] == FAKE_DATABASE, name
        assert definition["owner"] == "driftless" and definition["runAsInvoker"] is False, name
        assert definition["path"] == [], name


def test_every_column_of_the_select_is_a_column_of_the_view(views, sql_selects):
    lake = events_table_columns()
    for name, ti in views.items():
        definition = decode_presto_view(resolve_original_text(ti["ViewOriginalText"]))
        selected = select_columns(sql_selects[name])
        glue = [(c["Name"], c["Type"]) for c in ti["StorageDescriptor"]["Columns"]]
        trino = [(c["name"], c["type"]) for c in definition["columns"]]
        assert [n for n, _ in selected] == [n for n, _ in trino] == [n for n, _ in glue], name
        for (col, expr), (_, trino_type), (_, hive_type) in zip(selected, trino, glue):
            assert TRINO_TO_HIVE[trino_type] == hive_type, (name, col)
            if expr == f'"{col}"':  # an envelope column, read from the events table as it is
                assert lake[col] == hive_type, (name, col)
            else:
                assert expression_type(expr) == trino_type, (name, col)
        assert ("properties", "string") not in glue, name


def test_timestamps_are_what_athena_reads_from_the_lake(views):
    for name, ti in views.items():
        definition = decode_presto_view(resolve_original_text(ti["ViewOriginalText"]))
        types = {c["name"]: c["type"] for c in definition["columns"]}
        for col in ("timestamp", "client_timestamp", "sent_at", "received_at"):
            assert types[col] == "timestamp(3)", (name, col)
        assert types["dt"] == "varchar" and types["seq"] == "bigint", name
        assert types["screen_width"] == "integer", name


def test_a_dollar_brace_in_the_sql_survives_fn_sub():
    assert resolve_sub('{"s": "${!x}", "d": "${GlueDatabase}"}') == '{"s": "${x}", "d": "%s"}' % FAKE_DATABASE


def test_cfn_lint_reports_nothing_on_the_views_template():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--", str(VIEWS_TEMPLATE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""
