"""A plain `cargo test --workspace` without the local stack: the tests that need moto's server
(`functions/*/tests/moto.rs`) stop with one line that says how to start it, not with a panic.

Run: .venv/bin/python -m pytest tests/setup -q
(`make test` runs it after `cargo test --workspace`, so nothing is compiled here; run alone, it
builds the two test binaries first.)
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A loopback port nothing listens on (the OS just handed it out and it was closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_moto_tests_say_in_one_line_how_to_start_the_stack():
    port = closed_port()
    proc = subprocess.run(
        # --workspace: the features `cargo test --workspace` built with, so nothing is rebuilt.
        ["cargo", "test", "--locked", "--workspace", "--test", "moto", "--no-fail-fast"],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
        env={**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "RUST_BACKTRACE": "1"},
    )
    output = proc.stdout + proc.stderr
    hint = (f"moto's server (the local stack) is not running at http://127.0.0.1:{port}: start it with "
            f"`MOTO_PORT={port} make stack-up` (or run `make test`, which starts and stops it).")
    assert proc.returncode != 0, output
    # One line per test binary (ingest's and compaction's), and nothing panicked.
    assert output.splitlines().count(hint) == 2, output
    assert "panicked" not in output and "stack backtrace" not in output, output
