"""The embedded target's runs, without a server: what issue 22 found different from the
Agent Server, each as a user of a template-style graph meets it (before → after in the
test names' docstrings). tests/targets/test_parity.py checks the same against
``langgraph dev`` itself."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.core import environ
from controller.core.content import Content, mirrored
from controller.targets.base import RunOutcome
from controller.targets.embedded import EmbeddedTarget
from controller.targets.runconfig import RunRefused, assemble, filter_context, run_request

PARITY = Path(__file__).resolve().parent.parent / "fixtures" / "parity"
KEY = "sk-parity-5f3a9c1e7b2d4068"
HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "parity"
    shutil.copytree(PARITY, root, ignore=shutil.ignore_patterns(".controller", "__pycache__"))
    for name in ("MODEL", "PARITY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield root
    environ.restore()


def run_once(project: Path, graph: str, input: Any, *, config: dict | None = None, context: dict | None = None,
             run_config: dict | None = None, run_context: dict | None = None) -> RunOutcome:
    async def body() -> RunOutcome:
        target = EmbeddedTarget(str(project / ".controller" / "state.db"), str(project / "langgraph.json"))
        try:
            aid = str(uuid.uuid4())
            await target.create(aid, Content(graph, graph, None, *mirrored(config or {}, context or {}), {}))
            return await target.run(aid, input, config=run_config, context=run_context)
        finally:
            await target.aclose()

    return asyncio.run(body())


def last(outcome: RunOutcome) -> str:
    assert outcome.status == "success", outcome.error
    return outcome.output["messages"][-1]["content"]


def test_a_dataclass_context_gets_its_defaults_without_a_context(project):
    """Before: ``AttributeError: 'NoneType' object has no attribute 'model'``."""
    assert last(run_once(project, "react", HI)).startswith("[dotenv-model] You are a helpful AI assistant.")


def test_context_keys_the_schema_lacks_are_dropped_at_run_time(project):
    """Before: ``TypeError: Context.__init__() got an unexpected keyword argument 'bogus'``."""
    assert last(run_once(project, "react", HI, context={"model": "fake/mine", "bogus": 1})).startswith("[mine]")
    assert last(run_once(project, "react", HI, config={"configurable": {"model": "fake/c", "temperature": 1}})).startswith("[c]")


def test_an_old_style_config_schema_filters_the_context_but_not_configurable(project):
    """Before: the context held every configurable key (``['extra_flag', 'greeting']``)."""
    got = run_once(project, "legacy", {"name": "Bo"}, config={"configurable": {"greeting": "Hi", "extra_flag": "on"}})
    assert got.output == {"name": "Bo", "reply": "Hi Bo (none)", "context_keys": ["greeting"], "flag": "on"}


def test_a_store_user_gets_the_store_configured_in_langgraph_json(project):
    """Before: ``AssertionError: no store configured`` (no store at all)."""
    got = run_once(project, "memory", {"remember": "likes green tea"}, context={"user_id": "u"})
    assert got.status == "success" and got.output["memories"] == ["likes green tea"]
    got = run_once(project, "memory", {"recall": "green tea"}, context={"user_id": "u"})
    assert got.output["memories"] == ["likes green tea"]  # semantic search: the index from langgraph.json
    assert (project / ".controller" / "state.store.db").is_file()


def test_a_graph_reading_its_key_from_env_at_import_loads_and_never_shows_it(project):
    """Before: ``graph 'keyed' ... KeyError: 'PARITY_API_KEY'`` (langgraph.json's env was ignored)."""
    assert run_once(project, "keyed", {"text": "ping"}).output["out"] == "authorized with a 26-character key: ping"
    failed = run_once(project, "keyed", {"text": "fail"})
    assert failed.status == "error" and failed.error == "ProviderError: the provider refused key (sensitive)"
    assert KEY in failed.secrets


def test_a_runs_config_and_context_merge_over_the_assistants(project):
    tuned = {"system_prompt": "Be brief.", "model": "fake/tuned"}
    assert last(run_once(project, "react", HI, context=tuned)) == "[tuned] Be brief. | hi"
    assert last(run_once(project, "react", HI, context=tuned, run_context={"model": "fake/stub"})) == "[stub] Be brief. | hi"
    assert last(run_once(project, "react", HI, context=tuned,
                         run_config={"configurable": {"model": "fake/cfg"}})) == "[cfg] Be brief. | hi"
    refused = run_once(project, "react", HI, run_config={"configurable": {"model": "fake/a"}}, run_context={"model": "fake/b"})
    assert refused.status == "error" and refused.error.startswith("BadRequest: Cannot specify both configurable and context")


def test_the_server_merge_rules():
    """langgraph_runtime_inmem Runs.put and langgraph_api.stream, as observed (docs/servers.md)."""
    with pytest.raises(RunRefused):
        run_request({"configurable": {"a": 1}}, {"b": 2})
    setup = assemble("aid", "g", {"configurable": {"style": "v1", "model": "m1"}, "tags": ["ta"], "recursion_limit": 5},
                     {"style": "v1", "model": "m1"}, {"owner": "x"}, run_config={"configurable": {"model": "m9"}, "tags": ["tr"]},
                     ids={"run_id": "r"})
    assert setup.config["configurable"] == {"style": "v1", "model": "m9", "run_id": "r"}
    assert setup.context == {"style": "v1", "model": "m9"}
    assert (setup.config["tags"], setup.config["recursion_limit"]) == (["tr"], 5)
    assert setup.config["metadata"] == {"owner": "x", "graph_id": "g", "assistant_id": "aid"}
    # a thread keeps the configurable of its first run: later runs see it over the assistant's new one
    later = assemble("aid", "g", {"configurable": {"style": "v2"}}, {"style": "v2"}, {}, ids={},
                     thread_configurable=setup.thread_configurable)
    assert later.config["configurable"]["style"] == "v1"
    # filtering: a dropped key leaves configurable only when the run gave the context and the values agree
    given = assemble("aid", "g", {}, {}, {}, run_context={"model": "m", "extra": 1}, ids={})
    kept = filter_context(given, {"properties": {"model": {}}})
    assert kept.context == {"model": "m"} and "extra" not in kept.config["configurable"]
    mirrored_only = assemble("aid", "g", {"configurable": {"model": "m", "extra": 1}}, {"model": "m", "extra": 1}, {}, ids={})
    kept = filter_context(mirrored_only, {"properties": {"model": {}}})
    assert kept.context == {"model": "m"} and kept.config["configurable"]["extra"] == 1
    assert filter_context(given, {"type": "object"}).context == given.context  # no properties: kept whole


def test_env_file_values_stay_out_of_the_users_environment_view(project, monkeypatch):
    monkeypatch.setenv("MODEL", "from-the-shell")
    assert last(run_once(project, "react", HI)).startswith("[dotenv-model]")  # the graph read the .env's MODEL
    assert environ.process_environ()["MODEL"] == "from-the-shell"  # what ${MODEL} reads
    import os
    assert os.environ["MODEL"] == "fake/dotenv-model"  # what the graphs read: .env wins, as under langgraph dev
