"""Shared helpers for the benchmark scripts: timing and the table they print."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def quiet_cli(*argv: str) -> int:
    """Run the CLI in-process with its output thrown away (rendering 10,000 changes is not what we time)."""
    from controller.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(argv))


def make_repo(folder: Path, n: int, *, owner: str = "bench") -> Path:
    """A repository with n generated manifests (4 per file) and the demo graphs."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(ROOT / "manifests" / "graphs", folder / "graphs")
    shutil.copy(ROOT / "manifests" / "langgraph.json", folder / "langgraph.json")
    (folder / "controller.yaml").write_text(
        f"apiVersion: assistant-controller/v1\nkind: Config\nowner: {owner}\n"
        "targets:\n  local: {embedded: .controller/state.db, graphs: ./langgraph.json}\n"
    )
    docs = []
    for i in range(n):
        docs.append(
            "apiVersion: assistant-controller/v1\nkind: Assistant\n"
            f"metadata: {{name: writer-{i:05d}, labels: {{team: t{i % 7}}}}}\n"
            "spec:\n  graph: writer\n"
            f"  description: Generated assistant {i}\n"
            "  config:\n    configurable:\n      style: blog\n"
            f"      system_prompt: |\n        You are writer number {i}.\n        Be brief.\n"
            f"  metadata: {{cost_center: cc-{i % 13}}}\n"
        )
    (folder / "assistants").mkdir()
    for start in range(0, n, 4):
        (folder / "assistants" / f"batch-{start:05d}.yaml").write_text("---\n".join(docs[start:start + 4]))
    return folder


def table(title: str, rows: list[tuple[str, float, str]], baseline: float) -> None:
    """Print rows of (what, seconds, note) with the ratio to a baseline measured in the same run."""
    print(f"\n{title}")
    print(f"{'what':<52} {'seconds':>9} {'× baseline':>11}  note")
    for what, seconds, note in rows:
        print(f"{what:<52} {seconds:>9.3f} {seconds / baseline:>11.1f}  {note}")


def cpu_note() -> str:
    return f"{os.cpu_count()} cores"
