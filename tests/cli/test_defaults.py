"""``kind: Defaults``, as a user meets it: merged under the assistants it selects (maps key by key,
the assistant wins; smoke appended; other lists replaced), named in the plan, its edits never served
from a cache, its conflicts and mistakes one-line errors at their lines with nothing written.

The example project's own Defaults (assistants/defaults/writers.yaml) selects the two writers."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from helpers import BLOG, SECRET, TWEET, edit, run, state

WRITERS = Path("assistants/defaults/writers.yaml")


def write_defaults(repo: Path, name: str, body: str, selector: str = "", file: str | None = None) -> Path:
    path = repo / "assistants" / "defaults" / f"{file or name}.yaml"
    path.write_text("apiVersion: assistant-controller/v1\nkind: Defaults\n"
                    f"metadata: {{name: {name}}}\n{selector}spec:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return path


def rendered(capsys) -> dict[str, dict]:
    code, out, err = run(capsys, "render", "-o", "json")
    assert code == 0, err
    return {m["name"]: m["manifest"]["spec"] for m in json.loads(out)["manifests"]}


def test_defaults_are_merged_under_the_assistants_they_select(repo, capsys):
    write_defaults(repo, "support", """\
        context: {persona: generic, max_turns: 10}
        metadata: {owner: support-team}
        smoke:
          - name: says hello
            input: {message: "hi"}
            expect:
              - {path: reply, contains: "You said: hi"}
        """, "selector: {matchLabels: {team: support}}\n")
    write_defaults(repo, "tags", "config: {tags: [writers]}\n", "selector: {matchLabels: {role: writer}}\n")
    spec = rendered(capsys)
    support = spec["support-bot"]
    assert support["context"] == {"persona": "support", "greeting": "Hi, how can we help?", "max_turns": 5}  # its own win
    assert support["metadata"] == {"owner": "support-team"}  # what it does not set comes from the Defaults
    assert [c["name"] for c in support["smoke"]] == ["greets, then keeps the conversation", "says hello"]  # appended
    assert spec["tweet-writer"]["config"]["tags"] == ["social"]  # a list is replaced by the assistant's own
    assert spec["blog-writer"]["config"]["tags"] == ["writers"]
    assert spec["tweet-writer"]["config"]["configurable"]["model"] == "(sensitive)"  # from writers.yaml's ${MODEL}
    assert spec["blog-writer"]["metadata"] == {"owner": "content-team", "reviewed-by": "editorial-team"}

    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0 and "Smoke: 4 passed, 0 failed." in out, out + err  # support-bot's own case and the shared one
    assert state(repo, "support-bot").content.metadata["owner"] == "support-team"
    code, out, err = run(capsys, "test", "support-bot")
    assert code == 0 and "Smoke: 2 passed, 0 failed." in out, out + err


def test_an_edited_defaults_document_is_planned_for_the_assistants_it_selects_and_named(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert "No changes" in run(capsys, "plan", ".")[1]  # (the in-sync record now holds every file)
    edit(repo / WRITERS, "reviewed-by: editorial-team", "reviewed-by: copy-desk")
    code, out, err = run(capsys, "plan", ".")
    assert code == 0 and "Plan: 0 to create, 2 to update" in out, out + err
    assert out.count('~ metadata.reviewed-by (from assistants/defaults/writers.yaml:13): "editorial-team" → "copy-desk"') == 2
    assert "support-bot" not in out
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert state(repo, "tweet-writer").content.metadata["reviewed-by"] == "copy-desk"

    # an assistant that sets the value itself is not changed by the Defaults
    edit(repo / BLOG, "metadata: {owner: content-team}", "metadata: {owner: content-team, reviewed-by: copy-desk}")
    edit(repo / WRITERS, "reviewed-by: copy-desk", "reviewed-by: legal")
    code, out, _ = run(capsys, "plan", ".")
    assert "Plan: 0 to create, 1 to update" in out and "tweet-writer: update" in out and "blog-writer" not in out


def test_a_defaults_document_nothing_selects_changes_nothing(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    write_defaults(repo, "nobody", "metadata: {owner: nobody}\n", "selector: {matchLabels: {team: nobody}}\n")
    code, out, _ = run(capsys, "plan", ".", "--detailed-exitcode")
    assert code == 0 and "No changes" in out


def test_values_of_defaults_from_the_environment_are_masked(repo, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", SECRET)
    code, planned, err = run(capsys, "plan", ".")
    assert code == 0 and "+ config.configurable.model (from assistants/defaults/writers.yaml:12): (sensitive)" in planned
    code, applied, err2 = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0 and SECRET not in planned + err + applied + err2
    assert state(repo, "tweet-writer").content.config["configurable"]["model"] == SECRET
    monkeypatch.setenv("MODEL", SECRET + "-2")
    code, out, err = run(capsys, "plan", ".")
    assert "~ config.configurable.model (from assistants/defaults/writers.yaml:12): (sensitive) → (sensitive)" in out
    assert SECRET not in out + err + run(capsys, "render")[1]


def test_a_defaults_prompt_file_is_relative_to_the_defaults_document(repo, capsys):
    (repo / "assistants" / "defaults" / "prompts").mkdir()
    (repo / "assistants" / "defaults" / "prompts" / "writer.md").write_text("Write well.\n")
    edit(repo / TWEET, "      system_prompt: ${file:prompts/tweet-writer.md}   # the text of that file, as it is\n", "")
    edit(repo / WRITERS, "  metadata:", "      system_prompt: ${file:prompts/writer.md}\n  metadata:")
    code, out, err = run(capsys, "plan", ".")
    assert code == 0, err
    assert ('+ config.configurable.system_prompt (from assistants/defaults/prompts/writer.md '
            '(assistants/defaults/writers.yaml:13)): "Write well.\\n"') in out
    assert out.count("system_prompt (from assistants/defaults/prompts/writer.md") == 1  # blog-writer has its own
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert state(repo, "tweet-writer").content.metadata["controller/prompts"] == ["assistants/defaults/prompts/writer.md"]
    (repo / "assistants" / "defaults" / "prompts" / "writer.md").write_text("Write better.\n")
    code, out, _ = run(capsys, "plan", ".")
    assert "Plan: 0 to create, 1 to update" in out and "+Write better." in out


def test_two_defaults_that_disagree_are_an_error_naming_both_until_the_assistant_decides(repo, capsys):
    write_defaults(repo, "legal", "metadata: {reviewed-by: legal}\n", "selector: {matchLabels: {role: writer}}\n")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 1, out + err
    lines = err.splitlines()
    assert lines[-1] == "2 errors; nothing was written."
    for name in ("blog-writer", "tweet-writer"):
        assert ("assistants/defaults/legal.yaml:6: spec.metadata.reviewed-by: set to different values by Defaults "
                "'legal' and 'writers' (assistants/defaults/writers.yaml:13) for assistant "
                f"'{name}'; set it in the assistant, or in one of them only") in lines
    assert state(repo, "blog-writer") is None and state(repo, "support-bot") is None
    assert run(capsys, "render")[0] == 1 and run(capsys, "validate")[0] == 1

    edit(repo / BLOG, "metadata: {owner: content-team}", "metadata: {owner: content-team, reviewed-by: me}")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "for assistant 'tweet-writer'" in err and "blog-writer" not in err
    edit(repo / "assistants" / "defaults" / "legal.yaml", "reviewed-by: legal", "reviewed-by: editorial-team")
    assert run(capsys, "validate", ".")[0] == 0  # the same value twice is no conflict


@pytest.mark.parametrize("body, selector, message", [
    ("activeVersion: 2\n", "", "legal.yaml:5: spec.activeVersion: a version pin belongs to one assistant"),
    ("confg: {}\n", "", "legal.yaml:5: spec.confg: unknown field (did you mean 'config'?)"),
    ("smoke: [{name: a}]\n", "", "legal.yaml:5: spec.smoke[0]: give exactly one of input or steps"),
    ("metadata: {a: b}\n", "selector: {matchLabel: {team: x}}\n", "legal.yaml:4: selector.matchLabel: unknown field (did you mean 'matchLabels'?)"),
    ("metadata:\n  a: ${UNSET_IN_DEFAULTS}\n", "", "legal.yaml:6: spec.metadata.a: variable UNSET_IN_DEFAULTS is not set"),
    ("metadata:\n  a: ${file:nope.md}\n", "", "legal.yaml:6: spec.metadata.a: prompt file nope.md: no such file"),
])
def test_a_mistake_in_a_defaults_document_is_reported_at_its_line_once(repo, capsys, body, selector, message):
    write_defaults(repo, "legal", body, selector)
    code, out, err = run(capsys, "plan", ".")
    assert code == 1 and err.splitlines()[-1] == "1 error.", out + err
    assert f"assistants/defaults/{message}" in err, err


def test_defaults_names_and_kinds_are_checked(repo, capsys):
    write_defaults(repo, "writers", "metadata: {a: b}\n", file="copy")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "duplicate Defaults name 'writers' (also in assistants/defaults/" in err
    (repo / "assistants" / "defaults" / "copy.yaml").write_text("apiVersion: assistant-controler/v1\nkind: Defaults\n")
    code, _, err = run(capsys, "validate", ".")
    assert code == 1 and "copy.yaml:1: apiVersion: unsupported 'assistant-controler/v1': did you mean" in err
