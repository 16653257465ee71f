"""Parity: the embedded target runs a graph exactly as the Agent Server does.

tests/fixtures/parity holds small graphs in the official templates' styles (a dataclass
context with defaults and environment fallbacks in its own context.py, a TypedDict
context with a required key, an old-style config_schema, a long-term store user with
an index, a graph reading a key from .env at import) and manifests whose smoke cases
cover them (with per-run config/context overrides). Every case runs on the embedded
target and on the real ``langgraph dev`` serving the same project: each run's status,
output and error type must be equal, and so must each case's verdict. Some cases fail
on purpose, on both.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.config.loader import LoadOptions, load_manifests
from controller.core import environ
from controller.core.content import assistant_id_for
from controller.engine.desired import Desired, desired_state
from controller.smoke.runner import run_suite
from controller.targets.base import Target
from controller.targets.embedded import EmbeddedTarget
from controller.targets.remote import RemoteTarget

PARITY = Path(__file__).resolve().parent.parent / "fixtures" / "parity"
#: The cases that fail on every target, and why.
FAILING = {
    ("ticket-unset", "a required key missing fails on every target"),  # no tenant: the graph cannot read it
    ("keyed", "a provider failure fails on every target"),  # the graph raises
}

pytestmark = pytest.mark.server


@pytest.fixture
def parity_project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the parity project; the process environment as it was afterwards (the
    embedded target puts the project's .env into it, as langgraph dev does)."""
    root = tmp_path / "parity"
    shutil.copytree(PARITY, root, ignore=shutil.ignore_patterns(".controller", "__pycache__"))
    yield root
    environ.restore()


def declared(root: Path, owner: str) -> list[Desired]:
    """The project's manifests for ``owner``; memories under a user id of its own."""
    loaded = load_manifests([str(root / "assistants")], LoadOptions(environ={"PARITY_USER": owner}, root=str(root)))
    return [desired_state(m, owner) for m in loaded.manifests]


def normalized(value: Any) -> Any:
    """Run output without what differs between any two runs: messages' random ids."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if not (k == "id" and "type" in value)}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


async def outcomes(target: Target, items: list[Desired]) -> dict[tuple[str, str], list[tuple[str, Any, str | None]]]:
    """Each case's runs, step by step on one fresh thread: (status, output, error type)."""
    found: dict[tuple[str, str], list[tuple[str, Any, str | None]]] = {}
    for d in items:
        await target.create(d.assistant_id, d.content)
        for case in d.smoke:
            thread = await target.create_thread()
            runs = found.setdefault((d.name, case.name), [])
            for step in case.runs():
                got = await target.run(d.assistant_id, step.input, thread_id=thread, config=case.config or None,
                                       context=case.context or None)
                runs.append((got.status, normalized(got.output) if got.status == "success" else None,
                             (got.error or "").split(":")[0] or None))
            await target.delete_thread(thread)
    return found


async def verdicts(target: Target, items: list[Desired]) -> dict[tuple[str, str], bool]:
    for d in items:
        await target.create(d.assistant_id, d.content)
    suite = await run_suite(target, [(d.name, d.assistant_id, list(d.smoke)) for d in items], concurrency=1)
    return {(r.assistant, r.case): r.passed for r in suite.results}


def both(parity_project: Path, server_url: str, owner: str, body: Any) -> tuple[Any, Any]:
    """``body(target, manifests)`` on the embedded target, then on the server, each with its own owner."""
    async def on(target: Target, who: str) -> Any:
        try:
            return await body(target, declared(parity_project, who))
        finally:
            await target.aclose()

    embedded = EmbeddedTarget(str(parity_project / ".controller" / "state.db"), str(parity_project / "langgraph.json"))
    return asyncio.run(on(embedded, owner)), asyncio.run(on(RemoteTarget(server_url), owner))


def test_every_case_runs_the_same_on_both_targets(parity_project: Path, parity_server, owner: str) -> None:
    local, served = both(parity_project, parity_server.url, owner, outcomes)
    assert set(local) == set(served) and len(local) == 14
    for case in local:
        assert local[case] == served[case], case
    assert {case for case, runs in local.items() if any(status != "success" for status, _, _ in runs)} == FAILING


def test_every_verdict_is_the_same_on_both_targets(parity_project: Path, parity_server, owner: str) -> None:
    local, served = both(parity_project, parity_server.url, owner, verdicts)
    assert local == served
    assert {case for case, passed in local.items() if not passed} == FAILING


def test_one_store_for_all_assistants_and_threads(parity_project: Path, parity_server, owner: str) -> None:
    """What one assistant stored, another of the same graph finds (the server's store is global)."""
    async def body(target: Target, items: list[Desired]) -> list[Any]:
        writer = next(d for d in items if d.name == "memory-writer")
        reader_id = assistant_id_for(owner, "memory-reader")
        await target.create(writer.assistant_id, writer.content)
        await target.create(reader_id, writer.content.with_metadata(**{"controller/name": "memory-reader"}))
        wrote = await target.run(writer.assistant_id, {"remember": "owns a red bike"})
        read = await target.run(reader_id, {"recall": "bike"}, context={"user_id": owner})
        other = await target.run(reader_id, {"recall": "bike"}, context={"user_id": f"{owner}-other"})
        return [wrote.output, read.output, other.output]

    local, served = both(parity_project, parity_server.url, owner, body)
    assert local == served
    assert local[1]["memories"] == ["owns a red bike"] and local[2]["memories"] == []


@pytest.mark.parametrize(("config", "context"), [
    (None, {"model": "fake/run", "unknown": 1}),                     # a run's context: filtered by the schema
    ({"configurable": {"model": "fake/cfg", "temperature": 1}}, None),  # a run's configurable is its context too
    ({"configurable": {"model": "fake/cfg"}}, {"model": "fake/ctx"}),   # both: refused before the run starts
    ({"tags": ["t"], "recursion_limit": 5}, None),                    # other config keys: over the assistant's
])
def test_a_runs_own_configuration_merges_as_on_the_server(parity_project: Path, parity_server, owner: str,
                                                         config: Any, context: Any) -> None:
    async def body(target: Target, items: list[Desired]) -> tuple[str, Any, str | None]:
        tuned = next(d for d in items if d.name == "react-tuned")
        await target.create(tuned.assistant_id, tuned.content)
        got = await target.run(tuned.assistant_id, {"messages": [{"role": "user", "content": "x"}]},
                               config=config, context=context)
        return got.status, normalized(got.output) if got.status == "success" else None, (got.error or "").split(":")[0] or None

    local, served = both(parity_project, parity_server.url, owner, body)
    assert local == served
    if config and context:
        assert local[0] == "error" and local[2] in ("BadRequest", "HTTP 400")
    else:
        assert local[0] == "success"


def test_a_fresh_embedded_target_on_the_same_state_sees_the_stored_memories(parity_project: Path, owner: str) -> None:
    """The store lives beside the state file: a later command (a new process) finds what a run stored."""
    state, graphs = str(parity_project / ".controller" / "state.db"), str(parity_project / "langgraph.json")
    writer = next(d for d in declared(parity_project, owner) if d.name == "memory-writer")

    async def remember() -> None:
        target = EmbeddedTarget(state, graphs)
        await target.create(writer.assistant_id, writer.content)
        assert (await target.run(writer.assistant_id, {"remember": "likes green tea"})).status == "success"
        await target.aclose()

    async def recall() -> Any:
        target = EmbeddedTarget(state, graphs)
        try:
            return (await target.run(writer.assistant_id, {"recall": "tea"})).output
        finally:
            await target.aclose()

    asyncio.run(remember())
    assert asyncio.run(recall()) == {"recall": "tea", "memories": ["likes green tea"]}
    assert (parity_project / ".controller" / "state.store.db").is_file()

