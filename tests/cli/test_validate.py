"""`controller validate`: every bad input is an exit 1 with one-line errors; other YAML in the
repository is left alone; unset variables are errors only when asked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import BLOG, ROOT, SUPPORT, edit, run

from controller.cli import main

BAD = sorted((ROOT / "tests" / "corpus" / "bad").glob("*.yaml"))
HEADER = re.compile(r"^# expect: (\d+): (.+)$")


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_every_bad_input_exits_1_with_one_line_errors_and_no_traceback(path: Path, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no controller.yaml above: the defaults apply
    line, message = HEADER.match(path.read_text(encoding="utf-8").split("\n", 1)[0]).groups()
    code = main(["validate", "--require-env", str(path)])  # var-unset-*: an error only with --require-env
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert re.fullmatch(r"\d+ errors?\.", lines[-1])  # validate writes nothing, and does not say so
    where = f"{path.name}:{line}:" if line != "0" else f"{path.name}:"  # line 0: the file as a whole
    assert any(where in e and message in e for e in lines[:-1]), err
    assert "Traceback" not in err


def test_errors_as_json_are_one_object(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = ROOT / "tests" / "corpus" / "bad" / "unknown-spec-confg.yaml"
    assert main(["validate", str(bad), "-o", "json"]) == 1
    out, _ = capsys.readouterr()
    body = json.loads(out)
    assert body["ok"] is False and any("spec.confg: unknown field (did you mean 'config'?)" in e for e in body["errors"])


def test_other_yaml_in_the_repository_is_left_alone(repo, capsys):
    chart = repo / "chart" / "templates"
    chart.mkdir(parents=True)
    (chart / "deployment.yaml").write_text("metadata:\n  name: {{ .Values.name }}\n  labels: {{- include x }}\n")
    (repo / "ci.yml").write_text("on: [push]\njobs: {build: {runs-on: ubuntu, steps: [{run: make test]}}\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "5 manifests valid" in out, err

    # a broken file that is meant for the controller still gets the full error
    (repo / "assistants" / "broken.yaml").write_text("apiVersion: assistant-controller/v1\nkind: [Assistant\n")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "broken.yaml:3: YAML syntax" in err

    # .controllerignore (gitignore syntax) leaves files out of folder walks
    (repo / ".controllerignore").write_text("# drafts\nassistants/broken.yaml\nchart/\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0, err
    assert "5 manifests valid" in out
    (repo / ".controllerignore").write_text("assistants/broken.yaml\nassistants/tweet-*.yaml\n")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "4 manifests valid" in out, err


def test_validate_needs_no_secrets_unless_asked(repo, capsys):
    edit(BLOG, "${MODEL:-anthropic:claude-sonnet}", "${NEEDED_TOKEN}")
    code, out, err = run(capsys, "validate", ".")
    assert code == 0, err
    assert "5 manifests valid" in out
    assert "warning: assistants/blog-writer.yaml:14: spec.config.configurable.model:" in err and "NEEDED_TOKEN" in err
    code, out, err = run(capsys, "validate", ".", "--require-env")
    assert code == 1 and "NEEDED_TOKEN" in err
    assert err.splitlines()[-1] == "1 error."  # validate never writes: no "nothing was written"
    code, _, err = run(capsys, "plan", ".")  # plan still needs it; it writes nothing either, so says nothing of it
    assert code == 1 and "NEEDED_TOKEN" in err and err.splitlines()[-1] == "1 error."
    code, _, err = run(capsys, "apply", ".", "--auto-approve")  # apply refuses before its first write, and says so
    assert code == 1 and "NEEDED_TOKEN" in err and err.splitlines()[-1] == "1 error; nothing was written."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_manifest_with_a_byte_order_mark_is_read(repo, capsys, encoding):
    text = BLOG.read_text()
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    BLOG.write_bytes(raw)
    code, out, err = run(capsys, "validate", ".")
    assert code == 0 and "5 manifests valid" in out, err


def test_broken_utf16_is_refused_by_name(repo, capsys):
    BLOG.write_bytes(b"\xff\xfe" + "apiVersion: assistant-controller/v1".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "blog-writer.yaml: not valid UTF-16 text" in err, err


def test_validate_catches_a_graph_typo_where_the_graphs_are_local(repo, capsys):
    """Pre-commit hooks and PR jobs run validate: a typo in spec.graph must not wait for plan."""
    edit(BLOG, "graph: writer", "graph: writr")
    code, _, err = run(capsys, "validate", ".")  # the embedded target's langgraph.json
    assert code == 1
    assert err.splitlines() == ["assistants/blog-writer.yaml:8: spec.graph: unknown graph 'writr' (did you mean 'writer'?); "
                                "langgraph.json declares: chat, faq, grader, writer", "1 error."]
    code, _, err = run(capsys, "validate", ".", "-t", "dev-server")  # a remote target: the project's langgraph.json
    assert code == 1 and ("spec.graph: unknown graph 'writr' (did you mean 'writer'?); langgraph.json declares: chat, "
                          "faq, grader, writer; if the server serves graphs of its own, validate --offline skips this check") in err
    code, out, err = run(capsys, "validate", ".", "--offline")
    assert code == 0 and "5 manifests valid" in out, err


def test_validate_offline_leaves_the_graphs_alone(repo, capsys):
    """--offline reads no langgraph.json and loads no graph: a hook without the graphs' dependencies."""
    edit(SUPPORT, "persona: support", "persna: support")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "support-bot.yaml:12: spec.context.persna: not in the graph's context schema" in err, err
    code, out, err = run(capsys, "validate", ".", "--offline")
    assert code == 0 and "5 manifests valid" in out and err == "", err
    (repo / "langgraph.json").write_text("{not json")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "langgraph.json:1: invalid JSON" in err, err
    code, out, err = run(capsys, "validate", ".", "--offline")
    assert code == 0 and "5 manifests valid" in out, err
