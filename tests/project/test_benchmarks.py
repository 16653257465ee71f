"""The benchmark scripts keep working: each runs at a tiny size (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT

BENCHMARKS = ROOT / "benchmarks"


@pytest.mark.parametrize("script, args", [
    ("bench_startup.py", ["--size", "8", "--repeat", "1"]),
    ("bench_embedded.py", ["--sizes", "8"]),
    ("bench_remote.py", ["--sizes", "8", "--edits", "3"]),  # langgraph dev behind the latency proxy
    ("bench_watch.py", ["--sizes", "8", "--edits", "2", "--baseline-runs", "1", "--settle", "0.2"]),
    ("bench_authoring.py", ["--manifests", "12", "--defaults", "2", "--prompts", "4", "--repeat", "1", "--edits", "2"]),
])
def test_benchmark_script_runs_at_a_tiny_size(script, args):
    done = subprocess.run([sys.executable, script, *args], cwd=BENCHMARKS, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "×" in done.stdout  # the table, with its ratios to the baselines
    if script == "bench_remote.py":
        assert "ms CPU/request" in done.stdout and "asyncio script" in done.stdout
