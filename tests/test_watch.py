"""`controller watch` as a pipeline runs it: a real process, read line by line, stopped by signal.

No timing assertions: every wait is for an event, with a generous deadline and a
message that shows what the process said so far.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import BLOG, SUPPORT, TWEET, edit, example_repo, on_embedded

from controller.core.content import assistant_id_for
from controller.targets.embedded import EmbeddedTarget

WAIT_S = 90.0


def controller_command() -> list[str]:
    beside = Path(sys.executable).parent / "controller"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "controller.cli"]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "CONTROLLER_TARGET", "SIGNATURE")}
    return {**env, "NO_COLOR": "1"}


class Watch:
    """A running `controller watch -o json`: its events arrive on a queue from a reader thread."""

    def __init__(self, cwd: Path, *flags: str, interval: str = "1s"):
        self.err_path = cwd.parent / f"watch-{uuid.uuid4().hex[:8]}.stderr"
        self._err = open(self.err_path, "wb")  # noqa: SIM115 - held by the watch process
        self.proc = subprocess.Popen(
            [*controller_command(), "watch", ".", "-o", "json", "--interval", interval, *flags],
            cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL, text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                self.events.put({"event": "not-json", "line": line.rstrip("\n")})
        self.events.put({"event": "eof"})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def report(self) -> str:
        tail = "\n".join(json.dumps(e, sort_keys=True) for e in self.seen[-25:])
        return f"events so far (last 25):\n{tail}\nstderr:\n{self.err_path.read_text(errors='replace')[-3000:]}"

    def wait(self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {what} within {timeout:g}s\n{self.report()}", pytrace=False)
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            assert event["event"] not in ("not-json", "eof"), f"while waiting for {what}: {event}\n{self.report()}"
            if predicate(event):
                return event

    def finished(self, what: str = "a finished reconcile", **expect: Any) -> dict[str, Any]:
        return self.wait(lambda e: e["event"] == "reconcile-finished" and all(e.get(k) == v for k, v in expect.items()), what)

    def terminate(self, timeout: float = WAIT_S) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"watch did not exit within {timeout:g}s of SIGTERM\n{self.report()}", pytrace=False)
        self.wait(lambda e: e["event"] == "stopped", "a 'stopped' event after SIGTERM")
        return code

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._err.close()


@pytest.fixture
def repo(tmp_path: Path, owner: str) -> Path:
    """A copy of the example manifests with a controller.yaml naming a unique owner."""
    return example_repo(tmp_path / "repo", owner)


def state(repo: Path, owner: str, name: str):
    return on_embedded(repo, lambda t: t.get(assistant_id_for(owner, name), versions=True))


def make_drift(repo: Path, owner: str, name: str) -> int:
    """Someone edits the assistant on the target, not in git: a new active version."""
    async def job(target: EmbeddedTarget) -> int:
        live = await target.get(assistant_id_for(owner, name))
        configurable = {**live.content.config["configurable"], "style": "plain"}
        changed = dataclasses.replace(live.content, config={**live.content.config, "configurable": configurable})
        return (await target.update(live.assistant_id, changed)).version

    return on_embedded(repo, job)


def history(repo: Path, name: str) -> dict[str, Any]:
    out = subprocess.run([*controller_command(), "history", name, "-o", "json"], cwd=repo, env=child_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_watch_applies_edits_keeps_last_good_on_bad_edits_reports_drift_and_stops_on_sigterm(repo, owner):
    watch = Watch(repo)
    try:
        first = watch.finished("the first reconcile", trigger="start")
        assert first["ok"] and first["created"] == 3, first
        assert {e["name"] for e in watch.seen if e["event"] == "applied"} == {"blog-writer", "support-bot", "tweet-writer"}
        assert all(e["passed"] for e in watch.seen if e["event"] == "smoke")

        # A manifest edit is applied: one new version.
        edit(repo / BLOG, "description: Long-form posts for the company blog", "description: Long-form posts, edited")
        applied = watch.wait(lambda e: e["event"] == "applied" and e["name"] == "blog-writer",
                             "blog-writer applied after the edit")
        assert applied["action"] == "update" and applied["version"] == 2, applied
        watch.finished("the reconcile of the edit to finish")
        shown = history(repo, "blog-writer")
        assert [v["version"] for v in shown["versions"]] == [2, 1] and shown["active"] == 2

        # A bad edit: reported with file:line, the process lives on, nothing is applied.
        good_tweet = edit(repo / TWEET, "  graph: writer\n", "  graph: writer\n  confg: {}\n")
        error = watch.wait(lambda e: e["event"] == "error" and "errors" in e, "an error event for the bad edit")
        assert any(re.search(r"tweet-writer\.yaml:\d+: spec\.confg: unknown field", line) for line in error["errors"]), error
        watch.finished("a reconcile after the bad edit", trigger="interval")
        watch.finished("another reconcile after the bad edit", trigger="interval")
        assert watch.alive()
        assert [v.number for v in state(repo, owner, "tweet-writer").versions] == [1]
        assert state(repo, owner, "blog-writer").version == 2
        (repo / TWEET).write_text(good_tweet)

        # Drift (an edit on the target): reported, and not repaired without --self-heal.
        drifted = make_drift(repo, owner, "blog-writer")
        drift = watch.wait(lambda e: e["event"] == "drift", "a drift event")
        assert [a["name"] for a in drift["assistants"]] == ["blog-writer"] and drift["repair"] is False, drift
        watch.finished("a reconcile that reports the drift", drift=1)
        watch.finished("one more reconcile that still reports it", drift=1)
        assert state(repo, owner, "blog-writer").version == drifted

        # An atomic replace (write a temporary file, rename it over the manifest) is noticed.
        text = (repo / SUPPORT).read_text().replace("one turn at a time", "one turn at a time, atomically")
        with tempfile.NamedTemporaryFile("w", dir=repo / "assistants", suffix=".tmp", delete=False) as fh:
            fh.write(text)
        os.replace(fh.name, repo / SUPPORT)
        applied = watch.wait(lambda e: e["event"] == "applied" and e["name"] == "support-bot",
                             "support-bot applied after the replace")
        assert applied["action"] == "update", applied
        assert state(repo, owner, "blog-writer").version == drifted  # still not repaired

        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_self_heal_repairs_drift(repo, owner):
    watch = Watch(repo, "--self-heal")
    try:
        watch.finished("the first reconcile", trigger="start", created=3)
        make_drift(repo, owner, "blog-writer")
        drift = watch.wait(lambda e: e["event"] == "drift", "a drift event")
        assert drift["repair"] is True and [a["name"] for a in drift["assistants"]] == ["blog-writer"], drift
        repaired = watch.wait(lambda e: e["event"] == "applied" and e["name"] == "blog-writer", "the drift repaired")
        assert repaired["action"] == "repin" and repaired["version"] == 1, repaired  # back to v1, no new version
        watch.finished("the repairing reconcile", repinned=1)
        live = state(repo, owner, "blog-writer")
        assert live.version == 1 and live.content.config["configurable"]["style"] == "blog"
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_notices_edits_and_atomic_replaces_without_waiting_for_the_interval(repo, owner):
    watch = Watch(repo, "--no-smoke", interval="1h")
    try:
        watch.finished("the first reconcile", trigger="start", created=3)
        edit(repo / BLOG, "description: Long-form posts for the company blog", "description: Edited in place")
        watch.finished("a reconcile triggered by the edit", trigger="change", updated=1)
        text = (repo / TWEET).read_text().replace("Short posts for social media", "Replaced like git checkout does")
        tmp = repo / "assistants" / ".tweet-writer.yaml.swp"
        tmp.write_text(text)
        os.replace(tmp, repo / TWEET)
        watch.finished("a reconcile triggered by the replace", trigger="change", updated=1)
        assert state(repo, owner, "tweet-writer").content.description == "Replaced like git checkout does"
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_survives_an_unreachable_target_and_stops_on_sigterm(repo):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    watch = Watch(repo, "--url", f"http://127.0.0.1:{port}")
    try:
        first = watch.wait(lambda e: e["event"] == "error" and "retry_in" in e,
                           "an error event for the unreachable target")
        watch.wait(lambda e: e["event"] == "error" and "retry_in" in e, "a second error event (retried)")
        assert str(port) in first["message"], first
        assert watch.alive()
        assert watch.terminate() == 0
    finally:
        watch.close()


@pytest.mark.server
def test_watch_against_the_agent_server_survives_a_restart_and_reports_sdk_drift(agent_server, repo, owner):
    from langgraph_sdk import get_sync_client

    watch = Watch(repo, "--url", agent_server.url, "--no-smoke")
    try:
        first = watch.finished("the first reconcile", trigger="start")
        assert first["ok"] and first["created"] == 3, first

        client = get_sync_client(url=agent_server.url, api_key=None)
        client.assistants.update(assistant_id_for(owner, "blog-writer"), config={"configurable": {"style": "plain"}})
        drift = watch.wait(lambda e: e["event"] == "drift", "a drift event for the SDK's edit")
        assert [a["name"] for a in drift["assistants"]] == ["blog-writer"] and drift["repair"] is False, drift

        agent_server.stop()
        watch.wait(lambda e: e["event"] == "error" and "retry_in" in e, "an error event while the server is down")
        assert watch.alive()
        agent_server.start()
        watch.finished("a successful reconcile after the restart", ok=True)
        assert watch.alive()
        assert watch.terminate() == 0
    finally:
        watch.close()
        if agent_server.proc is None:
            agent_server.start()


def many(repo: Path, n: int) -> None:
    """n more manifests, one file each, beside the example's three."""
    for i in range(n):
        (repo / "assistants" / f"extra-{i:02d}.yaml").write_text(
            "apiVersion: assistant-controller/v1\nkind: Assistant\n"
            f"metadata: {{name: extra-{i:02d}}}\nspec:\n  graph: writer\n  description: Extra {i}\n")


def started(watch: Watch, what: str) -> dict[str, Any]:
    return watch.wait(lambda e: e["event"] == "reconcile-started", what)


def test_watch_replans_only_the_edited_file_and_the_interval_pass_stays_full(repo, owner):
    many(repo, 12)
    watch = Watch(repo, "--no-smoke", interval="1h")
    try:
        assert started(watch, "the first reconcile")["scope"] == "full"
        watch.finished("the first reconcile", trigger="start", created=15)

        edit(repo / "assistants" / "extra-07.yaml", "description: Extra 7", "description: Extra 7, edited")
        begun = started(watch, "the pass for the edit")
        assert begun["trigger"] == "change" and begun["scope"] == "changed" and begun["files"] == 1, begun
        done = watch.finished("the pass for the edit")
        assert done["ok"] and done.get("updated") == 1 and not done.get("unchanged"), done  # nothing else planned
        assert state(repo, owner, "extra-07").content.description == "Extra 7, edited"

        # a changed controller.yaml changes what every manifest means: a full pass
        edit(repo / "controller.yaml", f"owner: {owner}", f"owner: {owner}\n")
        begun = started(watch, "the pass for the settings")
        assert begun["scope"] == "full" and "files" not in begun, begun
        assert watch.finished("the full pass")["ok"]
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_with_prune_deletes_the_assistant_of_a_removed_file_on_the_incremental_pass(repo, owner):
    many(repo, 4)
    watch = Watch(repo, "--no-smoke", "--prune", interval="1h")
    try:
        watch.finished("the first reconcile", trigger="start", created=7)
        (repo / "assistants" / "extra-02.yaml").unlink()
        begun = started(watch, "the pass for the removal")
        assert begun["scope"] == "changed", begun
        deleted = watch.wait(lambda e: e["event"] == "applied" and e["action"] == "delete", "extra-02 deleted")
        assert deleted["name"] == "extra-02", deleted
        assert watch.finished("the pass for the removal").get("deleted") == 1
        assert state(repo, owner, "extra-02") is None
        assert state(repo, owner, "extra-01") is not None

        # a manifest removed from a file (a rename is a new name): the old one goes too
        edit(repo / "assistants" / "extra-03.yaml", "name: extra-03", "name: extra-33")
        assert started(watch, "the pass for the rename")["scope"] == "changed"
        done = watch.finished("the pass for the rename")
        assert done.get("created") == 1 and done.get("deleted") == 1, done
        assert state(repo, owner, "extra-03") is None and state(repo, owner, "extra-33") is not None
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_without_prune_keeps_the_assistant_of_a_removed_file(repo, owner):
    many(repo, 2)
    watch = Watch(repo, "--no-smoke", interval="1h")
    try:
        watch.finished("the first reconcile", trigger="start", created=5)
        (repo / "assistants" / "extra-01.yaml").unlink()
        assert started(watch, "the pass for the removal")["scope"] == "changed"
        done = watch.finished("the pass for the removal")
        assert done["ok"] and not done.get("deleted"), done
        assert state(repo, owner, "extra-01") is not None
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_a_duplicate_name_introduced_by_an_edit_is_an_error_on_the_incremental_pass(repo, owner):
    many(repo, 6)
    watch = Watch(repo, "--no-smoke", interval="1h")
    try:
        watch.finished("the first reconcile", trigger="start", created=9)
        edit(repo / "assistants" / "extra-05.yaml", "name: extra-05", "name: extra-01")
        assert started(watch, "the pass for the edit")["scope"] == "changed"
        error = watch.wait(lambda e: e["event"] == "error" and "errors" in e, "an error for the duplicate")
        assert any("extra-05.yaml" in line and "duplicate name 'extra-01'" in line and "extra-01.yaml" in line
                   for line in error["errors"]), error
        assert not watch.finished("the pass of the bad edit")["ok"]
        assert state(repo, owner, "extra-05") is not None  # the last good manifests stay in force

        # an edit to another file: the bad one is still bad (re-read with it), nothing else is lost
        edit(repo / "assistants" / "extra-02.yaml", "description: Extra 2", "description: Extra 2, edited")
        error = watch.wait(lambda e: e["event"] == "error" and "errors" in e, "the duplicate still reported")
        assert any("duplicate name 'extra-01'" in line for line in error["errors"]), error
        watch.finished("the pass of the second edit")

        edit(repo / "assistants" / "extra-05.yaml", "name: extra-01", "name: extra-05")
        done = watch.finished("a good pass once the duplicate is gone", ok=True)
        assert state(repo, owner, "extra-02").content.description == "Extra 2, edited", done
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_a_checkout_that_rewrites_many_files_converges_in_a_few_passes(repo, owner):
    many(repo, 30)
    watch = Watch(repo, "--no-smoke", interval="1h")
    try:
        watch.finished("the first reconcile", trigger="start", created=33)
        for i in range(30):  # as `git checkout` does: each file replaced in turn
            path = repo / "assistants" / f"extra-{i:02d}.yaml"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(path.read_text().replace(f"description: Extra {i}\n", f"description: Checked out {i}\n"))
            os.replace(tmp, path)
        updated, passes = 0, 0
        while updated < 30:
            done = watch.finished(f"passes until all 30 files are applied ({updated} so far)")
            assert done["ok"], done
            updated += done.get("updated", 0)
            passes += 1
        assert updated == 30 and passes <= 5, (updated, passes)
        assert all(state(repo, owner, f"extra-{i:02d}").content.description == f"Checked out {i}" for i in (0, 17, 29))
        assert watch.terminate() == 0
    finally:
        watch.close()
