"""`controller apply` end to end on the embedded target, in a temp git repo: creates, edits, pins,
prune, adopt, saved plans, failed smoke tests, secrets, the state lock, an old state file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BLOG, HOLDER, SECRET, SUPPORT, TWEET, edit, git, on_embedded, record_writes, run, state

from controller.core.content import CANDIDATE_KEY, assistant_id_for
from controller.targets.embedded import EmbeddedTarget

OWNER = "demo-agents"
FAILING = '{path: out, contains: "#update"}'  # the tweet case expects this; "plain" style drops it


def test_apply_creates_then_reapply_is_a_noop_without_writes(repo, capsys, monkeypatch):
    code, out, _ = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0, out
    assert "Plan: 5 to create, 0 to update, 0 to repin, 0 to delete." in out
    assert "Smoke: 3 passed, 0 failed." in out
    blog = state(repo, "blog-writer")
    assert blog.version == 1 and blog.content.config["configurable"]["style"] == "blog"
    assert blog.content.metadata["controller/owner"] == "demo-agents"
    assert blog.content.metadata["controller/revision"] == git(repo, "rev-parse", "HEAD").strip()

    writes = record_writes(monkeypatch, EmbeddedTarget)
    code, out, _ = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0
    assert "No changes." in out
    assert writes == []


def test_edit_gives_one_version_and_revert_repins(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
    git(repo, "commit", "-qam", "shorter paragraphs")
    code, out, _ = run(capsys, "plan", ".")
    assert "~ blog-writer: update v1 → new version" in out
    assert "-Keep paragraphs short." in out and "+Keep paragraphs very short." in out  # prompts as line diffs
    assert "Plan: 0 to create, 1 to update, 0 to repin, 0 to delete." in out
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    assert [v.number for v in state(repo, "blog-writer").versions] == [2, 1]

    git(repo, "revert", "--no-edit", "HEAD")
    code, out, _ = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0
    assert "↺ blog-writer: repin v2 → v1" in out
    blog = state(repo, "blog-writer")
    assert blog.version == 1 and [v.number for v in blog.versions] == [2, 1]  # no third version
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0


def test_pin_and_content_change_warning(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "style: blog", "style: plain")
    edit(BLOG, '{path: out, contains: "# Blog post"}', '{path: out, exists: true}')
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    assert state(repo, "blog-writer").version == 2
    edit(BLOG, "  graph: writer", "  graph: writer\n  activeVersion: 1")
    code, out, _ = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0
    assert "repin v2 → v1 (pinned to v1" in out
    assert "pinned to version 1: the manifest's content differs and is not applied" in out
    assert state(repo, "blog-writer").version == 1
    edit(BLOG, "activeVersion: 1", "activeVersion: 7")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1
    assert "blog-writer.yaml:9: spec.activeVersion: version 7 of 'blog-writer' does not exist (latest is 2)" in err


def test_prune_guards_and_delete(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    (repo / "empty").mkdir()
    code, _, err = run(capsys, "apply", "empty", "--prune", "--auto-approve", "--config", "controller.yaml")
    assert code == 1 and "no manifests found under empty" in err  # (a wrong path never prunes everything)
    TWEET.unlink()
    SUPPORT.unlink()
    code, out, err = run(capsys, "apply", ".", "--prune", "--max-deletes", "1", "--auto-approve")
    assert code == 1
    assert "2 assistants would be deleted, more than --max-deletes 1: support-bot, tweet-writer" in err
    assert state(repo, "tweet-writer") is not None
    code, out, _ = run(capsys, "apply", ".", "--prune", "--auto-approve")
    assert code == 0 and "0 deleted" not in out
    assert "- tweet-writer: delete (no longer declared)" in out
    assert state(repo, "tweet-writer") is None and state(repo, "support-bot") is None
    assert state(repo, "blog-writer") is not None


def test_system_assistants_and_other_owners_are_never_pruned(repo, capsys):
    target = EmbeddedTarget(str(repo / ".controller" / "state.db"), str(repo / "langgraph.json"))
    from controller.core.content import Content

    other = "0b3a0d4e-1111-4111-8111-111111111111"
    asyncio.run(target.create(other, Content("writer", "theirs", None, {}, {}, {"controller/owner": "someone-else"})))
    code, out, _ = run(capsys, "apply", ".", "--prune", "--auto-approve")
    assert code == 0 and "0 deleted" in out
    assert asyncio.run(target.get(other)) is not None
    assert len([a for a in asyncio.run(target.list_assistants()) if a.content.is_system]) == 4  # one per graph


def test_adopt_takes_over_an_unowned_assistant(repo, capsys):
    from controller.core.content import Content

    existing = "7f0c4a8e-2222-4222-8222-222222222222"
    target = EmbeddedTarget(str(repo / ".controller" / "state.db"), str(repo / "langgraph.json"))
    asyncio.run(target.create(existing, Content("writer", "Blog writer", "Long-form posts for the company blog",
                                                {"configurable": {"style": "blog"}}, {}, {})))
    edit(BLOG, "  name: blog-writer", f"  name: blog-writer\n  assistantId: {existing}")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1 and f"assistant {existing} exists with no owner; use apply --adopt to take it over" in err
    code, out, _ = run(capsys, "apply", ".", "--adopt", "--auto-approve")
    assert code == 0 and "blog-writer: adopt (new version) v1 → new version" in out
    adopted = asyncio.run(target.get(existing, versions=True))
    assert adopted.version == 2 and adopted.content.metadata["controller/owner"] == "demo-agents"
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0


def test_saved_plan_applies_exactly_and_stale_plan_is_refused(repo, capsys):
    code, out, _ = run(capsys, "plan", ".", "--out", "tfplan")
    assert code == 0 and "Saved the plan to tfplan" in out
    edit(BLOG, "style: blog", "style: tweet")  # intent changed after the plan: the plan still wins
    code, out, _ = run(capsys, "apply", "tfplan", "--auto-approve")
    assert code == 0
    assert state(repo, "blog-writer").content.config["configurable"]["style"] == "blog"

    edit(BLOG, '{path: out, contains: "# Blog post"}', '{path: out, exists: true}')
    assert run(capsys, "plan", ".", "--out", "tfplan2")[0] == 0
    edit(BLOG, "style: tweet", "style: plain")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # someone applied meanwhile
    code, _, err = run(capsys, "apply", "tfplan2", "--auto-approve")
    assert code == 1
    assert "the target changed since the plan was made: blog-writer (v1 at plan time, v2 now)" in err
    assert state(repo, "blog-writer").content.config["configurable"]["style"] == "plain"


def test_a_failing_smoke_case_never_shows_a_secret(repo, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", SECRET)
    edit(BLOG, "{path: model, exists: true}", '{path: model, equals: "a-different-model"}')
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--junit", "smoke.xml")
    assert code == 3 and "blog-writer: rolled-back" in err
    assert 'actual:   "(sensitive)"' in out
    assert SECRET not in out + err
    assert state(repo, "blog-writer") is None  # the failed create was rolled back
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "-o", "json")
    assert code == 3 and '"passed": false' in out
    for text in (out, err, Path("smoke.xml").read_text()):
        assert SECRET not in text
    assert "(sensitive)" in Path("smoke.xml").read_text()


def test_saved_plan_refuses_a_changed_secret(repo, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", SECRET)
    assert run(capsys, "plan", ".", "--out", "p.plan")[0] == 0
    monkeypatch.setenv("MODEL", "something-else")
    code, _, err = run(capsys, "apply", "p.plan", "--auto-approve")
    assert code == 1 and "changed since the plan" in err and "something-else" not in err
    assert state(repo, "blog-writer") is None


def test_apply_without_a_terminal_needs_auto_approve(repo, capsys):
    code, _, err = run(capsys, "apply", ".")
    assert code == 1 and "refusing to apply without --auto-approve" in err
    assert not (repo / ".controller" / "state.db").exists()


def test_invalid_input_writes_nothing(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "style: blog", "style: plain")
    (repo / "assistants" / "broken.yaml").write_text(
        "apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata: {name: broken}\nspec:\n  graph: writer\n  confg: {}\n"
    )
    code, _, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 1
    assert "assistants/broken.yaml:6: spec.confg: unknown field (did you mean 'config'?)" in err
    assert "Traceback" not in err
    assert state(repo, "blog-writer").version == 1


def test_keep_failed_keeps_a_new_assistant_whose_smoke_tests_failed(repo: Path, capsys: pytest.CaptureFixture) -> None:
    edit(repo / TWEET, "style: tweet", "style: plain")  # the case expects "#update": it fails
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--keep-failed")
    assert code == 3, out + err
    assert "tweet-writer: rolled-back" not in err and "tweet-writer: error: smoke tests failed; kept (--keep-failed)" in err
    kept = on_embedded(repo, lambda t: t.get(assistant_id_for(OWNER, "tweet-writer")))
    assert kept is not None and kept.version == 1  # kept, as asked
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0 and "No changes" in out  # and it is what the manifests declare


def test_without_keep_failed_a_failed_create_is_deleted(repo: Path, capsys: pytest.CaptureFixture) -> None:
    edit(repo / TWEET, "style: tweet", "style: plain")
    code, _, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 3 and "tweet-writer: rolled-back" in err
    assert on_embedded(repo, lambda t: t.get(assistant_id_for(OWNER, "tweet-writer"))) is None


def test_smoke_before_on_the_embedded_target_never_writes_a_failing_change(repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(repo / TWEET, "style: tweet", "style: plain")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--smoke", "before")
    assert code == 3, out + err
    assert "tweet-writer: not-promoted" in err
    live = on_embedded(repo, lambda t: t.get(assistant_id_for(OWNER, "tweet-writer"), versions=True))
    assert live is not None and live.version == 1 and len(live.versions or ()) == 1  # never written
    everything = on_embedded(repo, lambda t: t.list_assistants())
    assert everything and not [a for a in everything if CANDIDATE_KEY in a.content.metadata]  # the candidate is gone
    # and a passing change is promoted after its candidate passed
    edit(repo / TWEET, "style: plain", "style: tweet")
    edit(repo / TWEET, "tags: [social]", "tags: [social, launch]")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--smoke", "before")
    assert code == 0, out + err
    live = on_embedded(repo, lambda t: t.get(assistant_id_for(OWNER, "tweet-writer")))
    assert live is not None and live.version == 2 and live.content.config["tags"] == ["social", "launch"]


def test_apply_fails_at_once_while_the_state_is_locked_and_succeeds_after_kill_9(repo, capsys):
    state = str(repo / ".controller" / "state.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, state], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
        assert code == 1
        assert f"locked by pid {holder.pid} on " in err and " since " in err
        assert "wait for it with --lock-timeout 30s" in err  # the flag as it is really written
        assert "Plan:" not in out  # refused before planning: nothing written
        assert not os.path.exists(state)
        started = time.monotonic()
        code, _, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke", "--lock-timeout", "1s")
        assert code == 1 and "waited 1s" in err and time.monotonic() - started >= 1
    finally:
        holder.kill()  # SIGKILL: the kernel drops the flock with the process
        holder.wait(timeout=10)
    code, out, _ = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0 and "Apply complete: 5 created" in out


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


def columns(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(versions)")]


def test_a_state_file_from_before_content_hashes_is_migrated_on_the_first_write(repo, capsys):
    import sqlite3

    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    db = repo / ".controller" / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE versions DROP COLUMN content_hash")  # as an older controller made it
    code, out, err = run(capsys, "plan", ".", "--no-color")
    assert code == 0 and "No changes" in out, out + err
    assert "content_hash" not in columns(db)  # plan writes nothing to the target

    edit(repo / BLOG, "style: blog", "style: tweet")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert "content_hash" in columns(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions WHERE content_hash IS NULL").fetchone() == (0,)
    code, out, _ = run(capsys, "plan", ".", "--no-color")
    assert code == 0 and "No changes" in out


def test_a_saved_plan_applies_showing_exactly_the_plan_that_was_reviewed(repo, capsys, monkeypatch):
    """A plan with a sensitive value (tweet-writer's signature reads ${SIGNATURE:-…}): apply
    PLAN shows the saved plan line for line, not a recomputed diff with a masked extra line."""
    monkeypatch.setenv("SIGNATURE", "the night shift")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(repo / TWEET, "style: tweet", "style: plain")
    code, shown, _ = run(capsys, "plan", ".", "--out", "change.plan")
    reviewed = shown.split("Saved the plan to")[0]
    assert code == 0 and "~ tweet-writer: update v1 → new version" in reviewed, shown  # (else startswith proves nothing)
    code, out, err = run(capsys, "apply", "change.plan", "--no-smoke")
    assert code == 0 and out.startswith(reviewed), out + err
    assert "signature" not in out and "night shift" not in out
