"""One verdict per version, read by status, history, rollback, watch and the service alike
(engine/verdicts.py): recorded beside each version on the target, so a fresh checkout or a
restarted watch knows it; failures held across restarts; rollbacks that hold."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from helpers import BLOG, Watch, edit, git, run, state
from server import free_port


def status_of(capsys, name: str) -> dict:
    code, out, err = run(capsys, "status", ".", "-o", "json")
    assert code == 0, out + err
    return next(a for a in json.loads(out)["assistants"] if a["name"] == name)


def smoke_column(capsys, name: str) -> list[tuple[int, str]]:
    code, out, err = run(capsys, "history", name, "-o", "json")
    assert code == 0, out + err
    return [(v["version"], v["smoke"]) for v in json.loads(out)["versions"]]


def test_status_history_and_the_status_endpoint_agree_with_what_is_active(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    assert status_of(capsys, "blog-writer")["smoke"] == "passed"
    edit(BLOG, "style: blog", "style: plain")  # fails its case ("# Blog post")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 3
    row = status_of(capsys, "blog-writer")  # v1 is active again, and it passed: not "failed"
    assert (row["version"], row["smoke"], row["smoke_failed"]) == (1, "passed", False)
    assert run(capsys, "apply", ".", "--no-smoke", "--auto-approve")[0] == 0  # written untested: v2 again
    assert (status_of(capsys, "blog-writer")["smoke"], smoke_column(capsys, "blog-writer")) == (
        "failed", [(2, "failed"), (1, "passed")])  # (v2 was judged before: its verdict stands)
    code, out, _ = run(capsys, "status", ".")
    assert [line.split()[4] for line in out.splitlines() if line.startswith("blog-writer")] == ["failed"]

    code, out, err = run(capsys, "rollback", "blog-writer")  # back to v1, which passed
    assert code == 0 and out.count("blog-writer: v2 → v1") == 1, out + err
    edit(BLOG, "style: plain", "style: blog")
    edit(BLOG, "description: Long-form posts", "description: Longer posts")  # the fix
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    assert smoke_column(capsys, "blog-writer") == [(3, "passed"), (2, "failed"), (1, "passed")]
    assert (status_of(capsys, "blog-writer")["version"], status_of(capsys, "blog-writer")["smoke"]) == (3, "passed")

    port = free_port()
    watch = Watch(repo, "--listen", f"127.0.0.1:{port}")
    try:
        watch.finished("the first pass", trigger="start")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as resp:
            served = {a["name"]: a for a in json.load(resp)["assistants"]}
        assert (served["blog-writer"]["version"], served["blog-writer"]["smoke"], served["blog-writer"]["smoke_failed"]) \
            == (3, "passed", False)
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_a_failure_is_held_across_restarts_until_the_manifest_changes(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "style: blog", "style: plain")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 3  # v2 failed: recorded on the target
    for _ in range(2):  # two restarts of a watch (a service's pod restarting)
        watch = Watch(repo)
        try:
            first = watch.finished("the first pass", trigger="start")
            assert first["held"] == ["blog-writer"] and first["ok"] is False and first["updated"] == 0, watch.report()
            assert first["held_by_rollback"] == []
            assert not [e for e in watch.seen if e["event"] == "applied"]
            assert watch.terminate() == 0
        finally:
            watch.close()
    assert [v.number for v in state(repo, "blog-writer").versions] == [2, 1]  # nothing written
    edit(BLOG, "style: plain", "style: tweet")  # a new edit is tried again
    watch = Watch(repo)
    try:
        first = watch.finished("the first pass", trigger="start")
        assert first["held"] == [] and "blog-writer" in [e["name"] for e in watch.seen if e["event"] == "smoke"]
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_a_rollback_holds_the_assistant_for_watch_and_status_until_the_manifest_changes(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "description: Long-form posts", "description: Longer posts")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v2
    assert run(capsys, "rollback", "blog-writer")[0] == 0  # v1
    row = status_of(capsys, "blog-writer")
    assert (row["version"], row["sync"], row["held"]) == (1, "OutOfSync", "rollback v2 → v1")
    code, out, _ = run(capsys, "status", ".")
    assert "rollback v2 → v1" in next(line for line in out.splitlines() if line.startswith("blog-writer"))
    watch = Watch(repo)
    try:
        first = watch.finished("the first pass", trigger="start")
        assert first["held"] == ["blog-writer"] and first["held_by_rollback"] == ["blog-writer"], watch.report()
        assert state(repo, "blog-writer").version == 1  # the watch did not undo the rollback
        edit(BLOG, "description: Longer posts", "description: Much longer posts")  # the manifest changes again
        applied = watch.wait(lambda e: e["event"] == "applied" and e["name"] == "blog-writer", "the new edit applied")
        assert applied["version"] == 3
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_apply_says_it_overrides_a_rollback(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    edit(BLOG, "description: Long-form posts", "description: Longer posts")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    assert run(capsys, "rollback", "blog-writer")[0] == 0
    code, out, err = run(capsys, "apply", ".", "--auto-approve")
    assert code == 0 and "blog-writer: this apply overrides the rollback from v2 to v1" in err, out + err
    assert status_of(capsys, "blog-writer")["held"] is None


def test_rollback_runs_the_cases_the_old_version_was_written_with(repo: Path, capsys):
    """A normal edit changes the prompt and its expectation together: rollback tests the old
    version with its own cases (from git), passes, and never brands it failed."""
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v1: a blog post, expected as one
    edit(BLOG, "style: blog", "style: tweet")
    edit(BLOG, '{path: out, contains: "# Blog post"}', '{path: out, contains: "#update"}')
    git(repo, "commit", "-qam", "tweets now")
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0  # v2: passes its new case
    code, out, err = run(capsys, "rollback", "blog-writer")
    assert code == 0, out + err
    assert "✓ blog-writer › writes a blog post" in out and "cases: assistants/blog-writer.yaml at" in out
    assert smoke_column(capsys, "blog-writer") == [(2, "passed"), (1, "passed")]
    assert run(capsys, "rollback", "blog-writer", "--to", "2")[0] == 0  # and v1 may be rolled back to again later


def test_a_watch_pass_whose_change_was_rolled_back_is_not_ok_and_says_what_failed(repo, capsys):
    watch = Watch(repo)
    try:
        assert watch.finished("the first pass", trigger="start")["ok"]
        edit(BLOG, "style: blog", "style: plain")
        done = watch.finished("the pass of the failing edit", trigger="change")
        assert done["ok"] is False and done["failed"] == ["blog-writer"] and done["updated"] == 0, watch.report()
        assert any(e["event"] == "rolled-back" and e["name"] == "blog-writer" for e in watch.seen)
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_controller_test_gives_the_active_version_its_verdict_but_never_with_other_cases(repo, capsys):
    assert run(capsys, "apply", ".", "--no-smoke", "--auto-approve")[0] == 0
    assert smoke_column(capsys, "blog-writer") == [(1, "skipped")]
    code, out, err = run(capsys, "test", "blog-writer")
    assert code == 0 and "Smoke: 1 passed, 0 failed." in out, out + err
    assert smoke_column(capsys, "blog-writer") == [(1, "passed")]  # its own cases passed on it
    edit(BLOG, 'contains: "# Blog post"', 'contains: "# Blog posting"')  # new expectations, not yet applied
    code, out, err = run(capsys, "test", "blog-writer")
    assert code == 3 and "Smoke: 0 passed, 1 failed." in out, out + err
    assert smoke_column(capsys, "blog-writer") == [(1, "passed")]  # not branded by cases it was not written with
    assert status_of(capsys, "blog-writer")["smoke"] == "passed"
