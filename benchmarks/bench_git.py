"""Time from `git push` to applied, with `controller watch --git`: webhook vs polling.

Each run serves a bare repository with a real ``git daemon`` on loopback, starts
`controller watch --git URL --listen 127.0.0.1:PORT -o json` on the embedded target
(no smoke tests: we time the git path, not the graph), then pushes N commits that each
change one assistant. The clock starts when ``git push`` returns and stops when the
watch prints the ``applied`` event for that commit. With the webhook, the push is
followed by a signed ``POST /hooks/git``; with polling, the watch finds it on its own
(``--interval``); pushes are spread at random over the polling cycle, so the expected
p50 is about half the interval plus the pass itself.

    .venv/bin/python benchmarks/bench_git.py [--pushes 10] [--poll 5s]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
IDENTITY = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@e", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@e"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **IDENTITY}, timeout=60).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def controller() -> list[str]:
    beside = Path(sys.executable).parent / "controller"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "controller.cli"]


def run(mode: str, pushes: int, poll: str, tmp: Path) -> list[float]:
    served = tmp / f"served-{mode}"
    served.mkdir()
    git_port, http_port = free_port(), free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={git_port}",
                               "--export-all", "--enable=receive-pack", f"--base-path={served}", str(served)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    watch = None
    try:
        wait_port(git_port)
        url = f"git://127.0.0.1:{git_port}/repo.git"
        git(served, "init", "--quiet", "--bare", "--initial-branch=main", "repo.git")
        work = tmp / f"work-{mode}"
        shutil.copytree(ROOT / "manifests", work, ignore=shutil.ignore_patterns(".controller", "__pycache__"))
        git(work, "init", "--quiet", "-b", "main")
        git(work, "remote", "add", "origin", url)
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", "initial")
        git(work, "push", "--quiet", "origin", "main")
        interval = "3600s" if mode == "webhook" else poll
        env = {**os.environ, "CONTROLLER_WEBHOOK_SECRET": SECRET, "NO_COLOR": "1"}
        env.pop("MODEL", None)
        watch = subprocess.Popen([*controller(), "watch", "--git", url, "--workdir", str(tmp / f"wd-{mode}"),
                                  "--listen", f"127.0.0.1:{http_port}", "--interval", interval, "--no-smoke",
                                  "-o", "json"], cwd=tmp, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        events: queue.Queue[dict] = queue.Queue()

        def read() -> None:
            for line in watch.stdout:
                events.put(json.loads(line))

        threading.Thread(target=read, daemon=True).start()

        def until(predicate, timeout: float = 120) -> dict:
            deadline = time.monotonic() + timeout
            while True:
                event = events.get(timeout=max(0.1, deadline - time.monotonic()))
                if predicate(event):
                    return event
                if time.monotonic() > deadline:
                    raise SystemExit("timed out waiting for the watch")

        until(lambda e: e["event"] == "reconcile-finished" and e["trigger"] == "start")
        blog = work / "assistants" / "blog-writer.yaml"
        text = blog.read_text()
        times = []
        rng = random.Random(42)
        seconds = float(poll.rstrip("s")) if poll.endswith("s") and not poll.endswith("ms") else 5.0
        for i in range(pushes):
            if mode == "poll":  # pushes arrive at random moments of the polling cycle, as in real life
                time.sleep(rng.uniform(0, seconds))
            blog.write_text(text.replace("Keep paragraphs short.", f"Keep paragraphs short ({i})."))
            git(work, "commit", "--quiet", "-am", f"push {i}")
            git(work, "push", "--quiet", "origin", "main")
            start = time.perf_counter()
            if mode == "webhook":
                body = b"{}"
                import hashlib
                import hmac
                sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                request = urllib.request.Request(f"http://127.0.0.1:{http_port}/hooks/git", data=body, method="POST",
                                                 headers={"X-Hub-Signature-256": sig})
                urllib.request.urlopen(request, timeout=10).read()
            until(lambda e: e["event"] == "applied" and e["name"] == "blog-writer")
            times.append(time.perf_counter() - start)
        return times
    finally:
        if watch is not None:
            watch.send_signal(signal.SIGTERM)
            watch.wait(timeout=60)
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--poll", default="5s")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("webhook", "poll"):
            times = run(mode, args.pushes, args.poll, Path(tmp))
            label = "webhook" if mode == "webhook" else f"polling every {args.poll}"
            rows.append((label, statistics.median(times), min(times), max(times)))
    print(f"push → applied, {args.pushes} pushes each (embedded target, no smoke tests)")
    print(f"{'trigger':<20} {'p50':>8} {'min':>8} {'max':>8}")
    for label, p50, lo, hi in rows:
        print(f"{label:<20} {p50:>7.2f}s {lo:>7.2f}s {hi:>7.2f}s")


if __name__ == "__main__":
    main()
