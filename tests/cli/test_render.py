"""`controller render`: each assistant as it will be written (Defaults merged, prompt files read,
variables resolved, values from the environment masked), like `kustomize build`."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from helpers import BLOG, SECRET, edit, run

from controller.cli import build_parser


def test_render_prints_every_effective_manifest_as_yaml(repo, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", SECRET)
    code, out, err = run(capsys, "render")
    assert code == 0 and err == "", err
    assert SECRET not in out
    docs = list(yaml.safe_load_all(out))
    assert [d["metadata"]["name"] for d in docs] == ["blog-writer", "faq-bot", "faq-grader", "support-bot", "tweet-writer"]
    assert all(d["apiVersion"] == "assistant-controller/v1" and d["kind"] == "Assistant" for d in docs)
    tweet = docs[4]["spec"]
    prompt = (repo / "assistants" / "prompts" / "tweet-writer.md").read_text()
    assert tweet["config"]["configurable"]["system_prompt"] == prompt  # the file's text, as it is
    assert tweet["config"]["configurable"]["model"] == "(sensitive)"  # from the Defaults, from the environment
    assert tweet["config"]["configurable"]["signature"] == "(sensitive)"
    assert tweet["metadata"] == {"reviewed-by": "editorial-team"}
    assert "# assistants/tweet-writer.yaml:2 (prompts: assistants/prompts/tweet-writer.md)" in out.splitlines()
    assert "      system_prompt: |\n        # Tweet writer\n" in out  # a prompt reads as a block


def test_render_names_and_json(repo, capsys):
    code, out, _ = run(capsys, "render", "support-bot", "-o", "json")
    assert code == 0
    body = json.loads(out)
    (only,) = body["manifests"]
    assert (only["name"], only["source"], only["prompts"]) == ("support-bot", "assistants/support-bot.yaml:2", [])
    assert only["manifest"]["spec"]["context"]["persona"] == "support"
    code, out, err = run(capsys, "render", "blog-writer", "nope")
    assert code == 1 and out == "" and err.splitlines() == [
        "no manifest named 'nope' (declared: blog-writer, faq-bot, faq-grader, support-bot, tweet-writer)", "1 error."]  # render writes nothing


def test_render_uses_a_targets_values_and_needs_no_owner_or_server(repo, capsys, clean_env):
    edit(repo / "controller.yaml", "owner: demo-agents\n", "")
    code, out, err = run(capsys, "render", "tweet-writer", "-t", "dev-server")  # a url target, not contacted
    assert code == 0, err
    assert "signature: the dev team" in out  # the target's value, not sensitive


def test_render_reports_what_validate_reports(repo, capsys):
    edit(repo / BLOG, "style: blog", "style: blog\n      system_prompt2: ${file:missing.md}")
    code, out, err = run(capsys, "render")
    assert code == 1 and out == ""
    assert "assistants/blog-writer.yaml:14: spec.config.configurable.system_prompt2: prompt file missing.md: no such file" in err
    assert run(capsys, "validate")[2] == err


@pytest.mark.parametrize("argv", [["--help"], ["render", "--help"]])
def test_help_describes_render(argv, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    out = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert "render" in out and "Defaults merged" in out
