"""`controller eval`: runs go out concurrently, on the embedded target and on `langgraph dev`.

Usage: python benchmarks/bench_evals.py [--runs 200] [--wait 0.1] [--concurrency 8] [--jobs 16]

One assistant of tests/fixtures/project's `slow` graph (a run sleeps ``--wait`` seconds, as a
model call waits on the network) with one eval of ``--runs`` cases, run by `controller eval`
in-process, first with the eval's ``concurrency: 1`` (the baseline, measured in the same run)
and then with ``--concurrency``:
- on the embedded target (each run in its own thread);
- on a fresh `langgraph dev` started for this benchmark with ``--n-jobs-per-worker`` ``--jobs``
  (the server runs at most that many runs at once; its default of 10 in the tests is 4).
The ideal speed-up is the concurrency itself; what is lost goes to the runs' own overhead
(a request, a thread, a graph invocation) and, on a server, its queue.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _common import ROOT, cpu_note, quiet_cli, timed

sys.path.insert(0, str(ROOT / "tests"))
from server import AgentServer


def make_project(folder: Path, runs: int, wait: float) -> Path:
    (folder / "graphs").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "project" / "graphs" / "slow.py", folder / "graphs" / "slow.py")
    (folder / "langgraph.json").write_text('{"dependencies": ["."], "graphs": {"slow": "./graphs/slow.py:graph"}}\n')
    (folder / "controller.yaml").write_text(
        "apiVersion: assistant-controller/v1\nkind: Config\nowner: bench\n"
        "targets:\n  local: {embedded: .controller/state.db, graphs: ./langgraph.json}\n")
    cases = "".join(f"        - {{name: run {i}, input: {{seconds: {wait}}}}}\n" for i in range(runs))
    (folder / "waiter.yaml").write_text(
        "apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {name: waiter}\nspec:\n  graph: slow\n"
        "  evals:\n    - name: waits\n      concurrency: 1\n      cases:\n" + cases)
    return folder


def evaluate(folder: Path, concurrency: int, *target: str) -> float:
    """Seconds of `controller eval` with the eval's concurrency set to ``concurrency``."""
    manifest = folder / "waiter.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("concurrency: 1\n", f"concurrency: {concurrency}\n"))
    try:
        seconds, code = timed(quiet_cli, "eval", *target)
    finally:
        manifest.write_text(text)
    assert code == 0, f"controller eval exited {code}"
    return seconds


def measure(folder: Path, concurrency: int, *target: str) -> tuple[float, float]:
    assert quiet_cli("apply", ".", "--auto-approve", "--no-smoke", *target) == 0
    return evaluate(folder, 1, *target), evaluate(folder, concurrency, *target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--wait", type=float, default=0.1, help="seconds each run sleeps")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=16, help="langgraph dev --n-jobs-per-worker")
    args = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_project(Path(tmp) / "project", args.runs, args.wait)
        os.chdir(folder)
        rows = [("embedded", *measure(folder, args.concurrency))]
        server = AgentServer(folder, Path(tmp) / "server", n_jobs=args.jobs)
        try:
            server.start()
            rows.append((f"langgraph dev (--n-jobs-per-worker {args.jobs})",
                         *measure(folder, args.concurrency, "--url", server.url)))
        finally:
            server.stop()
    ideal = args.runs * args.wait
    print(f"\n{args.runs} runs of a graph that waits {args.wait * 1000:.0f} ms (sequential ideal {ideal:.1f} s; {cpu_note()})")
    print(f"{'target':<42} {'concurrency 1 (baseline)':>25} {f'concurrency {args.concurrency}':>15} {'× faster':>9}")
    for target, sequential, concurrent in rows:
        print(f"{target:<42} {sequential:>23.2f} s {concurrent:>13.2f} s {sequential / concurrent:>8.1f}×")


if __name__ == "__main__":
    main()
