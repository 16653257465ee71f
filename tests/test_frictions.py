"""Every failure a clear one-line message, and output a person can use: the CLI as a user meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BLOG, edit, run

from controller.cli.planview import render_text
from controller.core.content import Content
from controller.engine.desired import Declaration
from controller.engine.plan import Change, Plan

ROOT = Path(__file__).resolve().parent.parent


# -- files edited by hand ------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated", "edited", "foreign", "binary"])
def test_a_damaged_plan_file_is_refused_by_name_and_nothing_is_applied(repo, capsys, damage):
    assert run(capsys, "plan", ".", "--out", "tfplan")[0] == 0
    text = Path("tfplan").read_text()
    if damage == "truncated":
        Path("tfplan").write_text(text[: len(text) // 2])
    elif damage == "edited":
        data = json.loads(text)
        del data["changes"][0]["assistant_id"]
        data["changes"][1]["action"] = "explode"
        Path("tfplan").write_text(json.dumps(data))
    elif damage == "foreign":
        Path("tfplan").write_text('{"name": "some-package", "version": "1.0.0"}\n')
    else:
        Path("tfplan").write_bytes(bytes(range(256)) * 4)
    code, out, err = run(capsys, "apply", "tfplan")
    assert code == 1, out + err
    assert err.startswith("error: not a valid plan file: tfplan: "), err
    assert len(err.splitlines()) == 1 and "KeyError" not in err and "Traceback" not in err
    assert not (repo / ".controller" / "state.db").exists()


def test_a_saved_plan_reopens_its_own_target_and_needs_no_approval(repo, capsys, monkeypatch):
    assert run(capsys, "plan", ".", "--out", "tfplan")[0] == 0
    record = json.loads(Path("tfplan").read_text())["target_spec"]
    assert record["name"] == "local" and record["embedded"].endswith("state.db")
    # The environment now points elsewhere (a server that is not running): the plan's own target wins.
    monkeypatch.setenv("CONTROLLER_TARGET", "dev-server")
    code, out, err = run(capsys, "apply", "tfplan")  # no -t, no --auto-approve, no terminal
    assert code == 0, err
    assert "Apply complete" in out
    assert (repo / ".controller" / "state.db").exists()


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "watch"])
def test_no_manifests_under_the_path_is_an_error_not_no_changes(repo, capsys, command):
    (repo / "empty").mkdir()
    code, out, err = run(capsys, command, "empty", "--config", "controller.yaml")
    assert code == 1
    assert "no manifests found under empty" in err
    assert "No changes" not in out


def test_other_yaml_in_the_repository_is_left_alone(repo, capsys):
    chart = repo / "chart" / "templates"
    chart.mkdir(parents=True)
    (chart / "deployment.yaml").write_text("metadata:\n  name: {{ .Values.name }}\n  labels: {{- include x }}\n")
    (repo / "ci.yml").write_text("on: [push]\njobs: {build: {runs-on: ubuntu, steps: [{run: make test]}}\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "3 manifests valid" in out, err

    # a broken file that is meant for the controller still gets the full error
    (repo / "assistants" / "broken.yaml").write_text("apiVersion: assistant-controller/v1\nkind: [Assistant\n")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "broken.yaml:3: YAML syntax" in err

    # .controllerignore (gitignore syntax) leaves files out of folder walks
    (repo / ".controllerignore").write_text("# drafts\nassistants/broken.yaml\nchart/\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0, err
    assert "3 manifests valid" in out
    (repo / ".controllerignore").write_text("assistants/broken.yaml\nassistants/tweet-*.yaml\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "2 manifests valid" in out, err


def test_validate_needs_no_secrets_unless_asked(repo, capsys):
    edit(BLOG, "${MODEL:-anthropic:claude-sonnet}", "${NEEDED_TOKEN}")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0, err
    assert "3 manifests valid" in out
    assert "warning: assistants/blog-writer.yaml:14: spec.config.configurable.model:" in err and "NEEDED_TOKEN" in err
    code, out, err = run(capsys, "validate", ".", "--require-env")
    assert code == 1 and "NEEDED_TOKEN" in err
    assert err.splitlines()[-1] == "1 error."  # validate never writes: no "nothing was written"
    code, _, err = run(capsys, "plan", ".")  # plan still needs it
    assert code == 1 and "NEEDED_TOKEN" in err and err.splitlines()[-1] == "1 error; nothing was written."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_manifest_with_a_byte_order_mark_is_read(repo, capsys, encoding):
    text = BLOG.read_text()
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    BLOG.write_bytes(raw)
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "3 manifests valid" in out, err


def test_broken_utf16_is_refused_by_name(repo, capsys):
    BLOG.write_bytes(b"\xff\xfe" + "apiVersion: assistant-controller/v1".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "blog-writer.yaml: not valid UTF-16 text" in err, err


def test_import_with_an_unknown_graph_says_so(repo, capsys, tmp_path):
    code, _, err = run(capsys, "import", "--out", str(tmp_path / "out"), "--graph", "wirter")
    assert code == 1
    assert "--graph: unknown graph 'wirter'; the target has: chat, writer" in err
    assert not (tmp_path / "out").exists()


def test_a_graph_that_fails_to_load_is_reported_once(repo, capsys):
    (repo / "graphs" / "writer.py").write_text("raise RuntimeError('boom')\n")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1
    assert sum("graph cannot be loaded" in line for line in err.splitlines()) == 1, err  # blog and tweet share it


# -- output a person can use ---------------------------------------------------------

def test_the_text_plan_starts_with_owner_and_target(repo, capsys):
    code, out, _ = run(capsys, "plan", ".")
    assert code == 0
    assert out.splitlines()[0] == "Plan for owner demo-agents on embedded .controller/state.db (owner from controller.yaml)"


def _content(prompt: str) -> Content:
    return Content("writer", "w", None, {"configurable": {"prompt": prompt}}, {}, {})


def test_one_word_changed_in_an_800kb_prompt_prints_little():
    words = [f"word{i}" for i in range(100_000)]
    before = " ".join(words)
    words[50_000] = "CHANGED"
    after = " ".join(words)
    assert len(before) > 700_000
    plan = Plan("o", "t", (Change("update", Declaration("w", "id"), seen_version=1, before=_content(before),
                                  content=_content(after)),))
    text = render_text(plan)
    assert len(text) < 20_000
    assert "[-word50000-]{+CHANGED+}" in text and "word49999" in text and "word50001" in text


def test_a_huge_new_value_is_elided_in_text_but_whole_in_json(repo, capsys):
    huge = "x" * 50_000
    edit(BLOG, "style: blog", f"style: {huge}")
    code, out, _ = run(capsys, "plan", ".")
    assert code == 0 and len(out) < 20_000 and "characters elided; -o json has the full value" in out
    code, out, _ = run(capsys, "plan", ".", "-o", "json")
    assert huge in out


def test_quiet_prints_only_errors_and_the_summary(repo, capsys):
    code, out, err = run(capsys, "plan", ".", "-q")
    assert code == 0 and out == "Plan: 3 to create, 0 to update, 0 to repin, 0 to delete.\n" and err == ""
    code, out, err = run(capsys, "apply", ".", "-q", "--auto-approve")
    assert code == 0
    assert out.splitlines() == ["Plan: 3 to create, 0 to update, 0 to repin, 0 to delete.",
                                "Apply complete: 3 created, 0 updated, 0 repinned, 0 deleted. Smoke: 3 passed, 0 failed."], out


@pytest.mark.parametrize("reader", ["head -1", "true"])  # true: gone before the first write, every time
def test_plan_into_a_reader_that_stops_early_exits_quietly(repo, reader):
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "CONTROLLER_TARGET")}
    script = f"{sys.executable} -c 'import sys; from controller.cli import main; sys.exit(main())' plan . | {reader}"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script], check=False, capture_output=True, text=True, env=env, cwd=repo)
    if reader.startswith("head"):
        assert done.stdout == "Plan for owner demo-agents on embedded .controller/state.db (owner from controller.yaml)\n"
    assert done.stderr == "" and done.returncode == 0, done.stderr


def test_markdown_plan_for_a_pull_request(repo, capsys, monkeypatch):
    secret = "sk-never-in-a-comment"
    monkeypatch.setenv("MODEL", secret)
    code, out, err = run(capsys, "plan", ".", "-o", "markdown")
    assert code == 0, err
    assert out.startswith("### Plan for owner demo-agents on embedded .controller/state.db (owner from controller.yaml)\n")
    assert "| create | 3 |" in out and "**Plan: 3 to create, 0 to update, 0 to repin, 0 to delete.**" in out
    assert out.count("<details>") == 3 and out.count("</details>") == 3
    assert "<summary><code>+ blog-writer: create</code>" in out and "```diff" in out
    assert secret not in out and "(sensitive)" in out


def test_history_times_carry_their_time_zone(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer")
    assert code == 0
    row = out.splitlines()[1]
    assert "+00:00" in row, row
