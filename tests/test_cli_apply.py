"""End to end on the embedded target: the CLI as a user drives it, in a temp git repo."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from helpers import BLOG, SUPPORT, TWEET, edit, git, on_embedded, record_writes, run

from controller.core.content import assistant_id_for
from controller.targets.embedded import EmbeddedTarget

SECRET = "sk-model-super-secret-4242"


def state(repo: Path, name: str, owner: str = "demo-agents"):
    return on_embedded(repo, lambda t: t.get(assistant_id_for(owner, name), versions=True))


def test_apply_creates_then_reapply_is_a_noop_without_writes(repo, capsys, monkeypatch):
    code, out, _ = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0, out
    assert "Plan: 3 to create, 0 to update, 0 to repin, 0 to delete." in out
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


def test_detailed_exitcode_and_json_plan(repo, capsys):
    code, out, _ = run(capsys, "plan", ".", "--detailed-exitcode", "-o", "json")
    assert code == 2
    plan = json.loads(out)
    assert plan["format"] == 1 and plan["owner"] == "demo-agents"
    assert plan["summary"] == {"create": 3, "update": 0, "repin": 0, "delete": 0, "noop": 0}
    blog = next(c for c in plan["changes"] if c["name"] == "blog-writer")
    assert blog["action"] == "create" and blog["assistant_id"] == assistant_id_for("demo-agents", "blog-writer")
    assert {"op": "+", "path": "config.configurable.style", "before": None, "after": "blog"} in blog["diff"]
    assert run(capsys, "apply", ".", "--auto-approve", "-o", "json")[0] == 0
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
    assert len([a for a in asyncio.run(target.list_assistants()) if a.content.is_system]) == 2


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


def test_unknown_graph_and_schema_type_errors_at_plan_time(repo, capsys):
    edit(BLOG, "graph: writer", "graph: writr")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1 and "spec.graph: unknown graph 'writr'; the target has: chat, writer" in err
    edit(BLOG, "graph: writr", "graph: writer")
    edit(Path("assistants/support-bot.yaml"), "max_turns: 5", "max_turns: lots\n    persna: x")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1
    assert "support-bot.yaml:14: spec.context.max_turns: 'lots' is not of type 'integer' (graph schema)" in err
    edit(Path("assistants/support-bot.yaml"), "max_turns: lots", "max_turns: 3")
    code, _, err = run(capsys, "plan", ".")
    assert code == 1  # a context key the graph's context schema lacks: the server drops it (issue 22)
    assert "support-bot.yaml:15: spec.context.persna: not in the graph's context schema (did you mean 'persona'?)" in err


def test_selector_limits_the_plan(repo, capsys):
    code, out, _ = run(capsys, "plan", ".", "-l", "team=content")
    assert "blog-writer: create" in out and "tweet-writer" not in out
    code, _, err = run(capsys, "plan", ".", "-l", "team=content", "--prune")
    assert code == 1 and "--prune with -l" in err


def test_history_and_rollback(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "description: Long-form posts", "description: Longer posts")
    git(repo, "commit", "-qam", "desc")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer", "-o", "json")
    history = json.loads(out)
    assert [(v["version"], v["active"]) for v in history["versions"]] == [(2, True), (1, False)]
    assert history["versions"][0]["revision"] == git(repo, "rev-parse", "HEAD").strip()
    code, out, err = run(capsys, "rollback", "blog-writer")
    assert code == 0 and "v2 → v1" in out and "drift" in err
    assert state(repo, "blog-writer").version == 1
    code, out, _ = run(capsys, "plan", ".")
    assert "repin v1 → v2" in out  # git still says v2's content: shown as drift


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
    code, out, _ = run(capsys, "plan", ".", "-o", "json")
    assert code == 0
    assert '"(sensitive)"' in outputs[1] and "anthropic:claude-sonnet" not in outputs[1]
    assert json.loads(Path("p.plan").read_text())["changes"][0]["before"]["config"]["configurable"]["model"]["$sensitive"]


def test_rollback_never_restores_content_that_failed_its_smoke_tests(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v1: style blog
    original = edit(BLOG, "style: blog", "style: plain")  # the blog case expects "# Blog post": fails
    code, _, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 3 and "blog-writer: rolled-back" in err
    blog = state(repo, "blog-writer")
    assert [v.number for v in blog.versions] == [3, 2, 1] and blog.version == 3  # v3: v1's content, marked
    assert blog.content.config["configurable"]["style"] == "blog"

    code, out, _ = run(capsys, "history", "blog-writer", "-o", "json")
    assert [(v["version"], v["failed"]) for v in json.loads(out)["versions"]] == [(3, False), (2, True), (1, False)]
    code, out, _ = run(capsys, "history", "blog-writer")
    assert "SMOKE" in out and [line.split()[0] for line in out.splitlines() if "failed" in line] == ["2"]

    code, _, err = run(capsys, "rollback", "blog-writer")  # v2 failed, v1 is what is active
    assert code == 1 and "no version before v3 differs from it and passed its smoke tests" in err
    code, _, err = run(capsys, "rollback", "blog-writer", "--to", "2")
    assert code == 1 and "v2 failed its smoke tests" in err and "--force" in err
    assert state(repo, "blog-writer").version == 3

    code, out, err = run(capsys, "rollback", "blog-writer", "--to", "2", "--force")  # its smoke case fails again
    assert code == 3 and "✗ blog-writer › writes a blog post" in out and "v3's content is active again" in err
    blog = state(repo, "blog-writer")
    assert blog.version == 4 and blog.content.config["configurable"]["style"] == "blog"  # v2 was a repin here

    BLOG.write_text(original.replace("Long-form posts", "Longer posts"))
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v5: a good new description
    code, out, err = run(capsys, "rollback", "blog-writer")
    assert code == 0, err
    assert "v5 → v4" in out and "✓ blog-writer › writes a blog post" in out  # smoke ran on what was restored
    assert state(repo, "blog-writer").content.description == "Long-form posts for the company blog"
    code, out, _ = run(capsys, "rollback", "blog-writer", "--no-smoke", "--to", "5")
    assert code == 0 and "›" not in out
