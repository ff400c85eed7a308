#!/usr/bin/env python3
"""Writes shared/data/uap-core-regexes.json from the uap-core regexes the `ua-parser` crate ships.

The ingest function parses user agents with the ua-parser project's Rust port, which takes its
regexes as data. They are compiled into the function from this JSON copy (no YAML parser at cold
start), limited to the two lists it uses: browsers (`user_agent_parsers`) and operating systems
(`os_parsers`). Run it after the crate's version changes in Cargo.lock (`make ua-regexes`);
tests/setup/test_ua_regexes.py fails while the copy differs from the locked crate's regexes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "shared" / "data" / "uap-core-regexes.json"
LISTS = ("user_agent_parsers", "os_parsers")


def crate_regexes() -> tuple[str, Path]:
    """The locked ua-parser crate's version and the path of the regexes.yaml it ships."""
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    for package in meta["packages"]:
        if package["name"] == "ua-parser":
            manifest = Path(package["manifest_path"])
            return package["version"], manifest.parent / "uap-core" / "regexes.yaml"
    raise SystemExit("ua-parser is not in Cargo.lock: add it to the workspace first")


def converted() -> dict[str, Any]:
    version, path = crate_regexes()
    with path.open(encoding="utf-8") as f:
        regexes = yaml.safe_load(f)
    out: dict[str, Any] = {
        "source": f"uap-core regexes.yaml (Apache-2.0) as shipped by the ua-parser crate {version}"
    }
    for name in LISTS:
        out[name] = regexes[name]
    return out


def render(data: dict[str, Any]) -> str:
    # One parser per line: a diff after an update shows which rules changed.
    lines = ["{", f'  "source": {json.dumps(data["source"])},']
    for i, name in enumerate(LISTS):
        lines.append(f'  "{name}": [')
        rules = data[name]
        for j, rule in enumerate(rules):
            comma = "," if j < len(rules) - 1 else ""
            lines.append("    " + json.dumps(rule, ensure_ascii=False) + comma)
        lines.append("  ]" + ("," if i < len(LISTS) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the copy is stale")
    args = parser.parse_args()
    text = render(converted())
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run make ua-regexes", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
