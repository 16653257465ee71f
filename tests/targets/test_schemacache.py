"""Graph schemas kept between runs (targets/schemacache.py): with a warm cache a new process plans
without importing a graph or langgraph; an edited graph is loaded again, a broken one is
reported every time."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import edit, run

from controller.targets.embedded import EmbeddedTarget

#: Runs the CLI in a fresh interpreter, then lists the modules it imported that a
#: no-op plan must not need.
PROBE = """
import json, sys
from controller.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("langgraph", "langchain_core", "httpx", "deepdiff")
               or m.startswith("_controller_graph_"))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def probe(repo: Path, *argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=repo, capture_output=True, text=True, timeout=120)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def repo(project: Path) -> Path:
    """The example project outside git: these caches do not depend on git."""
    return project


def test_noop_plan_and_history_import_no_graph_when_the_cache_is_warm(repo, capsys):
    code, out, _ = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out
    assert probe(repo, "plan", ".")["code"] == 0  # the graph cache is written here if apply did not
    for argv in (("plan", "."), ("plan", ".", "-o", "json"), ("history", "blog-writer"), ("validate", ".")):
        seen = probe(repo, *argv)
        assert seen == {"code": 0, "heavy": []}, argv


def test_a_run_still_loads_its_graph(repo, capsys):
    code, out, _ = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out
    seen = probe(repo, "test", "blog-writer")
    assert seen["code"] == 0 and any(m.startswith("langgraph") for m in seen["heavy"])


def graphs(repo: Path) -> tuple[dict, EmbeddedTarget]:
    async def go():
        target = EmbeddedTarget(str(repo / ".controller" / "state.db"), str(repo / "langgraph.json"),
                                str(repo / ".controller" / "cache"))
        try:
            return await target.graphs(), target
        finally:
            await target.aclose()

    return asyncio.run(go())


def test_editing_a_graph_source_refreshes_its_schema(repo):
    before, _ = graphs(repo)
    assert "tone" not in before["writer"].config_schema["properties"]
    cached, target = graphs(repo)
    assert cached == before and not target.registry.entries["writer"].loaded  # from the cache, not imported

    edit(repo / "graphs" / "writer.py", "    signature: str\n", "    signature: str\n    tone: str\n")
    after, target = graphs(repo)
    assert "tone" in after["writer"].config_schema["properties"]
    assert target.registry.entries["writer"].loaded and not target.registry.entries["chat"].loaded


def test_a_graph_that_fails_to_load_is_reported_every_time(repo):
    (repo / "graphs" / "writer.py").write_text("raise RuntimeError('broken on purpose')\n")
    for _ in range(2):
        found, _ = graphs(repo)
        assert "broken on purpose" in found["writer"].error
