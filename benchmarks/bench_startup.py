"""Start-up and no-op re-plan: each command as a fresh process, as a user runs it.

Usage: python benchmarks/bench_startup.py [--size 10000] [--repeat 3] [--src DIR]

Rows (wall time of a new process; the best of --repeat runs, after one warm-up run
that fills the caches under .controller/cache, as a user's second command would):
``plan`` and ``history`` on the example (embedded, applied), ``test`` of
its 3 smoke cases, a no-op ``plan`` of --size generated manifests and an ``apply``
of them with one file edited. Baselines in the same run: ``python -c "import yaml"``
(the interpreter's start-up) and a C-libyaml ``safe_load`` of the same files in a
new process; the rows of --size manifests also print their ratio to that parse (a no-op
plan and an apply of one edited file: ≤ 0.6× and ≤ 0.7× are the goals). ``--src`` times another source tree (a checkout of main, say) with the
same interpreter: the before/after of a change.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, make_repo

LOAD_ALL = (
    "import sys, yaml\n"
    "for p in sys.argv[1:]:\n"
    "    list(yaml.load_all(open(p, 'rb').read(), Loader=yaml.CSafeLoader))\n"
)


def run(argv: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if check and done.returncode not in (0, 2):  # 2: plan --detailed-exitcode found changes
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return elapsed


def best(argv: list[str], cwd: Path, env: dict[str, str], repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        times.append(run(argv, cwd, env))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--src", help="source tree to time instead of this one (PYTHONPATH)")
    args = parser.parse_args()
    # start-up as a user has it: bytecode cached (a shell with PYTHONDONTWRITEBYTECODE would
    # time the compiling of every module edited since its .pyc was last written)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    cli = [sys.executable, "-c", "import sys; from controller.cli import main; sys.exit(main())"]
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        example = tmp_path / "example"
        shutil.copytree(ROOT / "manifests", example, ignore=shutil.ignore_patterns(".controller", "__pycache__"))
        files = sorted(str(p) for p in (example / "assistants").glob("*.yaml"))
        base = best([sys.executable, "-c", "import yaml"], example, env, args.repeat)
        rows.append(('python -c "import yaml" (baseline)', base))
        rows.append((f"C safe_load of the {len(files)} example files", best([sys.executable, "-c", LOAD_ALL, *files], example, env, args.repeat)))
        run([*cli, "apply", ".", "--auto-approve", "--no-smoke"], example, env)
        run([*cli, "plan", "."], example, env)  # warm-up: fills the caches
        rows.append((f"plan, {len(files)} manifests, no changes", best([*cli, "plan", "."], example, env, args.repeat)))
        rows.append(("history blog-writer", best([*cli, "history", "blog-writer"], example, env, args.repeat)))
        rows.append(("test, 3 smoke cases", best([*cli, "test"], example, env, args.repeat)))

        n = args.size
        scaled = len(rows)  # the rows from here on time the --size project: also shown × its parse
        repo = make_repo(tmp_path / "big", n)
        big_files = sorted(str(p) for p in (repo / "assistants").glob("*.yaml"))
        libyaml = best([sys.executable, "-c", LOAD_ALL, *big_files], repo, env, args.repeat)
        rows.append((f"C safe_load of the {len(big_files)} files ({n} manifests)", libyaml))
        run([*cli, "apply", ".", "--auto-approve", "--no-smoke"], repo, env)
        run([*cli, "plan", "."], repo, env)
        rows.append((f"plan, {n} manifests, no changes", best([*cli, "plan", "."], repo, env, args.repeat)))
        edited = Path(big_files[0])
        counter = iter(range(1_000_000))

        def edit() -> None:
            edited.write_text(re.sub(r"Be brief\.[^\n]*", f"Be brief. {next(counter)}", edited.read_text(), count=1))

        rows.append((f"apply, {n} manifests, one file edited",
                     best([*cli, "apply", ".", "--auto-approve", "--no-smoke"], repo, env, args.repeat, before=edit)))

    print(f"\nStart-up ({os.cpu_count()} cores; {'src ' + args.src if args.src else 'this tree'}; best of {args.repeat})")
    print(f"{'what':<48} {'seconds':>8} {'× import yaml':>14} {'× C libyaml parse':>18}")
    for i, (what, seconds) in enumerate(rows):
        ratio = f"{seconds / libyaml:>18.2f}" if i >= scaled else f"{'':>18}"
        print(f"{what:<48} {seconds:>8.3f} {seconds / base:>14.1f} {ratio}")


if __name__ == "__main__":
    main()
