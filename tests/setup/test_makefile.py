"""The Makefile's set-up: `make test` builds from Cargo.lock as it is, and the benchmarks compile on
every core and pin only what they measure.

Run: .venv/bin/python -m pytest tests/setup -q
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def recipe(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert found, f"no `make {target}` target"
    return [line.strip() for line in found.group(1).splitlines()]


def test_bench_builds_on_every_core_and_pins_only_the_measured_runs():
    lines = recipe("bench")
    pinned = [line for line in lines if line.startswith("taskset")]
    assert pinned, "the per-core figures need a pinned run"
    built = set()
    for line in lines:
        built |= set(re.findall(r"cargo build .*--example (\w+)", line))
        if line.startswith("taskset"):
            assert "cargo" not in line, f"compiles on one core: {line}"
            binary = re.fullmatch(r"taskset -c \d+ target/release/examples/(\w+)( [^;&|]*)?", line)
            assert binary, f"pins something other than a built benchmark: {line}"
            assert binary.group(1) in built, f"{binary.group(1)} is run before `cargo build` builds it"


def test_make_test_builds_the_rust_crates_of_cargo_lock():
    for target in ("lint", "test-schema", "test-rust"):
        for line in recipe(target):
            if re.match(r"cargo (test|clippy|build)\b", line):
                assert "--locked" in line, f"make {target}: {line} may update Cargo.lock instead of failing"
