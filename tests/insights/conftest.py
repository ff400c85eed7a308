"""The insight queries and the report, on the known-answer lake of lake_fixture.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import insights  # noqa: E402
import lake  # noqa: E402
from lake_fixture import write_lake  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def rollup_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The report's default rollup cache ($XDG_CACHE_HOME/driftless/rollups) in a temporary
    directory, for the reports the tests run in subprocesses too."""
    cache_home = tmp_path_factory.mktemp("cache-home")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache_home)
    yield cache_home / "driftless" / "rollups"
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


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
