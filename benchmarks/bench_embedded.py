"""Embedded target: validate, create, list, plan and apply at 1,000 and 10,000 assistants.

Usage: python benchmarks/bench_embedded.py [--sizes 1000,10000]
Baselines (same run): yaml.safe_load of the same files (for validate/plan/apply) and
raw sqlite3 inserts of the same rows in one transaction (for the target's create).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import yaml
from _common import make_repo, quiet_cli, table, timed

from controller.core.content import Content
from controller.targets.embedded import EmbeddedTarget

ROOT = Path(__file__).resolve().parent.parent


def yaml_baseline(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted((folder / "assistants").glob("*.yaml")):
        list(yaml.safe_load_all(path.read_text()))
    return time.perf_counter() - start


def bench_repo(n: int, tmp: Path) -> None:
    repo = make_repo(tmp / f"repo-{n}", n)
    base = yaml_baseline(repo)
    rows = []
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        t, code = timed(quiet_cli, "validate", ".")
        assert code == 0
        rows.append((f"validate {n} manifests", t, f"{n / t:,.0f} manifests/s"))
        t, code = timed(quiet_cli, "plan", ".")
        rows.append((f"plan {n} (all create, empty target)", t, ""))
        t, code = timed(quiet_cli, "apply", ".", "--auto-approve", "--no-smoke")
        assert code == 0, code
        rows.append((f"apply {n} creates (one transaction)", t, f"{n / t:,.0f} assistants/s"))
        t, code = timed(quiet_cli, "plan", ".", "--detailed-exitcode")
        assert code == 0, code
        rows.append((f"plan {n} (no changes)", t, ""))
        t, code = timed(quiet_cli, "apply", ".", "--auto-approve", "--no-smoke")
        rows.append((f"apply {n} (no changes, zero writes)", t, ""))
        for path in sorted((repo / "assistants").glob("*.yaml"))[: max(1, n // 40)]:
            path.write_text(path.read_text().replace("Be brief.", "Be very brief."))
        t, code = timed(quiet_cli, "apply", ".", "--auto-approve", "--no-smoke")
        assert code == 0, code
        rows.append((f"apply {n} with {max(1, n // 40) * 4} updates", t, ""))
    finally:
        os.chdir(cwd)
    table(f"Embedded, {n} manifests (baseline: yaml.safe_load of the files, {base:.3f}s)", rows, base)


def bench_target(n: int, tmp: Path) -> None:
    content = Content("writer", "W", "d", {"configurable": {"style": "blog", "system_prompt": "x" * 200}}, {}, {"controller/owner": "b"})
    # baseline: raw sqlite3, same rows (JSON text), one transaction
    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE v (id TEXT PRIMARY KEY, graph TEXT, name TEXT, config TEXT, context TEXT, metadata TEXT)")
    body = (content.graph_id, content.name, json.dumps(content.config), json.dumps(content.context), json.dumps(content.metadata))
    start = time.perf_counter()
    db.execute("BEGIN")
    for i in range(n):
        db.execute("INSERT INTO v VALUES (?,?,?,?,?,?)", (f"{i:036d}", *body))
    db.execute("COMMIT")
    base = time.perf_counter() - start

    target = EmbeddedTarget(str(tmp / "target.db"), str(ROOT / "manifests" / "langgraph.json"))
    ids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(n)]

    async def create_all() -> None:
        async with target.batch():
            for assistant_id in ids:
                await target.create(assistant_id, content)

    t_create, _ = timed(asyncio.run, create_all())
    t_list, found = timed(asyncio.run, target.list_assistants({"controller/owner": "b"}))
    assert len(found) == n
    t_get, _ = timed(asyncio.run, target.get(ids[n // 2], versions=True))
    table(
        f"Embedded target API, {n} assistants (baseline: raw sqlite3 inserts, {base:.3f}s)",
        [(f"create {n} in one transaction", t_create, f"{n / t_create:,.0f} rows/s"),
         (f"list {n} (owner filter)", t_list, f"{n / t_list:,.0f} rows/s"),
         ("get one with versions", t_get, "")],
        base,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            bench_target(n, Path(tmp) / f"t{n}" if (Path(tmp) / f"t{n}").mkdir() is None else Path(tmp))
            bench_repo(n, Path(tmp))


if __name__ == "__main__":
    main()
