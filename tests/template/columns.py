"""The lake's column table as the Rust library defines it (`driftless columns --format json`), so
template tests compare the template with the one list instead of a copy of it."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@cache
def lake_columns() -> dict:
    """{"partition": "dt", "tables": {"events": [{"name", "type", "hive", "required", "doc"}]}}"""
    built = ROOT / "target" / "debug" / "driftless"
    # `make test` builds the CLI before these tests; a bare pytest run builds it here.
    cmd = [str(built)] if built.is_file() and not os.environ.get("DRIFTLESS_REBUILD_CLI") else [
        "cargo", "run", "--quiet", "-p", "driftless-cli", "--"]
    out = subprocess.run([*cmd, "columns", "--format", "json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=1800, check=True)
    return json.loads(out.stdout)


def hive_columns(table: str) -> list[tuple[str, str]]:
    return [(c["name"], c["hive"]) for c in lake_columns()["tables"][table]]
