"""The report's day rollups (scripts/rollups.py) give every figure exactly as the generated queries
do over the lake, on the known-answer lake and on a few days of the benchmark's traffic; a day is
summarised once and summarised again only when its files change."""

from __future__ import annotations

import shutil
from pathlib import Path

import bench_insights
import duckdb
import insights
import lake
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import report
import rollups
from deltalake import write_deltalake
from lake_fixture import EVENTS_SCHEMA, quarantine_table
from lake_fixture import events_table as fixture_events

FUNNELS = [
    (report.DEFAULT_STEPS, 86_400),
    (report.DEFAULT_STEPS, 172_800),
    # A repeated step (strictly after), a step no one reaches, steps out of the usual order.
    ("page_viewed,page_viewed,product_viewed", 3_600),
    ("product_viewed,cart_item_added,button_clicked", 86_400),
    ("cart_item_added,product_viewed", 600),
]


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    con = lake.duckdb_connect()
    lake.delta_views(con, str(root))
    return con


def both_ways(root: Path, cache: Path, from_day: str, to_day: str, steps: str, window: int) -> tuple[dict, dict]:
    """The report's figures from the rollups, and from the generated queries over the lake."""
    options = report.Options(from_day, to_day, steps, window, cache)
    _, _, rolled, _ = report.collect_from_rollups(connect(root), str(root), options, cache, report.Timer())
    scanned = report.collect(connect(root), from_day, to_day, options, report.Timer())
    return rolled, scanned


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: each lake has its own directory in it, and a later test reads
    the rollups an earlier one wrote."""
    return tmp_path_factory.mktemp("rollups")


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of the benchmark's generated shop traffic: thousands of persons, returning
    browsers, users on several devices, late arrivals, bots and a quarantine."""
    return bench_insights.generate(tmp_path_factory.mktemp("traffic"), days=3, events_per_day=6_000, seed=11)


@pytest.mark.parametrize(("from_day", "to_day"), [
    ("2026-11-02", "2026-11-22"), ("2026-11-04", "2026-11-05"), ("2026-11-09", "2026-11-18"),
    ("2026-11-19", "2026-11-22"), ("2026-10-01", "2026-10-03"),
])
@pytest.mark.parametrize(("steps", "window"), FUNNELS)
def test_the_known_answer_lake_reports_the_same_from_rollups(lake_root: Path, cache: Path, from_day: str,
                                                            to_day: str, steps: str, window: int):
    rolled, scanned = both_ways(lake_root, cache, from_day, to_day, steps, window)
    assert rolled == scanned


@pytest.mark.parametrize(("from_day", "to_day"), [("2026-11-01", "2026-11-03"), ("2026-11-02", "2026-11-02")])
@pytest.mark.parametrize(("steps", "window"), FUNNELS[:3])
def test_generated_traffic_reports_the_same_from_rollups(traffic: Path, cache: Path, from_day: str, to_day: str,
                                                        steps: str, window: int):
    rolled, scanned = both_ways(traffic, cache, from_day, to_day, steps, window)
    assert rolled["funnel"][0]["persons"] > 300
    # The traffic's bots are counted in the quality panel (and left out of the rest, as the
    # generated queries leave them out).
    assert sum(r["bot_events"] for r in rolled["quality_bots"] if r["bot_reason"] is None) > 50
    assert rolled == scanned


def refresh(root: Path, cache: Path) -> rollups.Summary:
    con = connect(root)
    insights.create_views(con)
    return rollups.refresh(con, str(root), cache)


def test_a_day_is_summarised_again_only_when_its_files_change(lake_root: Path, tmp_path: Path):
    root = tmp_path / "lake-copy"
    shutil.copytree(lake_root, root)
    cache = tmp_path / "cache"
    first = refresh(root, cache)
    assert (first.days, len(first.built), first.reused) == (10, 10, 0)
    again = refresh(root, cache)
    assert (again.built, again.reused) == ([], 10)
    # One more event arrives on the 9th: that day alone is summarised again.
    late = fixture_events().filter(pc.field("dt") == "2026-11-09").slice(0, 1)
    late = late.set_column(0, "event_id", pa.array(["e-99"]))
    write_deltalake(str(root / "lake" / "events"), late.cast(EVENTS_SCHEMA), mode="append", partition_by=["dt"])
    changed = refresh(root, cache)
    assert (changed.built, changed.reused) == (["2026-11-09"], 9)
    # The day's older rollup files are gone.
    assert len(list(rollups.lake_directory(cache, str(root)).glob("*/dt=2026-11-09/*.parquet"))) == len(rollups.NAMES)
    rolled, scanned = both_ways(root, cache, "2026-11-02", "2026-11-22", report.DEFAULT_STEPS, 86_400)
    assert rolled == scanned
    assert sum(r["events"] for r in rolled["events_per_day"]) == 30


def test_a_file_rewritten_under_its_name_is_summarised_again(lake_root: Path, tmp_path: Path):
    # Delta would not write this, but a restored backup or a hand-made lake can: same name, same
    # rows, other content. The key's size and modification time see it.
    root = tmp_path / "lake-copy"
    shutil.copytree(lake_root, root)
    cache = tmp_path / "cache"
    assert len(refresh(root, cache).built) == 10
    (part,) = (root / "lake" / "events" / "dt=2026-11-09").glob("*.parquet")
    table = pq.read_table(part)
    moved = pc.add(table.column("timestamp"), pa.scalar(60_000, pa.duration("ms")))
    pq.write_table(table.set_column(table.schema.get_field_index("timestamp"), "timestamp", moved), part)
    changed = refresh(root, cache)
    assert (changed.built, changed.reused) == (["2026-11-09"], 9)


def test_a_lake_without_events_says_so(tmp_path: Path):
    write_deltalake(str(tmp_path / "lake" / "events"), fixture_events().slice(0, 0), partition_by=["dt"])
    write_deltalake(str(tmp_path / "lake" / "quarantine"), quarantine_table(), partition_by=["dt"])
    with pytest.raises(LookupError, match="the lake has no events yet"):
        refresh(tmp_path, tmp_path / "cache")
