"""Embedded-target specifics: durability, graph loading, runs. (Shared behaviour is in
test_conformance.py, which runs against both targets.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from controller.core.content import Content
from controller.targets.embedded import EmbeddedTarget

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A langgraph.json with every way of declaring a graph, and some broken ones."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "graphs.py").write_text(textwrap.dedent('''
        import time
        from langgraph.graph import StateGraph, START, END
        from typing_extensions import TypedDict

        class S(TypedDict, total=False):
            text: str
            out: str

        def _build(fn):
            b = StateGraph(S)
            b.add_node("n", fn)
            b.add_edge(START, "n")
            b.add_edge("n", END)
            return b

        def echo(state, config):
            return {"out": f"{config['configurable'].get('prefix', '')}{state['text']}"}

        def boom(state):
            raise ValueError("boom: requested failure")

        def hang(state):
            time.sleep(30)
            return {"out": "late"}

        compiled = _build(echo).compile()
        uncompiled = _build(echo)
        failing = _build(boom).compile()
        hanging = _build(hang).compile()

        def factory(config):
            prefix = config["configurable"].get("prefix", "")
            return _build(lambda state: {"out": f"factory:{prefix}{state['text']}"}).compile()
    '''))
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    (tmp_path / "langgraph.json").write_text(json.dumps({
        "dependencies": ["."],
        "graphs": {
            "by_module": "pkg.graphs:compiled",
            "by_path": "./pkg/graphs.py:uncompiled",
            "dict_form": {"path": "./pkg/graphs.py:compiled", "description": "Echoes"},
            "factory": "pkg.graphs:factory",
            "failing": "pkg.graphs:failing",
            "hanging": "pkg.graphs:hanging",
            "missing_file": "./nowhere.py:graph",
            "bad_import": "./broken.py:graph",
            "missing_attr": "pkg.graphs:nope",
        },
    }))
    return tmp_path


def target(project: Path) -> EmbeddedTarget:
    return EmbeddedTarget(str(project / "state.db"), str(project / "langgraph.json"))


def content(graph: str, **configurable) -> Content:
    return Content(graph, graph, None, {"configurable": configurable} if configurable else {}, {}, {"controller/owner": "t"})


async def _run(t: EmbeddedTarget, graph: str, assistant_id: str, timeout: float = 10, **configurable):
    await t.create(assistant_id, content(graph, **configurable))
    return await t.run(assistant_id, {"text": "hi"}, timeout=timeout)


def test_every_declaration_form_loads_and_runs(project: Path):
    t = target(project)
    graphs = asyncio.run(t.graphs())
    assert graphs["dict_form"].description == "Echoes"
    for i, graph in enumerate(("by_module", "by_path", "dict_form")):
        outcome = asyncio.run(_run(t, graph, f"{i:08d}-1111-4111-8111-111111111111", prefix=">"))
        assert outcome.status == "success" and outcome.output["out"] == ">hi", graph
    outcome = asyncio.run(_run(t, "factory", A, prefix="!"))
    assert outcome.status == "success" and outcome.output["out"] == "factory:!hi"


def test_broken_graphs_are_clear_errors_not_crashes(project: Path):
    graphs = asyncio.run(target(project).graphs())
    assert "missing_file" in graphs["missing_file"].error and "nowhere.py" in graphs["missing_file"].error
    assert "ModuleNotFoundError" in graphs["bad_import"].error and "broken.py" in graphs["bad_import"].error
    assert "has no attribute 'nope'" in graphs["missing_attr"].error
    assert graphs["by_module"].error is None
    outcome = asyncio.run(_run(target(project), "bad_import", A))
    assert outcome.status == "error" and "broken.py" in outcome.error


def test_a_graph_that_raises_or_hangs_is_an_outcome(project: Path):
    t = target(project)
    failed = asyncio.run(_run(t, "failing", A))
    assert failed.status == "error" and failed.error == "ValueError: boom: requested failure"
    hung = asyncio.run(_run(t, "hanging", B, timeout=0.5))
    assert hung.status == "timeout" and "0.5s" in hung.error


def test_process_exits_while_an_abandoned_run_still_hangs(project: Path):
    code = textwrap.dedent(f'''
        import asyncio
        from controller.core.content import Content
        from controller.targets.embedded import EmbeddedTarget
        t = EmbeddedTarget({str(project / "state.db")!r}, {str(project / "langgraph.json")!r})
        async def main():
            await t.create("{A}", Content("hanging", "h", None, {{}}, {{}}, {{}}))
            print((await t.run("{A}", {{"text": "x"}}, timeout=0.2)).status)
        asyncio.run(main())
    ''')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timeout"


def test_a_crash_mid_apply_leaves_the_previous_state(project: Path):
    t = target(project)
    asyncio.run(t.create(A, content("by_module", prefix="v1")))
    code = textwrap.dedent(f'''
        import asyncio, os
        from controller.core.content import Content
        from controller.targets.embedded import EmbeddedTarget
        t = EmbeddedTarget({str(project / "state.db")!r}, {str(project / "langgraph.json")!r})
        async def main():
            async with t.batch():
                await t.update("{A}", Content("by_module", "x", None, {{"configurable": {{"prefix": "v2"}}}}, {{}}, {{}}))
                await t.create("{B}", Content("by_module", "y", None, {{}}, {{}}, {{}}))
                os._exit(1)  # killed mid-apply
        asyncio.run(main())
    ''')
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 1
    fresh = target(project)
    state = asyncio.run(fresh.get(A, versions=True))
    assert state.version == 1 and len(state.versions) == 1
    assert state.content.config["configurable"]["prefix"] == "v1"
    assert asyncio.run(fresh.get(B)) is None


def test_an_error_inside_a_batch_rolls_it_all_back(project: Path):
    t = target(project)

    async def go():
        async with t.batch():
            await t.create(A, content("by_module"))
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        asyncio.run(go())
    assert asyncio.run(t.get(A)) is None


def test_concurrent_processes_do_not_corrupt_the_file(project: Path):
    code = textwrap.dedent(f'''
        import asyncio, sys, uuid
        from controller.core.content import Content
        from controller.targets.embedded import EmbeddedTarget
        t = EmbeddedTarget({str(project / "state.db")!r}, {str(project / "langgraph.json")!r})
        async def main():
            for i in range(100):
                async with t.batch():
                    await t.create(str(uuid.uuid4()), Content("by_module", sys.argv[1], None, {{}}, {{}}, {{"w": sys.argv[1]}}))
        asyncio.run(main())
    ''')
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)]) for i in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    t = target(project)
    for i in range(3):
        assert len(asyncio.run(t.list_assistants({"w": str(i)}))) == 100
    import sqlite3

    assert sqlite3.connect(project / "state.db").execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_plan_writes_nothing_on_a_fresh_checkout(project: Path):
    t = target(project)
    assert asyncio.run(t.list_assistants({"controller/owner": "t"})) == []
    assert asyncio.run(t.get(A)) is None
    assert not (project / "state.db").exists()
