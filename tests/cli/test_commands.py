"""What holds for every command (cli/commands.py): one project root whatever the PATH, an explicit
owner on a shared target, no secret in any output, and no manifests is an error.

Every command run anywhere in a project must agree on the state file and the owner,
or `history`/`rollback`/`test` answer "no assistant named" for what `apply` just made,
and a second checkout of the same repository duplicates everything on a shared server.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import BLOG, SECRET, edit, example_repo, git, git_init, run, state

HOWTO = "set owner: in controller.yaml, or pass --owner NAME, or set CONTROLLER_OWNER"


def bare_project(folder: Path) -> Path:
    """The example manifests without a controller.yaml: every default is in play."""
    example_repo(folder)
    (folder / "controller.yaml").unlink()
    return folder


# -- one project root ----------------------------------------------------------------------

@pytest.mark.usefixtures("clean_env")
def test_outside_git_every_command_from_the_project_folder_finds_what_apply_made(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no work tree above the project
    project = bare_project(tmp_path / "team-bots")
    monkeypatch.chdir(project)
    code, out, err = run(capsys, "apply", "assistants/", "--auto-approve")
    assert code == 0, out + err
    assert out.startswith("Plan for owner team-bots on embedded .controller/state.db (default: name of the project root folder)")
    assert (project / ".controller" / "state.db").is_file()
    assert not (project / "assistants" / ".controller").exists()  # the PATH is not the root

    code, out, err = run(capsys, "plan", "assistants/")
    assert code == 0 and "No changes." in out, out + err
    code, out, err = run(capsys, "history", "blog-writer")
    assert code == 0, out + err
    assert "assistants/blog-writer.yaml" in out
    code, out, err = run(capsys, "test", "blog-writer", "-p", "assistants")
    assert code == 0 and "Smoke: 1 passed, 0 failed." in out, out + err

    edit(project / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
    assert run(capsys, "apply", "assistants/", "--auto-approve")[0] == 0
    code, out, err = run(capsys, "rollback", "blog-writer")
    assert code == 0 and "blog-writer: v2 → v1" in out, out + err


@pytest.mark.usefixtures("clean_env")
def test_in_git_every_command_from_a_subfolder_finds_what_apply_made(tmp_path: Path, capsys, monkeypatch):
    repo = bare_project(tmp_path / "acme")
    git_init(repo)
    monkeypatch.chdir(repo)
    assert run(capsys, "apply", "assistants/", "--auto-approve")[0] == 0

    monkeypatch.chdir(repo / "assistants")  # manifests here: they are what is declared
    code, out, err = run(capsys, "plan")
    assert code == 0 and "No changes." in out, out + err
    state = repo / ".controller" / "state.db"
    assert out.startswith(f"Plan for owner acme on embedded {state} (default: name of the project root folder)")
    code, out, err = run(capsys, "history", "blog-writer")
    assert code == 0 and "assistants/blog-writer.yaml" in out, out + err  # source relative to the root
    code, out, err = run(capsys, "test", "tweet-writer")
    assert code == 0 and "Smoke: 1 passed, 0 failed." in out, out + err

    monkeypatch.chdir(repo / "graphs")  # no manifests here: the owner listing still finds NAME
    edit(repo / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
    assert run(capsys, "apply", str(repo / "assistants"), "--auto-approve")[0] == 0
    code, out, err = run(capsys, "rollback", "blog-writer")
    assert code == 0 and "blog-writer: v2 → v1" in out, out + err
    assert not (repo / "graphs" / ".controller").exists() and not (repo / "assistants" / ".controller").exists()


@pytest.mark.usefixtures("clean_env")
def test_not_found_names_the_state_file_the_owner_and_how_it_was_chosen(tmp_path: Path, capsys, monkeypatch):
    repo = bare_project(tmp_path / "acme")
    git_init(repo)
    monkeypatch.chdir(repo / "assistants")
    state = repo / ".controller" / "state.db"
    code, _, err = run(capsys, "history", "nope")
    assert code == 1
    assert err.strip() == (f"error: no assistant named 'nope' for owner 'acme' "
                           f"(default: name of the project root folder) on {state}")
    code, _, err = run(capsys, "rollback", "nope", "--owner", "ci-bots")
    assert code == 1 and "owner 'ci-bots' (--owner)" in err and str(state) in err
    monkeypatch.setenv("CONTROLLER_OWNER", "env-bots")
    code, _, err = run(capsys, "history", "nope")
    assert code == 1 and "owner 'env-bots' (CONTROLLER_OWNER)" in err
    (repo / "controller.yaml").write_text("apiVersion: assistant-controller/v1\nkind: Config\nowner: acme-agents\n")
    code, _, err = run(capsys, "history", "nope", "--owner", "flag-wins")
    assert code == 1 and "owner 'flag-wins' (--owner)" in err
    monkeypatch.delenv("CONTROLLER_OWNER")
    code, _, err = run(capsys, "history", "nope")
    assert code == 1 and "owner 'acme-agents' (controller.yaml)" in err


@pytest.mark.usefixtures("clean_env")
def test_a_project_below_the_current_directory_is_refused_with_the_way_to_use_it(tmp_path: Path, capsys, monkeypatch):
    """`controller plan manifests/` from above a project would plan it under another root and
    owner; it says how to use that project instead, and writes nothing."""
    example_repo(tmp_path / "repo" / "manifests")
    git_init(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    code, out, err = run(capsys, "apply", "manifests", "--auto-approve")
    assert code == 1 and out == ""
    assert err.splitlines()[0] == ("manifests/controller.yaml is not used: the project root comes from the current "
                                   "directory, never from PATH; run from manifests/, or pass --config manifests/controller.yaml")
    assert not (tmp_path / "repo" / ".controller").exists()
    assert run(capsys, "apply", "manifests", "--config", "manifests/controller.yaml", "--auto-approve", "--no-smoke")[0] == 0


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "watch"])
def test_no_manifests_under_the_path_is_an_error_not_no_changes(repo, capsys, command):
    (repo / "empty").mkdir()
    code, out, err = run(capsys, command, "empty", "--config", "controller.yaml")
    assert code == 1
    assert "no manifests found under empty" in err
    assert "No changes" not in out


# -- explicit owners on shared targets ------------------------------------------------------

class CountingServer:
    """Any HTTP server: it only counts the requests it gets (the controller must send none)."""

    def __init__(self) -> None:
        self.requests = 0
        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_ANY(self) -> None:
                counter.requests += 1
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = do_PATCH = do_DELETE = do_ANY

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("command", [
    ["plan"], ["apply", "--auto-approve"], ["watch", "--interval", "1h"], ["import", "--out", "imported"],
])
def test_a_remote_target_without_an_owner_is_refused_before_any_request(
    tmp_path: Path, capsys, monkeypatch, counting: CountingServer, command: list[str]
):
    repo = bare_project(tmp_path / "acme")
    git_init(repo)
    monkeypatch.chdir(repo)
    code, out, err = run(capsys, *command, "--url", counting.url)
    assert code == 1
    assert err.splitlines() == [f"error: no owner for the remote target {counting.url}: {HOWTO}"]
    assert counting.requests == 0
    assert not (repo / "imported").exists() and not (repo / ".controller").exists()


@pytest.mark.usefixtures("clean_env")
def test_a_configured_remote_target_without_an_owner_is_refused_too(tmp_path: Path, capsys, monkeypatch, counting):
    repo = bare_project(tmp_path / "acme")
    (repo / "controller.yaml").write_text(
        f"apiVersion: assistant-controller/v1\nkind: Config\ntargets:\n  prod: {{url: '{counting.url}'}}\n")
    monkeypatch.chdir(repo)
    code, _, err = run(capsys, "plan", "-o", "json")
    assert code == 1 and err.strip() == f"error: no owner for the remote target {counting.url}: {HOWTO}"
    assert counting.requests == 0
    monkeypatch.setenv("CONTROLLER_OWNER", "bad owner")
    code, _, err = run(capsys, "plan")
    assert code == 1 and "CONTROLLER_OWNER: invalid owner 'bad owner'" in err and counting.requests == 0


@pytest.mark.usefixtures("clean_env")
@pytest.mark.server
def test_point_one_on_a_remote_target_with_url_and_owner(agent_server, owner: str, tmp_path: Path, capsys, monkeypatch):
    repo = bare_project(tmp_path / "acme")
    git_init(repo)
    monkeypatch.chdir(repo)
    flags = ("--url", agent_server.url, "--owner", owner)
    code, out, err = run(capsys, "apply", "assistants/", "--auto-approve", "--no-smoke", *flags)
    assert code == 0, out + err
    assert out.startswith(f"Plan for owner {owner} on {agent_server.url} (owner from --owner)")
    code, out, err = run(capsys, "plan", "assistants/", *flags)
    assert code == 0 and "No changes." in out, out + err
    monkeypatch.chdir(repo / "graphs")
    code, out, err = run(capsys, "history", "blog-writer", *flags)
    assert code == 0 and "assistants/blog-writer.yaml" in out, out + err
    monkeypatch.chdir(repo / "assistants")
    code, out, err = run(capsys, "test", "blog-writer", *flags)
    assert code == 0 and "Smoke: 1 passed, 0 failed." in out, out + err
    edit(repo / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
    assert run(capsys, "apply", "--auto-approve", "--no-smoke", *flags)[0] == 0
    code, out, err = run(capsys, "rollback", "blog-writer", *flags)
    assert code == 0 and "blog-writer: v2 → v1" in out, out + err
    code, _, err = run(capsys, "history", "nope", *flags)
    assert code == 1 and f"owner {owner!r} (--owner) on {agent_server.url}" in err


@pytest.mark.usefixtures("clean_env")
@pytest.mark.server
def test_two_checkouts_in_different_folders_share_one_owner(agent_server, owner: str, tmp_path: Path, capsys, monkeypatch):
    origin = example_repo(tmp_path / "repo", owner)
    config = origin / "controller.yaml"
    config.write_text(config.read_text().replace("http://127.0.0.1:2024", agent_server.url))
    git_init(origin)
    second = tmp_path / "ci" / "repo@2"
    second.parent.mkdir()
    git(tmp_path, "clone", "-q", str(origin), str(second))
    monkeypatch.setenv("CONTROLLER_TARGET", "dev-server")

    monkeypatch.chdir(origin)
    code, out, err = run(capsys, "apply", "--auto-approve", "--no-smoke")
    assert code == 0 and "Plan: 5 to create" in out, out + err
    monkeypatch.chdir(second)
    code, out, err = run(capsys, "plan", "assistants", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["owner"], plan["owner_source"], plan["target"]) == (owner, "controller.yaml", agent_server.url)
    assert plan["summary"]["create"] == 0 and plan["summary"]["noop"] == 5
    code, out, _ = run(capsys, "plan")
    assert out.splitlines()[0] == f"Plan for owner {owner} on {agent_server.url} (owner from controller.yaml)"
    assert "No changes." in out


# -- no secret in any output ----------------------------------------------------------------

def test_secrets_from_the_environment_never_appear(repo, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", SECRET)
    outputs = []
    for argv in (("plan", "."), ("plan", ".", "-o", "json"), ("plan", ".", "--out", "p.plan"),
                 ("apply", "p.plan", "--auto-approve"), ("plan", "."), ("history", "blog-writer", "-o", "json")):
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        outputs.append(out + err)
    outputs.append(Path("p.plan").read_text())
    monkeypatch.setenv("MODEL", SECRET + "-rotated")
    code, out, err = run(capsys, "plan", ".", "-o", "json")
    outputs.append(out + err)
    for text in outputs:
        assert SECRET not in text
    assert "(sensitive)" in outputs[0]
    diff = json.loads(out)["changes"][0]["diff"]
    assert {"op": "~", "path": "config.configurable.model", "before": "(sensitive)", "after": "(sensitive)"} in diff
    assert state(repo, "blog-writer").content.config["configurable"]["model"] == SECRET  # the real value was written


def test_a_secret_written_earlier_stays_masked_when_the_default_is_used_now(repo, capsys, monkeypatch):
    """MODEL=sk-secret apply, then every command without MODEL: the live value is the secret."""
    monkeypatch.setenv("MODEL", SECRET)
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    monkeypatch.delenv("MODEL")
    edit(BLOG, "{path: model, exists: true}", '{path: model, equals: "a-different-model"}')  # fails on any model
    outputs = []
    for argv in (("plan", "."), ("plan", ".", "-o", "json"), ("plan", ".", "--out", "p.plan"),
                 ("test", "blog-writer", "--junit", "test.xml"), ("test", "blog-writer", "-o", "json"),
                 ("apply", "p.plan", "--auto-approve", "--junit", "apply.xml"),
                 ("apply", ".", "--auto-approve", "-o", "json"), ("history", "blog-writer", "-o", "json")):
        code, out, err = run(capsys, *argv)
        outputs.append(" ".join(argv) + "\n" + out + err)
    for file in ("p.plan", "test.xml", "apply.xml"):
        outputs.append(Path(file).read_text())
    for text in outputs:
        assert SECRET not in text, text
    assert '"(sensitive)"' in outputs[1] and "anthropic:claude-sonnet" not in outputs[1]
    assert json.loads(Path("p.plan").read_text())["changes"][0]["before"]["config"]["configurable"]["model"]["$sensitive"]


def test_a_mistyped_name_suggests_the_closest_declared_one(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    for command in ("history", "rollback"):
        code, _, err = run(capsys, command, "blog-writr")
        assert code == 1 and err.strip().endswith("(did you mean 'blog-writer'?)"), err
    code, _, err = run(capsys, "test", "tweet-writter")
    assert code == 1 and "no manifest named 'tweet-writter' (did you mean 'tweet-writer'?)" in err, err
    code, _, err = run(capsys, "history", "zzz")  # nothing close: no guess, the plain answer
    assert code == 1 and "did you mean" not in err
    code, _, err = run(capsys, "test", "zzz")
    assert code == 1 and "no manifest named 'zzz' (declared: blog-writer, faq-bot, faq-grader, support-bot, tweet-writer)" in err
