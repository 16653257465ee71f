"""`controller rollback`: back to earlier content that passed its smoke tests, never to content that failed."""

from __future__ import annotations

import json

from helpers import BLOG, edit, git, run, state


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


def test_rollback_never_restores_content_that_failed_its_smoke_tests(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v1: style blog
    original = edit(BLOG, "style: blog", "style: plain")  # the blog case expects "# Blog post": fails
    code, _, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 3 and "blog-writer: rolled-back" in err
    blog = state(repo, "blog-writer")
    assert [v.number for v in blog.versions] == [2, 1] and blog.version == 1  # v1 active again: no restore version
    assert blog.content.config["configurable"]["style"] == "blog"
    code, _, err = run(capsys, "apply", ".", "--auto-approve")  # the failing CI job, run again
    assert code == 3 and [v.number for v in state(repo, "blog-writer").versions] == [2, 1]  # the history does not grow

    code, out, _ = run(capsys, "history", "blog-writer", "-o", "json")
    assert [(v["version"], v["smoke"]) for v in json.loads(out)["versions"]] == [(2, "failed"), (1, "passed")]
    code, out, _ = run(capsys, "history", "blog-writer")
    assert "VERDICT" in out and [line.split()[0] for line in out.splitlines() if "failed" in line] == ["2"]

    code, _, err = run(capsys, "rollback", "blog-writer")  # v2 failed, v1 is what is active
    assert code == 1 and "no version before v1 differs from it and passed its smoke tests" in err
    code, _, err = run(capsys, "rollback", "blog-writer", "--to", "2")
    assert code == 1 and "v2 failed its smoke tests" in err and "--force" in err
    assert state(repo, "blog-writer").version == 1

    code, out, err = run(capsys, "rollback", "blog-writer", "--to", "2", "--force")  # its own case fails again
    assert code == 3 and "✗ blog-writer › writes a blog post" in out and "v1's content is active again" in err
    blog = state(repo, "blog-writer")
    assert blog.version == 1 and [v.number for v in blog.versions] == [2, 1]

    BLOG.write_text(original.replace("Long-form posts", "Longer posts"))
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v3: a good new description
    code, out, err = run(capsys, "rollback", "blog-writer")
    assert code == 0, err
    assert "v3 → v1" in out and "✓ blog-writer › writes a blog post" in out  # smoke ran on what was restored
    assert out.count("v3 → v1") == 1 and "cases: the manifests" in out  # one result line, saying which cases
    assert state(repo, "blog-writer").content.description == "Long-form posts for the company blog"
    code, out, _ = run(capsys, "rollback", "blog-writer", "--no-smoke", "--to", "3")
    assert code == 0 and "›" not in out and "not tested (--no-smoke)" in out


def test_a_rollback_to_what_the_manifests_declare_says_nothing_of_drift(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v1
    edit(BLOG, "description: Long-form posts", "description: Longer posts")
    assert run(capsys, "apply", ".", "--auto-approve", "-t", "local")[0] == 0  # v2
    edit(BLOG, "description: Longer posts", "description: Long-form posts")  # the manifests go back to v1's content
    code, out, err = run(capsys, "rollback", "blog-writer", "--to", "1")
    assert code == 0 and "v2 → v1" in out
    assert "differ" not in err and "holds" not in err  # git and the target agree: nothing to warn of
    code, out, _ = run(capsys, "plan", ".", "--detailed-exitcode")
    assert code == 0 and "No changes" in out
