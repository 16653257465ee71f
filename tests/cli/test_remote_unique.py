"""Aegra's unique (graph, config) rule, met at plan time (issue 18, part 9), through the CLI.

Aegra refuses a second assistant of one graph with an identical config (409 to a create,
500 to an update, and the refused update still leaves a version). The target's profile
says so, and the planner then: reports two such manifests as an error naming both;
orders a config handed from one assistant to another so it converges in one apply (also
through a rename with --prune); refuses a swap, saying how to do it in two applies. On
`langgraph dev` and the embedded target none of this applies. The server is checked
with langgraph-sdk, an independent client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import git, remote_project, run
from remote_servers import search_all, server_named

from controller.core.content import assistant_id_for

RULE = "allows one assistant per graph and config"


def poem(name: str, style: str, *, model: str | None = None, smoke: bool = False) -> str:
    """A writer manifest whose config is its style (and model): unlike the example's."""
    extra = f", model: {model}" if model else ""
    cases = ("  smoke:\n    - name: writes\n      input: {text: \"roses are red\"}\n"
             "      expect:\n        - {path: out, contains: \"roses\"}\n") if smoke else ""
    return (f"apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {{name: {name}}}\n"
            f"spec:\n  graph: writer\n  config:\n    configurable: {{style: {style}{extra}}}\n{cases}")


def write(name: str, text: str) -> None:
    Path(f"assistants/{name}.yaml").write_text(text)


@pytest.fixture
def aegra(request: pytest.FixtureRequest) -> Any:
    return server_named(request, "aegra")


@pytest.fixture
def repo(tmp_path: Path, owner: str, aegra: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    return remote_project(tmp_path / "repo", owner, aegra.url, monkeypatch)


@pytest.fixture
def sdk(aegra: Any) -> Any:
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=aegra.url, api_key=None)


def styles(sdk: Any, owner: str) -> dict[str, str]:
    """This test's assistants on the server (not the example's): name → style (its live config)."""
    found = {a["metadata"]["controller/name"]: a for a in search_all(sdk, metadata={"controller/owner": owner})}
    return {name: a["config"]["configurable"].get("style") for name, a in found.items()
            if name.startswith(("poem", "verse"))}


def on_aegra(test: Any) -> Any:
    return pytest.mark.server(pytest.mark.aegra(test))


@on_aegra
def test_two_manifests_with_one_graph_and_config_are_an_error_naming_both(repo, owner, sdk, capsys):
    write("poem-a", poem("poem-a", "plain"))
    write("poem-b", poem("poem-b", "plain"))
    for argv in (("plan", "."), ("apply", ".", "--auto-approve", "--no-smoke")):
        code, out, err = run(capsys, *argv)
        assert code == 1, out + err
        assert err.count("have the same graph") == 1, err  # one line for the pair, not one per manifest
        assert "assistants/poem-b.yaml:6: spec.config: poem-b and poem-a (assistants/poem-a.yaml:6) have the same " \
               f"graph (writer) and config; Aegra 0.11.0 {RULE}: give one of them a config of its own" in err
    assert search_all(sdk, metadata={"controller/owner": owner}) == []  # nothing was written


@on_aegra
def test_a_config_handed_to_a_new_assistant_converges_in_one_apply(repo, owner, sdk, capsys):
    write("poem-a", poem("poem-a", "plain"))
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "poem-a")

    write("poem-a", poem("poem-a", "plain", model="m2"))  # poem-a gives up {style: plain} …
    write("poem-b", poem("poem-b", "plain", smoke=True))  # … and poem-b takes it, in one commit
    code, out, err = run(capsys, "apply", ".", "--auto-approve")  # dev-server: smoke: before (a candidate)
    assert code == 0, out + err
    assert out.index("~ poem-a: updated (v1 → v2)") < out.index("+ poem-b: created (v1)")  # the update goes first
    assert "✓ poem-b › writes" in out
    assert styles(sdk, owner)["poem-b"] == "plain"
    versions = sdk.assistants.get_versions(assistant_id_for(owner, "poem-a"))
    assert sorted(v["version"] for v in versions) == [1, 2]  # no refused write left a stray version
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0


@on_aegra
def test_a_rename_needs_prune_and_then_converges_in_one_apply(repo, owner, sdk, capsys):
    write("poem-a", poem("poem-a", "plain"))
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    Path("assistants/poem-a.yaml").unlink()
    write("verse", poem("verse", "plain"))  # the same assistant under a new name
    code, out, err = run(capsys, "plan", ".")
    assert code == 1
    assert (f"verse has the same graph (writer) and config as poem-a, which is still on the target but no longer "
            f"declared; Aegra 0.11.0 {RULE}: delete poem-a with --prune, or give verse a config of its own") in err
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke", "--prune")
    assert code == 0, out + err
    assert out.index("- poem-a: deleted") < out.index("+ verse: created (v1)")
    assert "poem-a" not in styles(sdk, owner) and styles(sdk, owner)["verse"] == "plain"


@on_aegra
def test_a_swap_is_refused_with_how_to_do_it_and_that_way_works(repo, owner, sdk, capsys):
    write("poem-a", poem("poem-a", "plain"))
    write("poem-b", poem("poem-b", "tweet"))
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    write("poem-a", poem("poem-a", "tweet"))
    write("poem-b", poem("poem-b", "plain"))
    code, out, err = run(capsys, "plan", ".")
    assert code == 1
    assert (f"assistants/poem-a.yaml:6: spec.config: poem-a and poem-b swap configs (graph writer); Aegra 0.11.0 {RULE} "
            "at every moment, so no order of writes applies this in one step: first give poem-a a config of its own "
            "and apply, then apply the swap") in err
    assert styles(sdk, owner) == {"poem-a": "plain", "poem-b": "tweet"}  # nothing was written

    write("poem-a", poem("poem-a", "blog"))  # as the message says: a config of its own first
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    write("poem-a", poem("poem-a", "tweet"))  # then the swap: poem-b frees tweet before poem-a takes it
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out + err
    assert styles(sdk, owner) == {"poem-a": "tweet", "poem-b": "plain"}
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0


@on_aegra
def test_a_write_refused_by_the_rule_names_it(repo, owner, sdk, capsys):
    """Another owner's assistant holds the config (the plan cannot see it): the refusal says why."""
    sdk.assistants.create("writer", config={"configurable": {"style": "plain"}}, metadata={"controller/owner": "someone"})
    write("poem-a", poem("poem-a", "plain"))
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 1
    assert (f"the server refused it as a duplicate: Aegra 0.11.0 {RULE}, and another assistant has this graph "
            "and config (HTTP 409:") in err


# -- where the rule does not exist ------------------------------------------------------------


@pytest.fixture(params=["embedded", pytest.param("langgraph-dev", marks=pytest.mark.server)])
def elsewhere(request: pytest.FixtureRequest, tmp_path: Path, owner: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project on the embedded target, or on `langgraph dev`."""
    if request.param == "embedded":
        from helpers import example_repo, git_init

        root = example_repo(tmp_path / "repo", owner)
        git_init(root)
        monkeypatch.chdir(root)
        for name in ("MODEL", "SIGNATURE", "CONTROLLER_TARGET", "CONTROLLER_OWNER"):
            monkeypatch.delenv(name, raising=False)
        return root
    return remote_project(tmp_path / "repo", owner, server_named(request, "langgraph-dev").url, monkeypatch)


def test_on_the_official_server_and_the_embedded_target_none_of_this_applies(elsewhere, capsys):
    write("poem-a", poem("poem-a", "plain"))
    write("poem-b", poem("poem-b", "tweet"))
    write("poem-c", poem("poem-c", "tweet"))  # the same graph and config twice: fine here
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out + err
    write("poem-a", poem("poem-a", "tweet"))  # and a swap, in one apply
    write("poem-b", poem("poem-b", "plain"))
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0 and "Apply complete: 0 created, 2 updated" in out, out + err
    assert RULE not in out + err
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0
