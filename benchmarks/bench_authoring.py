"""Prompt files and Defaults at scale: what authoring that way costs against the same project inline.

Usage: python benchmarks/bench_authoring.py [--manifests 1000] [--defaults 10] [--prompts 100]
                                            [--repeat 5] [--edits 10]

Two generated projects with the same effective manifests (embedded target, applied once, caches
warm): *authored*, whose assistants read their system prompt from one of --prompts Markdown files
(${file:…}, each file used by manifests/prompts assistants) and take their model, metadata and a
smoke case from one of --defaults Defaults documents (by a team label); and *inline*, the same
values written into every manifest (the baseline, measured in the same run).

Rows: a no-op ``plan`` of each, as a new process, best of --repeat (the issue's budget: authored
≤ 1.2× inline), and ``validate`` (the load store without the target's in-sync record); then ``controller watch . --no-smoke`` on each, and --edits edits of what ten
assistants share (authored: one prompt file; inline: the same change written into the ten manifests
that hold it), latency = the end of the write → watch's reconcile-finished with all ten applied
(p50, p90; the budget: authored p50 ≤ 0.3 s). Baseline of the last rows: a one-shot ``apply``
after the same prompt-file edit (cold start, load, plan, apply).
"""

from __future__ import annotations

import argparse
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import ROOT, table
from bench_watch import CONTROLLER, Watch, stats


def prompt(p: int) -> str:
    """Prompt ``p``: 20 lines of Markdown, with a ``${…}`` that is text."""
    return "".join(f"- Rule {p}.{n}: write clearly; say what matters first; ${{NOT_A_VAR}} stays as written.\n"
                   for n in range(20))


def defaults_doc(k: int) -> str:
    return textwrap.dedent(f"""\
        apiVersion: assistant-controller/v1
        kind: Defaults
        metadata: {{name: team-{k:02d}}}
        selector: {{matchLabels: {{team: t{k:02d}}}}}
        spec:
          config:
            configurable: {{model: "anthropic:claude-{k:02d}"}}
          metadata: {{cost_center: cc-{k:02d}}}
          smoke:
            - name: team {k:02d} writes
              input: {{text: "hello"}}
              expect:
                - {{path: out, contains: "Blog post"}}
        """)


def manifest(i: int, teams: int, prompts: int, inline: bool) -> str:
    k, p = i % teams, i % prompts
    if inline:
        shared = (f'      model: "anthropic:claude-{k:02d}"\n      system_prompt: |\n'
                  + textwrap.indent(prompt(p).replace("${", "$${"), "        "))
        meta = f"  metadata: {{cost_center: cc-{k:02d}}}\n"
        smoke = (f'  smoke:\n    - name: team {k:02d} writes\n      input: {{text: "hello"}}\n'
                 '      expect:\n        - {path: out, contains: "Blog post"}\n')
    else:
        shared, meta, smoke = f"      system_prompt: ${{file:../prompts/p{p:03d}.md}}\n", "", ""
    return ("apiVersion: assistant-controller/v1\nkind: Assistant\n"
            f"metadata: {{name: writer-{i:05d}, labels: {{team: t{k:02d}}}}}\n"
            f"spec:\n  graph: writer\n  description: Generated assistant {i}\n"
            f"  config:\n    configurable:\n      style: blog\n{shared}{meta}{smoke}")


def make(folder: Path, n: int, teams: int, prompts: int, inline: bool) -> Path:
    """A project of n manifests (4 per file); authored: plus the prompt files and the Defaults."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(ROOT / "manifests" / "graphs", folder / "graphs")
    shutil.copy(ROOT / "manifests" / "langgraph.json", folder / "langgraph.json")
    (folder / "controller.yaml").write_text("apiVersion: assistant-controller/v1\nkind: Config\nowner: bench\n"
                                            "targets:\n  local: {embedded: .controller/state.db, graphs: ./langgraph.json}\n")
    (folder / "assistants").mkdir()
    docs = [manifest(i, teams, prompts, inline) for i in range(n)]
    for start in range(0, n, 4):
        (folder / "assistants" / f"batch-{start:05d}.yaml").write_text("---\n".join(docs[start:start + 4]))
    if not inline:
        (folder / "prompts").mkdir()
        for p in range(prompts):
            (folder / "prompts" / f"p{p:03d}.md").write_text(prompt(p))
        (folder / "assistants" / "defaults").mkdir()
        for k in range(teams):
            (folder / "assistants" / "defaults" / f"team-{k:02d}.yaml").write_text(defaults_doc(k))
    return folder


def run(repo: Path, *argv: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([CONTROLLER, *argv], cwd=repo, capture_output=True, text=True)
    if done.returncode not in (0, 2):
        raise SystemExit(f"controller {' '.join(argv)} exited {done.returncode}: {done.stderr[-600:]}")
    return time.perf_counter() - start


class Editor:
    """A new change, each time, to the text the assistants of prompt 0 share (its first rule)."""

    count = 0

    def __init__(self, repo: Path, inline: bool):
        self.repo, self.inline = repo, inline

    def __call__(self) -> float:
        Editor.count += 1
        paths = sorted((self.repo / "assistants").glob("batch-*.yaml")) if self.inline else [self.repo / "prompts" / "p000.md"]
        for path in paths:
            text = path.read_text()
            if "- Rule 0.0" in text:
                path.write_text(re.sub(r"- Rule 0\.0[^:]*:", f"- Rule 0.0 (edit {Editor.count}):", text))
        return time.perf_counter()


def watch_edits(repo: Path, edit: Editor, k: int, sharing: int) -> tuple[list[float], str]:
    """edit → the reconcile-finished that applied all ``sharing`` assistants, k times."""
    w, seen = Watch(repo, smoke=False, log=repo.parent / f"watch-{repo.name}.log"), []
    w.until("reconcile-finished", seen, timeout=600)
    times, missed = [], 0
    for _ in range(k):
        wrote, applied = edit(), 0
        try:
            while applied < sharing:
                w.until("applied", seen)
                applied += 1
            times.append(w.until("reconcile-finished", seen) - wrote)
        except queue.Empty:
            missed += 1
        w.drain(0.3, seen)
    w.proc.send_signal(signal.SIGINT)
    w.drain(30.0, seen)
    w.proc.wait(timeout=30)
    scopes = [e.get("scope") for e in seen if e["event"] == "reconcile-started"]
    errors = [e for e in seen if e["event"] == "error"]
    return times, f"{k} edits, {missed} missed, passes {scopes.count('changed')} incremental / {scopes.count('full')} full, " \
                  f"{len(errors)} errors{(': ' + str(errors[:2])) if errors else ''}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--defaults", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    n, teams, prompts = args.manifests, args.defaults, args.prompts
    sharing = len(range(0, n, prompts))  # the assistants that read prompt 0
    with tempfile.TemporaryDirectory() as tmp:
        repos = {inline: make(Path(tmp) / ("inline" if inline else "authored"), n, teams, prompts, inline)
                 for inline in (True, False)}
        for repo in repos.values():
            run(repo, "apply", ".", "--auto-approve", "--no-smoke")
            run(repo, "plan", ".")  # warm: the load store and the in-sync record
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.repeat):  # interleaved, so a noisy neighbour hits both alike
            for command in ("plan", "validate"):
                for inline, repo in repos.items():
                    times.setdefault((command, inline), []).append(run(repo, command, "."))
        base = min(times["plan", True])
        authored = f"{prompts} prompt files + {teams} Defaults"
        table(f"No-op plan, {n} manifests (new process, best of {args.repeat}; baseline: the same project inline, "
              f"{base:.3f}s)", [
                  ("plan, inline (baseline)", base, ""),
                  (f"plan, {authored}", min(times["plan", False]), "budget: ≤ 1.2×"),
                  ("validate, inline (the load store alone)", min(times["validate", True]), ""),
                  (f"validate, {authored}", min(times["validate", False]), ""),
              ], base)

        edit, once = Editor(repos[False], inline=False), []
        for _ in range(args.repeat):
            edit()
            once.append(run(repos[False], "apply", ".", "--auto-approve", "--no-smoke"))
        base = min(once)
        rows = [("one-shot apply after the prompt edit (baseline)", base, f"best of {args.repeat}")]
        notes = []
        for inline in (True, False):
            times, note = watch_edits(repos[inline], Editor(repos[inline], inline), args.edits, sharing)
            what = f"the same change in {sharing} manifests" if inline else f"one prompt file used by {sharing}"
            if times:
                p50, spread = stats(times)
                rows.append((f"watch: {what} → applied (p50)", p50, spread + ("" if inline else "; budget p50 ≤ 0.3 s")))
            notes.append(f"watch, {'inline' if inline else 'authored'}: {note}")
        table(f"Watch, edit → all {sharing} assistants applied ({n} manifests; baseline: one-shot apply, {base:.3f}s)",
              rows, base)
        print("\n".join(notes))


if __name__ == "__main__":
    sys.exit(main())
