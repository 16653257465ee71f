"""Issue 22 at the CLI: what a user of template-style graphs sees on the embedded target
and on ``langgraph dev`` (tests/fixtures/parity): the same smoke verdicts, schema checks
that know what the server drops, .env values that never reach ``${VAR}`` or the screen,
a schema cache that notices an edited context.py, and an import that writes what the
graph runs with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import edit, run

from controller.core import environ

PARITY = Path(__file__).resolve().parent.parent / "fixtures" / "parity"
KEY = "sk-parity-5f3a9c1e7b2d4068"  # the fixture's .env: it must never be printed
TICKET = Path("assistants/ticket.yaml")
REACT = Path("assistants/react.yaml")


@pytest.fixture
def parity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: str) -> Iterator[Path]:
    """A copy of the parity project as the cwd, its memories under a user id of this test;
    the process environment restored afterwards (the embedded target applies the .env)."""
    root = tmp_path / "parity"
    shutil.copytree(PARITY, root, ignore=shutil.ignore_patterns(".controller", "__pycache__"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("PARITY_USER", owner)
    for name in ("MODEL", "PARITY_API_KEY", "CONTROLLER_TARGET", "CONTROLLER_OWNER"):
        monkeypatch.delenv(name, raising=False)
    yield root
    environ.restore()


def verdicts(out: str) -> dict[tuple[str, str], bool]:
    return {(c["assistant"], c["case"]): c["passed"] for c in json.loads(out)["cases"]}


@pytest.mark.server
def test_smoke_verdicts_are_the_same_on_the_embedded_target_and_langgraph_dev(parity, parity_server, owner, capsys):
    remote = ["--url", parity_server.url, "--owner", owner]
    for where in ([], remote):
        code, _, err = run(capsys, "apply", "--auto-approve", "--no-smoke", *where)
        assert code == 0, err
    code, local, _ = run(capsys, "test", "-o", "json")
    assert code == 3
    code, served, _ = run(capsys, "test", "-o", "json", *remote)
    assert code == 3
    assert verdicts(local) == verdicts(served)
    assert sorted(case for case, passed in verdicts(local).items() if not passed) == [
        ("keyed", "a provider failure fails on every target"),
        ("ticket-unset", "a required key missing fails on every target")]


@pytest.mark.server
def test_a_hidden_server_error_says_so_and_the_embedded_one_shows_the_real_error_without_the_key(
        parity, parity_server, owner, capsys):
    remote = ["--url", parity_server.url, "--owner", owner]
    assert run(capsys, "apply", "--auto-approve", "--no-smoke", *remote)[0] == 0
    code, out, err = run(capsys, "test", "keyed", *remote)
    assert code == 3
    assert "ProviderError: An internal error occurred (the server hid the message" in out
    assert "are in the server's log" in out
    assert run(capsys, "apply", "--auto-approve", "--no-smoke")[0] == 0
    code, out, err = run(capsys, "test", "keyed")
    assert code == 3
    assert "run failed: ProviderError: the provider refused key (sensitive)" in out
    assert KEY not in out + err


def test_a_template_graph_plans_and_passes_on_a_fresh_checkout(parity, capsys):
    """Before: the keyed graph could not be imported (its key is in .env), the dataclass
    context crashed on None, the store user had no store."""
    code, out, err = run(capsys, "apply", "--auto-approve")
    assert code == 3  # the two cases that fail on purpose, on every target
    assert "Smoke: 12 passed, 2 failed." in out
    assert "cannot be loaded" not in err and KEY not in out + err


def test_env_file_values_never_reach_interpolation(parity, capsys):
    (parity / "assistants" / "model.yaml").write_text(
        "apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {name: from-env}\n"
        "spec:\n  graph: react\n  context: {model: \"${MODEL:-fake/from-the-shell}\"}\n")
    code, _, err = run(capsys, "apply", "--auto-approve", "--no-smoke")  # imports the graphs: .env applied
    assert code == 0, err
    assert os.environ.get("MODEL") == "fake/dotenv-model"  # the graphs see it, as under langgraph dev
    code, out, _ = run(capsys, "plan", "-o", "json")
    assert code == 0 and json.loads(out)["summary"]["create"] == 0  # ${MODEL} still took its default
    code, out, _ = run(capsys, "validate", "--require-env", "-o", "json")
    assert code == 0
    (parity / "assistants" / "model.yaml").write_text(
        "apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {name: from-env}\n"
        "spec:\n  graph: react\n  context: {model: \"${PARITY_API_KEY}\"}\n")
    code, _, err = run(capsys, "plan")
    assert code == 1 and "variable PARITY_API_KEY is not set" in err and KEY not in err


def test_a_context_key_the_schema_lacks_is_an_error_at_validate_and_plan(parity, capsys):
    edit(parity / TICKET, "context: {tenant: acme}", "context: {tennant: acme}")
    for command in ("validate", "plan"):
        code, out, err = run(capsys, command)
        assert code == 1, command
        line = next(line for line in err.splitlines() if "tennant" in line)
        assert line == ("assistants/ticket.yaml:7: spec.context.tennant: not in the graph's context schema "
                        "(did you mean 'tenant'?); the server drops it from the run's context, so it would never "
                        "take effect"), line
    assert not (parity / ".controller" / "state.db").exists()


def test_a_smoke_cases_context_is_checked_as_the_assistants(parity, capsys):
    edit(parity / TICKET, "context: {tone: warm}", "context: {tones: warm}")
    code, _, err = run(capsys, "plan")
    assert code == 1
    assert "assistants/ticket.yaml:14: spec.smoke.1.context.tones: not in the graph's context schema (did you mean 'tone'?)" in err


def test_configurable_keys_stay_warnings_shown_with_quiet_and_beside_errors(parity, capsys):
    warning = "warning: assistants/react.yaml:42: spec.config.configurable.temperature: not in the graph's schema"
    code, out, err = run(capsys, "plan", "-q")
    assert code == 0 and warning in err.splitlines()
    code, out, err = run(capsys, "validate", "-q")
    assert code == 0 and warning in err.splitlines()
    edit(parity / TICKET, "context: {tenant: acme}", "context: {tennant: acme}")
    code, out, err = run(capsys, "plan", "-q")
    assert code == 1 and warning in err.splitlines() and "spec.context.tennant" in err
    code, out, _ = run(capsys, "plan", "-o", "json")
    assert code == 1 and warning.removeprefix("warning: ") in json.loads(out)["warnings"]


def test_editing_context_py_refreshes_the_schema_cache(parity):
    """Each command a new process, as a user runs them (a module imported once stays imported)."""
    def plan() -> subprocess.CompletedProcess[str]:
        script = "import sys; from controller.cli import main; sys.exit(main(['plan', '-q']))"
        env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "PARITY_API_KEY")}
        return subprocess.run([sys.executable, "-c", script], cwd=parity, env=env, capture_output=True, text=True)

    edit(parity / REACT, "context: {system_prompt: \"Be brief.\", model: fake/tuned}",
         "context: {system_prompt: \"Be brief.\", model: fake/tuned, persona: pirate}")
    first = plan()
    assert first.returncode == 1 and "spec.context.persona: not in the graph's context schema" in first.stderr
    assert (parity / ".controller" / "cache" / "graphs.json").is_file()
    edit(parity / "src" / "react_agent" / "context.py", "    max_search_results: int = field(",
         "    persona: str = \"plain\"\n\n    max_search_results: int = field(")
    second = plan()
    assert second.returncode == 0, second.stderr


@pytest.mark.server
def test_import_writes_what_the_graph_runs_with_when_context_and_configurable_disagree(
        parity, parity_server, owner, capsys, tmp_path):
    """The server's "set latest version" restores config, not context: a run then gets the stale
    context, which a context-schema graph reads. import writes that, and says they disagreed."""
    with httpx.Client(base_url=parity_server.url, timeout=30) as client:
        made = client.post("/assistants", json={"graph_id": "react", "name": f"drifted {owner}",
                                                "context": {"model": "fake/first"}}).json()
        aid = made["assistant_id"]
        client.patch(f"/assistants/{aid}", json={"context": {"model": "fake/second"}}).raise_for_status()
        client.post(f"/assistants/{aid}/latest", json={"version": 1}).raise_for_status()
        live = client.get(f"/assistants/{aid}").json()
        assert live["config"]["configurable"] == {"model": "fake/first"} and live["context"] == {"model": "fake/second"}
        ran = client.post("/runs/wait", json={"assistant_id": aid, "input": {"messages": [{"role": "user", "content": "x"}]}})
        assert ran.json()["messages"][-1]["content"].startswith("[second]")  # what the graph runs with
    out_dir = tmp_path / "imported"
    code, out, err = run(capsys, "import", "--url", parity_server.url, "--owner", owner, "--graph", "react",
                         "--out", str(out_dir))
    assert code == 0, err
    written = next(p for p in out_dir.iterdir() if aid in p.read_text())
    text = written.read_text()
    assert "model: fake/second" in text and "fake/first" not in text and "configurable" not in text
    assert f"warning: {aid} ('drifted {owner}'): its live context and config.configurable disagree" in err
    assert "wrote its context, which the graph receives (it has a context schema)" in err
