"""`controller watch` and what manifests depend on besides their own text: an edit of a prompt file or
a Defaults document re-plans, incrementally, exactly the assistants that use it; a prompt file or a
Defaults document that nothing uses changes nothing. A real watch process, read event by event (no
timing assertions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import BLOG, TWEET, Watch, edit, example_repo, on_embedded

from controller.core.content import assistant_id_for

WRITERS = Path("assistants/defaults/writers.yaml")
OWN_PROMPT = "      system_prompt: ${file:prompts/tweet-writer.md}   # the text of that file, as it is\n"
BLOG_PROMPT = "      system_prompt: |\n        You write friendly, well-structured blog posts.\n        Keep paragraphs short.\n"


@pytest.fixture
def repo(tmp_path: Path, owner: str) -> Path:
    """The example project (unique owner) whose two writers read one prompt file, prompts/shared.md, at the root."""
    root = example_repo(tmp_path / "repo", owner)
    (root / "prompts").mkdir()
    (root / "prompts" / "shared.md").write_text("Write clearly.\n")
    edit(root / BLOG, BLOG_PROMPT, "      system_prompt: ${file:../prompts/shared.md}\n")
    edit(root / TWEET, OWN_PROMPT, "      system_prompt: ${file:../prompts/shared.md}\n")
    return root


def live(repo: Path, owner: str, name: str):
    return on_embedded(repo, lambda t: t.get(assistant_id_for(owner, name))).content


def pass_after(watch: Watch, what: str) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """The next pass: its start, the assistants it applied, its end."""
    begun = watch.wait(lambda e: e["event"] == "reconcile-started", f"the pass for {what}")
    applied: list[str] = []
    done = watch.wait(lambda e: e["event"] == "reconcile-finished" or (e["event"] == "applied" and applied.append(e["name"])),
                      f"the end of the pass for {what}")
    return begun, sorted(applied), done


def test_watch_replans_exactly_the_assistants_a_prompt_file_or_defaults_edit_touches(repo, owner):
    watch = Watch(repo, "--no-smoke", interval="1h")
    try:
        watch.finished("the first reconcile", trigger="start", created=3)

        (repo / "prompts" / "shared.md").write_text("Write clearly and briefly.\n")
        begun, applied, done = pass_after(watch, "the prompt file's edit")
        assert begun["scope"] == "changed" and begun["files"] == 1, begun
        assert applied == ["blog-writer", "tweet-writer"], watch.report()
        assert done["ok"] and done.get("updated") == 2 and not done.get("unchanged"), done  # nothing else planned
        assert live(repo, owner, "tweet-writer").config["configurable"]["system_prompt"] == "Write clearly and briefly.\n"

        # a prompt file nothing reads starts no pass: the next pass is the Defaults edit's, alone
        (repo / "prompts" / "unused.md").write_text("Nobody reads me.\n")
        edit(repo / WRITERS, "reviewed-by: editorial-team", "reviewed-by: copy-desk")
        begun, applied, done = pass_after(watch, "the Defaults edit")
        assert begun["scope"] == "changed" and begun["files"] == 1, begun
        assert applied == ["blog-writer", "tweet-writer"] and done.get("updated") == 2 and not done.get("unchanged"), done
        assert live(repo, owner, "blog-writer").metadata["reviewed-by"] == "copy-desk"

        # a Defaults document that selects nothing changes nothing
        (repo / "assistants" / "defaults" / "nobody.yaml").write_text(
            "apiVersion: assistant-controller/v1\nkind: Defaults\nmetadata: {name: nobody}\n"
            "selector: {matchLabels: {team: nobody}}\nspec: {metadata: {owner: nobody}}\n")
        begun, applied, done = pass_after(watch, "the new Defaults document")
        assert begun["scope"] == "changed" and applied == [] and done["ok"] and not done.get("updated"), done

        # ... and one that selects support-bot re-plans support-bot only
        edit(repo / "assistants" / "defaults" / "nobody.yaml", "team: nobody", "team: support")
        begun, applied, done = pass_after(watch, "the Defaults selecting support-bot")
        assert applied == ["support-bot"] and done.get("updated") == 1 and not done.get("unchanged"), done
        assert live(repo, owner, "support-bot").metadata["owner"] == "nobody"

        # a prompt file that goes missing is a bad edit (reported, the last good text stays); putting it back fixes it
        (repo / "prompts" / "shared.md").unlink()
        error = watch.wait(lambda e: e["event"] == "error" and "errors" in e, "the missing prompt file reported")
        assert any("blog-writer.yaml:15" in line and "prompt file ../prompts/shared.md: no such file" in line
                   for line in error["errors"]), error
        (repo / "prompts" / "shared.md").write_text("Back again.\n")
        watch.wait(lambda e: e["event"] == "applied" and e["name"] == "tweet-writer", "the prompt file back, applied")
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_follows_prompt_files_outside_the_paths(repo, owner):
    watch = Watch(repo, "--no-smoke", interval="1h", paths=("assistants",))  # prompts/ is beside assistants/
    try:
        watch.finished("the first reconcile", trigger="start", created=3)
        (repo / "prompts" / "shared.md").write_text("Write for everyone.\n")
        _, applied, done = pass_after(watch, "the prompt file's edit")
        assert applied == ["blog-writer", "tweet-writer"] and done["ok"], watch.report()
        assert watch.terminate() == 0
    finally:
        watch.close()
