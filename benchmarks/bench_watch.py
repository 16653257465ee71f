"""`controller watch` on the embedded target: latency from a manifest edit to the change applied.

Usage: python benchmarks/bench_watch.py [--sizes 10,100,1000,10000] [--edits 10] [--large-edits 5]

Per size, a generated repository (make_repo, plus one smoke case on writer-00000) is applied
once; then `controller watch . -o json` runs as a subprocess, with --no-smoke and with smoke
on. After its first reconcile-finished, writer-00000's system_prompt is edited K times;
latency = arrival on watch's stdout of its `applied` event (and of the reconcile-finished
after it) − the end of the file write; median and p90. With smoke on (`smoke: after`),
`applied` is printed before the smoke run: reconcile-finished is the smoke-gated figure.
The latency includes watchfiles' debouncing (engine/folder.py's STEP_MS=20: changes are yielded once
none came for 20 ms; DEBOUNCE_MS caps the grouping): ~20-40ms of each figure. A pass after an
edit is incremental (only the edited file re-planned); the note counts the passes by scope.
Sizes of 10,000 and more make --large-edits edits (their full passes take seconds).
Missed edits, extra reconciles/applies, errors and watch's exit code after SIGINT are printed.
Baseline (same run): what a user does without watch, a one-shot `controller apply .
--auto-approve --no-smoke` subprocess after a similar edit (cold start + load + plan + apply).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import make_repo, table

CONTROLLER = str(Path(sys.executable).with_name("controller"))
NAME = "writer-00000"
SMOKE = ('  smoke:\n    - name: writes a blog post\n      input: {text: "hello"}\n'
         '      expect:\n        - {path: out, contains: "# Blog post"}\n')
edits = 0


def edit(repo: Path) -> float:
    """Change writer-00000's system_prompt to a new value; the time the write finished."""
    global edits
    edits += 1
    path = repo / "assistants" / "batch-00000.yaml"
    path.write_text(re.sub(r"You are writer number 0\b[^\n]*", f"You are writer number 0 (edit {edits}).", path.read_text()))
    return time.perf_counter()


def stats(xs: list[float]) -> tuple[float, str]:
    p90 = statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]
    return statistics.median(xs), f"p90 {p90:.3f}s, min {min(xs):.3f}s, max {max(xs):.3f}s, n={len(xs)}"


def apply(repo: Path) -> float:
    start = time.perf_counter()
    subprocess.run([CONTROLLER, "apply", ".", "--auto-approve", "--no-smoke"], cwd=repo, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


class Watch:
    def __init__(self, repo: Path, smoke: bool, log: Path):
        self.start, self.events = time.perf_counter(), queue.Queue()
        argv = [CONTROLLER, "watch", ".", "-o", "json", "--interval", "1h", *([] if smoke else ["--no-smoke"])]
        self.proc = subprocess.Popen(argv, cwd=repo, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put((time.perf_counter(), json.loads(line)))
        self.events.put((time.perf_counter(), {"event": "eof"}))

    def until(self, kind: str, seen: list, name: str | None = None, timeout: float = 30.0) -> float:
        """Read events (into seen) until one of this kind (for this assistant) arrives; its arrival time."""
        deadline = time.perf_counter() + timeout
        while True:
            at, e = self.events.get(timeout=max(0.01, deadline - time.perf_counter()))
            seen.append(e)
            if e["event"] == "eof":
                raise RuntimeError(f"watch exited: {seen}")
            if e["event"] == kind and name in (None, e.get("name")):
                return at

    def drain(self, wait: float, seen: list) -> None:
        with contextlib.suppress(queue.Empty, RuntimeError):
            self.until("eof", seen, timeout=wait)  # everything arriving within wait (or until stdout closes)


def bench_watch(repo: Path, smoke: bool, k: int, settle: float) -> tuple[list, str]:
    label = "smoke on" if smoke else "--no-smoke"
    log = repo.parent / f"watch-{repo.name}-{int(smoke)}.log"
    w, seen = Watch(repo, smoke, log), []
    rows = [(f"watch {label}: start → first reconcile-finished", w.until("reconcile-finished", seen, timeout=600) - w.start, "")]
    applied, finished, missed, seen = [], [], 0, []
    for _ in range(k):
        wrote = edit(repo)
        try:
            applied.append(w.until("applied", seen, NAME) - wrote)
            finished.append(w.until("reconcile-finished", seen) - wrote)
        except queue.Empty:
            missed += 1
        w.drain(settle, seen)  # anything more that arrives is a stray (double) reconcile
    w.proc.send_signal(signal.SIGINT)
    w.drain(30.0, seen)  # until watch's stdout closes
    code = w.proc.wait(timeout=30)
    kinds = [e["event"] for e in seen]
    stopped = [e.get("exit_code") for e in seen if e["event"] == "stopped"]
    scopes = [e.get("scope") for e in seen if e["event"] == "reconcile-started"]
    note = (f"watch {label}: {k} edits, {missed} missed, {len(scopes)} reconciles "
            f"({scopes.count('changed')} incremental, {scopes.count('full')} full), "
            f"{kinds.count('applied')} applied, {kinds.count('smoke')} smoke, {kinds.count('error')} errors, "
            f"{kinds.count('drift')} drift; SIGINT → exit code {code}, stopped event exit_code={stopped}")
    for e in seen:
        if e["event"] in ("error", "drift") or (e["event"] == "smoke" and not e.get("passed")):
            note += f"\n  {e}"
    note += "".join(f"\n  stderr: {line}" for line in log.read_text().splitlines()[:5])
    for what, xs in (("edit → applied", applied), ("edit → reconcile-finished", finished)):
        if xs:
            rows.append((f"watch {label}: {what} (median)", *stats(xs)))
    return rows, note


def bench(n: int, tmp: Path, k: int, runs: int, settle: float) -> None:
    """One size: the baseline, then watch with --no-smoke and with smoke on."""
    repo = make_repo(tmp / f"repo-{n}", n)
    path = repo / "assistants" / "batch-00000.yaml"
    first, sep, rest = path.read_text().partition("---\n")
    path.write_text(first + SMOKE + sep + rest)
    apply(repo)
    times = []
    for _ in range(runs):  # the baseline: edit, then a one-shot apply (the write itself takes ~0.1ms)
        edit(repo)
        times.append(apply(repo))
    base, base_note = stats(times)
    rows = [("one-shot apply --no-smoke after an edit (baseline)", base, base_note)]
    notes = []
    for more, note in (bench_watch(repo, smoke, k, settle) for smoke in (False, True)):
        rows, notes = rows + more, notes + [note]
    table(f"controller watch, embedded, {n} manifests (baseline: one-shot apply --no-smoke, {base:.3f}s)", rows, base)
    print("\n".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--edits", type=int, default=10, help="edits per watch run (K)")
    parser.add_argument("--large-edits", type=int, default=5, help="edits per watch run at 10,000 manifests and more")
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=0.5, help="seconds to wait after each edit's reconcile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            bench(n, Path(tmp), args.large_edits if n >= 10_000 else args.edits, args.baseline_runs, args.settle)


if __name__ == "__main__":
    main()
