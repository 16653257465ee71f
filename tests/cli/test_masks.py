"""Masks a reviewer can read: variables declared `plain:` in controller.yaml are shown, every
other `${VAR}` stays masked (its default too), and a smoke failure whose expected and actual
differ only inside masked parts says so instead of showing two equal masks."""

from __future__ import annotations

import json

from helpers import BLOG, edit, run

SECRET = "sk-never-shown"


def declare_plain(repo, names: str) -> None:
    edit(repo / "controller.yaml", "owner: demo-agents\n", f"owner: demo-agents\nplain: [{names}]\n")


def model_entry(out: str) -> dict:
    blog = next(c for c in json.loads(out)["changes"] if c["name"] == "blog-writer")
    return next(e for e in blog["diff"] if e["path"] == "config.configurable.model")


def test_a_default_is_masked_until_the_variable_is_declared_plain(repo, capsys, monkeypatch):
    code, out, _ = run(capsys, "plan", ".", "-o", "json")
    assert code == 0 and model_entry(out)["after"] == "(sensitive)"  # ${MODEL:-anthropic:claude-sonnet}, MODEL unset

    declare_plain(repo, "MODEL")
    code, out, err = run(capsys, "plan", ".")
    assert code == 0, err
    assert '+ config.configurable.model: "anthropic:claude-sonnet"' in out
    assert "+ config.configurable.signature: (sensitive)" in out  # ${SIGNATURE:-the social team}: not declared
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0

    monkeypatch.setenv("MODEL", "openai:gpt-4.1")  # the pull request's choice, as a reviewer reads it
    code, out, _ = run(capsys, "plan", ".")
    assert '~ config.configurable.model: "anthropic:claude-sonnet" → "openai:gpt-4.1"' in out
    code, out, _ = run(capsys, "plan", ".", "-o", "markdown")
    assert '+ config.configurable.model: "openai:gpt-4.1"' in out

    edit(repo / "controller.yaml", "plain: [MODEL]\n", "")  # no longer declared: masked again, both sides
    code, out, _ = run(capsys, "plan", ".")
    assert "~ config.configurable.model: (sensitive) → (sensitive)" in out and "gpt-4.1" not in out


def test_a_string_with_one_secret_variable_stays_masked(repo, capsys, monkeypatch):
    declare_plain(repo, "MODEL")
    edit(BLOG, "${MODEL:-anthropic:claude-sonnet}", "${MODEL:-anthropic:claude-sonnet}?key=${MODEL_KEY}")
    monkeypatch.setenv("MODEL_KEY", SECRET)
    code, out, _ = run(capsys, "plan", ".", "-o", "json")
    assert code == 0 and model_entry(out)["after"] == "(sensitive)" and SECRET not in out


def test_plain_takes_variable_names_only(repo, capsys):
    declare_plain(repo, "MODEL, not-a-name")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and err.splitlines()[0] == "controller.yaml:5: plain[1]: invalid value 'not-a-name'", err


def test_a_smoke_failure_inside_a_masked_value_says_so(repo, capsys, monkeypatch):
    """The live model was written with one secret, the case now expects another: both show as
    (sensitive), so the failure says that they differ inside it."""
    edit(BLOG, "- {path: model, exists: true}", '- {path: model, equals: "${MODEL:-anthropic:claude-sonnet}"}')
    monkeypatch.setenv("MODEL", f"{SECRET}-1")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    monkeypatch.setenv("MODEL", f"{SECRET}-2")
    code, out, err = run(capsys, "test", "blog-writer")
    assert code == 3 and SECRET not in out + err
    assert "equals model: values differ (it differs inside a sensitive value, which is masked)" in out
    assert 'expected: "(sensitive)"' in out and 'actual:   "(sensitive)"' in out
    code, out, _ = run(capsys, "test", "blog-writer", "-o", "json")
    failure = json.loads(out)["cases"][0]["failure"]
    assert failure["message"].endswith("(it differs inside a sensitive value, which is masked)")
