"""The insight queries and the report, on the known-answer lake of lake_fixture.py."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import insights  # noqa: E402
import lake  # noqa: E402
from lake_fixture import write_lake  # noqa: E402


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def con(lake_root: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB over the fixture's Delta tables, with the typed and insight views."""
    con = lake.duckdb_connect()
    lake.delta_views(con, str(lake_root))
    insights.create_views(con)
    return con
