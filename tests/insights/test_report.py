"""The report of the known-answer lake, opened in headless Chromium (Debian's, driven by
playwright) with the network cut off: no console errors, nothing fetched, every chart drawn with
the marks its data calls for. The screenshot is kept in target/test-artifacts/report.png."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "scripts" / "report.py"
ARTIFACTS = ROOT / "target" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The fixture's range, and a funnel window that lets Ana's purchase (23 hours after she entered) in.
ARGS = ["--from", "2026-11-02", "--to", "2026-11-22", "--window-hours", "48"]

# What each chart must show, from the known answers (test_queries.py): bars, lines, points.
EXPECTED = {
    "events_per_day": {"bars": 21},  # one per (day, event type) with events
    "active_users": {"lines": 3, "points": 3 * 21},  # daily, weekly, monthly over 21 days
    "funnel": {"bars": 4},
    "retention": {"heatmaps": 1, "cells": 6},  # 3 cohorts: 3 + 2 + 1 weeks
    "revenue": {"bars": 3},  # three days with orders
    "quality_verdicts": {"bars": 3},  # three (event type, reason) pairs in the quarantine
    "quality_completeness": {"lines": 1, "points": 10},  # ten arrival days
    "quality_freshness": {"lines": 3, "points": 3 * 10},
    "quality_bots": {"bars": 2},  # the crawler's day and the script's day
}

COUNT_MARKS = """() => Object.fromEntries([...document.querySelectorAll('section.chart')].map(s => [s.dataset.chart, {
  bars: [...s.querySelectorAll('.barlayer .point path, .funnellayer .point path')]
          .filter(p => (p.getAttribute('d') || '').length > 4).length,
  lines: [...s.querySelectorAll('.scatterlayer path.js-line')].filter(p => (p.getAttribute('d') || '').length > 4).length,
  points: s.querySelectorAll('.scatterlayer .points path').length,
  heatmaps: [...s.querySelectorAll('.heatmaplayer image')]
          .filter(i => (i.getAttribute('href') || i.getAttribute('xlink:href') || '').startsWith('data:image/png')).length,
  cells: s.querySelectorAll('.heatmaplayer text').length,
}]))"""


def report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPORT), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def report_html(lake_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = report("--dir", str(lake_root), *ARGS, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout and "29 events, 2026-11-02 to 2026-11-22" in done.stdout
    return out


def open_offline(page: Page, path: Path, fetched: list[str], console: list[str]) -> None:
    def only_the_file(route: Route) -> None:
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    def log(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(f"{message.type}: {message.text}")

    page.route("**/*", only_the_file)
    page.on("console", log)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.goto(path.as_uri())
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length === 9"
        " && [...document.querySelectorAll('.js-plotly-plot')].every(p => p._fullLayout && p.querySelector('.main-svg'))")


def test_the_report_opens_offline_without_errors_and_draws_every_chart(report_html: Path):
    fetched: list[str] = []
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_offline(page, report_html, fetched, console)
            marks = page.evaluate(COUNT_MARKS)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            kpis = page.locator(".kpi").all_inner_texts()
        finally:
            browser.close()
    assert console == []
    assert fetched == [], "the report must work offline"
    for chart, expected in EXPECTED.items():
        assert {k: marks[chart][k] for k in expected} == expected, chart
    assert set(marks) == set(EXPECTED)
    # Humans' events; the bots' three of the 32 accepted are in the bot share alone.
    assert "29\nevents" in kpis and "3\norders" in kpis and "170.00\nrevenue EUR" in kpis
    assert "9.38%\nbots" in kpis
    assert (ARTIFACTS / "report.png").stat().st_size > 100_000


def test_the_report_is_one_self_contained_file(report_html: Path):
    page = report_html.read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page
    assert page.count('class="chart"') == 9
    assert "queries/duckdb/insights/funnel.sql" in page


def test_a_range_without_orders_says_so_instead_of_an_empty_chart(lake_root: Path, tmp_path: Path):
    out = tmp_path / "quiet.html"
    done = report("--dir", str(lake_root), "--from", "2026-11-19", "--to", "2026-11-22", "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "No orders in this range." in page and "No one entered the funnel in this range." in page


def test_the_default_range_is_the_30_days_up_to_the_newest_arrival(lake_root: Path, tmp_path: Path):
    done = report("--dir", str(lake_root), "-o", str(tmp_path / "default.html"))
    assert done.returncode == 0, done.stderr
    # The lake's first arrival day is later than 30 days before its last.
    assert "2026-11-02 to 2026-11-18" in done.stdout


def test_a_second_report_of_the_same_lake_reads_the_rollups_of_the_first(lake_root: Path, tmp_path: Path,
                                                                        rollup_cache: Path):
    first = report("--dir", str(lake_root), *ARGS, "-o", str(tmp_path / "first.html"))
    second = report("--dir", str(lake_root), *ARGS, "-o", str(tmp_path / "second.html"))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "rollups: 0 of 10 days built, the rest cached" in second.stdout
    assert list(rollup_cache.glob("*/event_counts/dt=*/*.parquet"))
    without = report("--dir", str(lake_root), *ARGS, "--no-rollups", "-o", str(tmp_path / "scanned.html"))
    assert without.returncode == 0, without.stderr
    assert "29 events, 2026-11-02 to 2026-11-22" in without.stdout and "rollups" not in without.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-11-22", "--to", "2026-11-02"], "--from 2026-11-22 is after --to 2026-11-02"),
    (["--from", "22/11/2026", "--to", "2026-11-30"], "--from '22/11/2026' is not a day: write YYYY-MM-DD"),
])
def test_a_bad_range_says_what_to_fix(lake_root: Path, tmp_path: Path, args: list[str], message: str):
    done = report("--dir", str(lake_root), *args, "-o", str(tmp_path / "x.html"))
    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "x.html").exists()


def test_a_directory_without_a_lake_is_an_error_that_says_so(tmp_path: Path):
    done = report("--dir", str(tmp_path), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 1
    assert "lake/events is not a Delta table" in done.stderr and "compact the lake first" in done.stderr
