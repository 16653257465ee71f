"""Owners: a plan notices assistants of the declared names under another owner, and
`controller destroy` retires an owner (or tears down a per-pull-request preview)."""

from __future__ import annotations

import json

from helpers import edit, run, state


def test_a_changed_owner_is_noticed_with_the_way_to_retire_the_old_one(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(repo / "controller.yaml", "owner: demo-agents", "owner: demo-agents-2")
    code, out, err = run(capsys, "plan", ".")
    assert code == 0 and "Plan: 5 to create" in out
    (line,) = [w for w in err.splitlines() if "did the owner change?" in w]
    assert line == ("warning: 5 assistants with these names (blog-writer, faq-bot, faq-grader, …) belong to owner "
                    "'demo-agents': did the owner change? To retire them: controller destroy --owner demo-agents")
    assert "did the owner change" in " ".join(json.loads(run(capsys, "plan", ".", "-o", "json")[1])["warnings"])


def test_destroy_shows_its_plan_asks_respects_max_deletes_and_tears_down_a_preview(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke", "--owner", "pr-42")[0] == 0  # a preview
    code, out, err = run(capsys, "destroy", "--owner", "pr-42")
    assert code == 1 and "Plan: 0 to create, 0 to update, 0 to repin, 5 to delete." in out
    assert "refusing to destroy without --auto-approve" in err
    code, out, err = run(capsys, "destroy", "--owner", "pr-42", "--max-deletes", "2", "--auto-approve")
    assert code == 1 and "destroy refused: 5 assistants would be deleted, more than --max-deletes 2" in err
    assert "destroy --all" in err and "--prune" not in err
    assert state(repo, "blog-writer", owner="pr-42") is not None
    code, out, err = run(capsys, "destroy", "--owner", "pr-42", "--max-deletes", "2", "--all", "--auto-approve")
    assert code == 0 and "5 deleted" in out, out + err
    assert state(repo, "blog-writer", owner="pr-42") is None
    assert state(repo, "blog-writer") is not None  # the project's own owner is untouched
    code, out, _ = run(capsys, "destroy", "--owner", "pr-42", "--auto-approve")
    assert code == 0 and "Nothing to destroy" in out
