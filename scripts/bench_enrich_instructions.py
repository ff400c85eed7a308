"""Ingest's cost in instructions per event, against the peer (`serde_json::from_slice::<Value>` of
the same bytes), and what enrichment (source key, user-agent parsing, bot rules, geo) adds: the
ingest bench's passes counted by valgrind's callgrind, which counts the same for the same binary
and input however busy the machine is (a timing on these shared machines can move by 20% between
two runs of one binary).

    .venv/bin/python scripts/bench_enrich_instructions.py target/release/examples/ingest_bench GEOIP.mmdb

Each of the four runs (the peer, enrichment off, on with a warm user-agent cache, on with every
user agent new) is counted with 1 and with 3 passes over the same corpus; the difference over 2
passes is what one pass costs, set-up (schemas, parsers, corpus) left out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

BATCHES = 200
GOAL_PERCENT = 5.0
GOAL_RATIO = 2.0


def instructions(bench: str, geo: str, mode: str, passes: int) -> tuple[int, int]:
    """The instructions of `passes` passes of `mode`, and the events of one pass."""
    env = os.environ | {"INGEST_BENCH_PASSES": f"{mode}:{passes}", "INGEST_BENCH_BATCHES": str(BATCHES)}
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", bench, geo],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{bench} under callgrind ({mode}:{passes}) failed:\n{done.stderr[-2000:]}")
    found = re.search(r"Collected : (\d+)", done.stderr)
    events = re.search(r"events per pass: (\d+)", done.stderr)
    if not found or not events:
        sys.exit(f"callgrind printed no instruction count, or the bench no events per pass:\n{done.stderr[-2000:]}")
    return int(found.group(1)), int(events.group(1))


def per_event(bench: str, geo: str, mode: str) -> tuple[float, int]:
    """Instructions of one pass per event, and the events of a pass."""
    (one, events), (three, _) = instructions(bench, geo, mode, 1), instructions(bench, geo, mode, 3)
    return (three - one) / (2 * events), events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", help="target/release/examples/ingest_bench")
    parser.add_argument("geo", help="the GeoIP database the bench looks addresses up in")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed: it is a Debian package (apt-get install valgrind)")
    peer, events = per_event(args.bench, args.geo, "value")
    off, _ = per_event(args.bench, args.geo, "plain")
    warm, _ = per_event(args.bench, args.geo, "warm")
    cold, _ = per_event(args.bench, args.geo, "cold")
    print(f"corpus: {events} events in {BATCHES} batches; instructions per event, one pass, set-up left out")
    print(f"{'serde_json::from_slice::<Value> (peer)':<56} {peer:>10,.0f}")
    print(f"{'driftless, enrichment off (same requests, not enriched)':<56} {off:>10,.0f}   "
          f"peer/driftless {peer / off:.2f}x (goal >= {GOAL_RATIO:.0f}x, in time)")
    print(f"{'enrichment on, 40 user agents (warm cache)':<56} {warm:>10,.0f}   {100 * (warm / off - 1):+.1f}%")
    print(f"{'enrichment on, every user agent new':<56} {cold:>10,.0f}   {100 * (cold / off - 1):+.1f}%")
    print(f"goal: under +{GOAL_PERCENT:.0f}% per event with enrichment on")


if __name__ == "__main__":
    main()
