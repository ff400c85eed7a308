"""Peak memory of the ingest function (release build, served by `cargo lambda watch`) over 10,000
requests of realistic batches, read from /proc as the kernel's high-water mark (VmHWM)."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ENDPOINT = os.environ.get("DRIFTLESS_ENDPOINT", "http://127.0.0.1:9000/lambda-url/ingest/v1/batch")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "10000"))
EVENTS = 20


def batch(r: int) -> bytes:
    events = [{
        "event_id": f"01936f4e-8a3c-7b2d-9f10-{r * EVENTS + i:012x}",
        "event_type": "product_viewed", "schema_version": "1-0-0",
        "timestamp": "2026-11-28T14:30:21.950Z", "anonymous_id": f"anon-{r % 500}",
        "session_id": "s-1", "seq": i,
        "context": {"page": {"url": "https://shop.example/p/42"}, "locale": "de-DE"},
        "properties": {"product_id": f"sku-{i}", "price": 89.9, "currency": "EUR"},
    } for i in range(EVENTS)]
    if r % 10 == 0:
        events[0]["properties"]["price"] = "89.90"  # some rejections, as in real traffic
    return json.dumps({"sent_at": "2026-11-28T14:30:22.123Z", "events": events}).encode()


def send(r: int) -> int:
    # The local stack's server key (scripts/stack.sh); ignored by a keyless function.
    headers = {"content-type": "text/plain", "x-driftless-key": os.environ.get("DRIFTLESS_KEY", "dk_local_server")}
    req = urllib.request.Request(ENDPOINT, data=batch(r), headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def function_pid() -> int:
    out = subprocess.run(["pgrep", "-f", "target/release/ingest$"], capture_output=True, text=True).stdout.split()
    if not out:
        sys.exit("no release ingest process: start the stack with DRIFTLESS_RELEASE=1")
    return int(out[0])


def vm(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def main() -> None:
    send(0)
    pid = function_pid()
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(send, range(REQUESTS)))
    elapsed = time.monotonic() - started
    bad = [s for s in statuses if s != 200]
    print(f"{REQUESTS} requests of {EVENTS} events in {elapsed:.1f}s ({REQUESTS / elapsed:.0f} req/s through the emulator and moto); non-200: {len(bad)}")
    print(f"ingest (release) peak RSS VmHWM: {vm(pid, 'VmHWM') / 1024:.1f} MiB, current RSS: {vm(pid, 'VmRSS') / 1024:.1f} MiB (goal: under 40 MB)")


if __name__ == "__main__":
    main()
