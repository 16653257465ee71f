"""``${file:PATH}`` prompt files, as a user meets them: the text goes to the target verbatim, an edit
of the file is planned (never served from a cache) and named in the diff, history lists the files,
and every unreadable or escaping path is a one-line error at the manifest's line, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import BLOG, SECRET, edit, run, state

#: A prompt with what a prompt holds: braces, dollar signs, a ${VAR} and a ${file:} that are text.
PROMPT = "You write blog posts for ${COMPANY}.\nBudget: $5 {per post}.\nNever read ${file:secret.md}.\n"
PROMPT_LINE = "      system_prompt: |\n        You write friendly, well-structured blog posts.\n        Keep paragraphs short.\n"


def use_prompt_file(repo: Path, reference: str = "${file:../prompts/blog.md}", text: str = PROMPT) -> Path:
    """blog-writer's system_prompt read from ``prompts/blog.md`` (at the root, beside assistants/)."""
    prompt = repo / "prompts" / "blog.md"
    prompt.parent.mkdir(exist_ok=True)
    prompt.write_text(text)
    edit(repo / BLOG, PROMPT_LINE, f"      system_prompt: {reference}\n")
    return prompt


def test_a_prompt_file_is_written_verbatim_and_an_edit_of_it_is_planned_and_named(repo, capsys):
    prompt = use_prompt_file(repo)
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, err
    live = state(repo, "blog-writer").content
    assert live.config["configurable"]["system_prompt"] == PROMPT  # braces and ${…} as text, trailing newline kept
    assert live.metadata["controller/source"] == "assistants/blog-writer.yaml"
    assert live.metadata["controller/prompts"] == ["prompts/blog.md"]
    assert "No changes" in run(capsys, "plan", ".")[1]  # (and the in-sync record is made)

    prompt.write_text(PROMPT.replace("Budget: $5", "Budget: $7"))
    code, out, err = run(capsys, "plan", ".")
    assert code == 0 and "Plan: 0 to create, 1 to update" in out, out + err
    assert "~ config.configurable.system_prompt (from prompts/blog.md):" in out
    assert "-Budget: $5 {per post}." in out and "+Budget: $7 {per post}." in out  # the unified diff of the text
    entry = next(e for c in json.loads(run(capsys, "plan", ".", "-o", "json")[1])["changes"] for e in c["diff"])
    assert entry["from"] == "prompts/blog.md" and entry["after"].startswith("You write blog posts for ${COMPANY}.")

    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer")
    header, *versions = out.splitlines()
    assert code == 0 and header.endswith("ACTIVE  PROMPTS")
    assert len(versions) == 2 and all(line.rstrip().endswith("prompts/blog.md") for line in versions), out
    rows = json.loads(run(capsys, "history", "blog-writer", "-o", "json")[1])["versions"]
    assert [r["prompts"] for r in rows] == [["prompts/blog.md"], ["prompts/blog.md"]]

    prompt.rename(repo / "prompts" / "blog-v2.md")  # the same text elsewhere: no new version
    edit(repo / BLOG, "prompts/blog.md", "prompts/blog-v2.md")
    assert "No changes" in run(capsys, "plan", ".")[1]


def test_a_prompt_file_nothing_escapes_and_can_be_mixed_with_text(repo, capsys):
    prompt = use_prompt_file(repo, "\"Intro.\\n${file:../prompts/blog.md}-- $${file:not/followed.md}\"", "Body.\n")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert state(repo, "blog-writer").content.config["configurable"]["system_prompt"] == \
        "Intro.\nBody.\n-- ${file:not/followed.md}"
    assert prompt.exists()


def test_a_prompt_path_from_the_environment_is_sensitive_and_never_shown(repo, capsys, monkeypatch):
    for locale, text in (("en", "Write in English.\n"), ("fr", f"Écrivez en français. {SECRET}\n")):
        (repo / "prompts" / locale).mkdir(parents=True)
        (repo / "prompts" / locale / "blog.md").write_text(text)
    edit(repo / BLOG, PROMPT_LINE, "      system_prompt: ${file:../prompts/${LOCALE:-en}/blog.md}\n")
    monkeypatch.setenv("LOCALE", "fr")
    code, out, err = run(capsys, "plan", ".", "--out", "fr.plan")
    assert code == 0, err
    assert "+ config.configurable.system_prompt (from prompts/${LOCALE:-en}/blog.md): (sensitive)" in out
    assert SECRET not in out and "fr/" not in out and "français" not in out
    assert SECRET not in (repo / "fr.plan").read_text()
    code, out, err = run(capsys, "render", "blog-writer")
    assert "system_prompt: (sensitive)" in out and "prompts/${LOCALE:-en}/blog.md" in out and "fr/" not in out
    assert run(capsys, "apply", "fr.plan")[0] == 0  # the saved plan resolves the file again
    live = state(repo, "blog-writer").content
    assert live.config["configurable"]["system_prompt"].startswith("Écrivez")
    assert live.metadata["controller/prompts"] == ["prompts/${LOCALE:-en}/blog.md"]  # the template, not fr/
    code, out, _ = run(capsys, "history", "blog-writer")
    assert "prompts/${LOCALE:-en}/blog.md" in out and "fr/" not in out

    # from the target's values instead, it is not sensitive: the text and the file are shown
    edit(repo / "controller.yaml", "    graphs: ./langgraph.json\n", "    graphs: ./langgraph.json\n    values: {LOCALE: en}\n")
    code, out, _ = run(capsys, "plan", ".")
    assert "(from prompts/en/blog.md)" in out and "+Write in English." in out, out


def escape_outside(repo: Path) -> None:
    outside = repo.parent / "outside.md"
    outside.write_text(f"{SECRET}\n")
    (repo / "prompts").mkdir(exist_ok=True)
    (repo / "prompts" / "link.md").symlink_to(outside)


@pytest.mark.parametrize("reference, setup, message", [
    ("${file:/etc/hostname}", None, "prompt file /etc/hostname: an absolute path"),
    ("${file:../../outside.md}", escape_outside, "prompt file ../../outside.md: leaves the project root"),
    ("${file:../prompts/link.md}", escape_outside, "prompt file ../prompts/link.md: is a symlink pointing outside the project root"),
    ("${file:../prompts/missing.md}", None, "prompt file ../prompts/missing.md: no such file"),
    ("${file:../prompts/big.md}", lambda r: (r / "prompts").mkdir() or (r / "prompts" / "big.md").write_text("x" * (1024 * 1024 + 1)),
     "prompt file ../prompts/big.md: is larger than 1 MiB"),
    ("${file:../prompts/latin1.md}", lambda r: (r / "prompts").mkdir() or (r / "prompts" / "latin1.md").write_bytes(b"caf\xe9\n"),
     "prompt file ../prompts/latin1.md: not UTF-8 text (invalid byte 0xe9 on line 1)"),
    ("${file:../prompts}", lambda r: (r / "prompts").mkdir(), "prompt file ../prompts: is a folder, not a file"),
    ("${file:}", None, "empty path"),
    ("${file:../prompts/blog.md", None, "malformed prompt file reference"),
    ("${file:${NOWHERE}}", None, "variable NOWHERE is not set"),
])
def test_a_prompt_file_that_cannot_be_read_is_a_one_line_error_and_nothing_is_written(repo, capsys, reference, setup,
                                                                                      message):
    if setup:
        setup(repo)
    edit(repo / BLOG, PROMPT_LINE, f"      system_prompt: \"{reference}\"\n")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 1, out + err
    lines = err.splitlines()
    assert lines[0].startswith("assistants/blog-writer.yaml:15: spec.config.configurable.system_prompt: ")
    assert message in lines[0] and lines[1:] == ["1 error; nothing was written."], err
    assert SECRET not in out + err
    assert state(repo, "blog-writer") is None and state(repo, "support-bot") is None  # nothing written
    code, _, err = run(capsys, "validate", ".")  # validate checks what render and apply need (no secrets asked)
    assert message in err and code == (0 if "not set" in message else 1)  # an unset variable: a warning there


def test_a_path_from_the_environment_is_named_by_its_template_in_errors(repo, capsys, monkeypatch):
    monkeypatch.setenv("PROMPT_DIR", f"/home/{SECRET}")
    edit(repo / BLOG, PROMPT_LINE, "      system_prompt: ${file:${PROMPT_DIR}/blog.md}\n")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1 and "prompt file ${PROMPT_DIR}/blog.md: an absolute path" in err and SECRET not in err


def test_prompt_files_do_not_make_a_manifest_outside_the_root_readable(repo, capsys, tmp_path):
    """A manifest outside the project root reads no prompt file (every path leaves the root)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "p.md").write_text("hi\n")
    (elsewhere / "a.yaml").write_text((repo / BLOG).read_text().replace(PROMPT_LINE, "      system_prompt: ${file:p.md}\n")
                                      .replace("name: blog-writer", "name: elsewhere"))
    code, _, err = run(capsys, "validate", str(elsewhere / "a.yaml"))
    assert code == 1 and "prompt file p.md: leaves the project root" in err
    assert os.path.exists(elsewhere / "p.md")
