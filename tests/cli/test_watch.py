"""`controller watch` as a pipeline and as a deployment run it: a real process, read line by line,
stopped by signal; with --git and --listen it follows a real ``git daemon``, applies to the real
Agent Server and is observed only over HTTP and its JSON event stream.

No timing assertions: every wait is for an event, with a generous deadline and a
message that shows what the process said so far.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from git_daemon import Daemon, git, smart_http
from helpers import BLOG, HOLDER, SUPPORT, TWEET, Watch, child_env, controller_command, edit, example_repo, on_embedded
from server import free_port

from controller.core.content import assistant_id_for
from controller.service.http import signature
from controller.targets.embedded import EmbeddedTarget


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
        assert first["ok"] and first["created"] == 5, first
        assert {e["name"] for e in watch.seen if e["event"] == "applied"} == {
            "blog-writer", "support-bot", "tweet-writer", "faq-bot", "faq-grader"}
        smoke = [e for e in watch.seen if e["event"] == "smoke"]
        assert sorted(e["name"] for e in smoke) == ["blog-writer", "support-bot", "tweet-writer"], smoke
        assert all(e["passed"] for e in smoke), smoke

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


def test_a_text_drift_line_names_the_fields_that_drifted(repo, owner):
    watch = Watch(repo, text=True)
    try:
        watch.wait(lambda e: "reconcile finished: 5 created" in e["line"], "the first pass")
        make_drift(repo, owner, "blog-writer")
        drift = watch.wait(lambda e: " drift: " in e["line"], "a drift line")
        assert drift["line"].endswith("drift: blog-writer (repin: config.configurable.style); "
                                      "not repaired (use --self-heal, or controller apply)"), drift
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_self_heal_repairs_drift(repo, owner):
    watch = Watch(repo, "--self-heal")
    try:
        watch.finished("the first reconcile", trigger="start", created=5)
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
        watch.finished("the first reconcile", trigger="start", created=5)
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
        assert first["ok"] and first["created"] == 5, first

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
    """n more manifests, one file each, beside the example's five."""
    for i in range(n):
        (repo / "assistants" / f"extra-{i:02d}.yaml").write_text(
            "apiVersion: assistant-controller/v1\nkind: Assistant\n"
            f"metadata: {{name: extra-{i:02d}}}\nspec:\n  graph: writer\n  description: Extra {i}\n")


def started(watch: Watch, what: str) -> dict[str, Any]:
    return watch.wait(lambda e: e["event"] == "reconcile-started", what)


@contextmanager
def watching(repo: Path, extra: int, *flags: str) -> Iterator[Watch]:
    """``extra`` manifests beside the example's five, watched with no smoke tests and an hour's
    interval (every later pass is an edit's), past its first pass: full, everything created.
    On leaving, SIGTERM stops it, and it must exit 0."""
    many(repo, extra)
    watch = Watch(repo, "--no-smoke", *flags, interval="1h")
    try:
        assert started(watch, "the first reconcile")["scope"] == "full"
        watch.finished("the first reconcile", trigger="start", created=5 + extra)
        yield watch
        assert watch.terminate() == 0
    finally:
        watch.close()


def test_watch_replans_only_the_edited_file_and_the_interval_pass_stays_full(repo, owner):
    with watching(repo, 12) as watch:
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


def test_watch_with_prune_deletes_the_assistant_of_a_removed_file_on_the_incremental_pass(repo, owner):
    with watching(repo, 4, "--prune") as watch:
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


def test_watch_without_prune_keeps_the_assistant_of_a_removed_file(repo, owner):
    with watching(repo, 2) as watch:
        (repo / "assistants" / "extra-01.yaml").unlink()
        assert started(watch, "the pass for the removal")["scope"] == "changed"
        done = watch.finished("the pass for the removal")
        assert done["ok"] and not done.get("deleted"), done
        assert state(repo, owner, "extra-01") is not None


def test_a_duplicate_name_introduced_by_an_edit_is_an_error_on_the_incremental_pass(repo, owner):
    with watching(repo, 6) as watch:
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


def test_a_checkout_that_rewrites_many_files_converges_in_a_few_passes(repo, owner):
    with watching(repo, 30) as watch:
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


def test_watch_refuses_to_start_while_the_state_is_locked(repo):
    state = str(repo / ".controller" / "state.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, state], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = subprocess.run([*controller_command(), "watch", ".", "--interval", "600s"], cwd=repo, env=child_env(),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert f"locked by pid {holder.pid} on " in out.stderr
        assert not os.path.exists(state)
    finally:
        holder.kill()
        holder.wait(timeout=10)


# -- git mode as the README documents it: file:// URLs, GIT_USERNAME, --config in the checkout --

def upstream_with_the_project_in_app(tmp_path: Path, owner: str) -> Path:
    """A repository whose app/ folder is the example project: its controller.yaml is not at the root."""
    work = tmp_path / "upstream"
    example_repo(work / "app", owner)
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "the project in app/")
    return work


def test_git_mode_follows_a_file_url_with_the_config_path_relative_to_the_checkout(tmp_path, owner):
    upstream = upstream_with_the_project_in_app(tmp_path, owner)
    here = tmp_path / "elsewhere"  # nothing of the project here: --config names a file of the checkout
    here.mkdir()
    watch = Watch(here, "--git", f"file://{upstream}", "--workdir", str(tmp_path / "wd"), "--config", "app/controller.yaml")
    try:
        done = watch.finished("the first pass, from the checkout")
        assert done["ok"] is True and done["created"] == 5, watch.report()
        assert done["revision"] == git(upstream, "rev-parse", "HEAD")
        assert watch.terminate() == 0
    finally:
        watch.close()
    state = tmp_path / "wd" / "state" / "app" / ".controller" / "state.db"  # beside the checkout, which syncs clean
    assert state.is_file()


def test_git_mode_sends_git_username_with_the_token(tmp_path, owner):
    """GitHub takes any username with a token; GitLab wants `oauth2`, Bitbucket `x-token-auth`: GIT_USERNAME."""
    upstream = upstream_with_the_project_in_app(tmp_path, owner)
    served = tmp_path / "served"
    served.mkdir()
    git(served, "clone", "--quiet", "--bare", str(upstream), "repo.git")
    token = "glpat-s3cret-for-tests"
    with smart_http(served, "oauth2", token) as url:
        flags = ("--git", url, "--config", "app/controller.yaml")
        watch = Watch(tmp_path, *flags, "--workdir", str(tmp_path / "wd-default"), env={"GIT_TOKEN": token})
        try:  # without GIT_USERNAME git sends x-access-token, which this server refuses
            error = watch.wait(lambda e: e["event"] == "error", "the refused fetch")
            assert token not in json.dumps(error)
            assert watch.terminate() == 0
        finally:
            watch.close()
        watch = Watch(tmp_path, *flags, "--workdir", str(tmp_path / "wd"), env={"GIT_TOKEN": token, "GIT_USERNAME": "oauth2"})
        try:
            done = watch.finished("the first pass")
            assert done["ok"] is True and done["revision"] == git(upstream, "rev-parse", "HEAD"), watch.report()
            assert watch.terminate() == 0
        finally:
            watch.close()


# -- as a service: --git and --listen, on the real Agent Server --------------------------------

SECRET = "hook-secret-for-tests"
METRICS = (
    "assistant_controller_reconciles_total", "assistant_controller_changes_total",
    "assistant_controller_smoke_cases_total", "assistant_controller_eval_gates_total",
    "assistant_controller_managed_assistants",
    "assistant_controller_drifted_assistants", "assistant_controller_last_success_timestamp_seconds",
    "assistant_controller_reconcile_duration_seconds", "assistant_controller_source_info",
)


class ServiceWatch(Watch):
    """`controller watch --git URL --listen 127.0.0.1:PORT -o json` and its HTTP endpoints."""

    def __init__(self, cwd: Path, url: str, *flags: str, env: dict[str, str]):
        self.port = free_port()
        self.err_path = cwd / f"watch-{uuid.uuid4().hex[:8]}.stderr"
        self._err = open(self.err_path, "wb")  # noqa: SIM115 - held by the watch process
        self.proc = subprocess.Popen(
            [*controller_command(), "watch", "--git", url, "--workdir", str(cwd / "wd"), "-o", "json",
             "--listen", f"127.0.0.1:{self.port}", *flags],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL, text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def http(self, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, headers=headers or {},
                                         method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status(self) -> dict[str, Any]:
        code, body = self.http("/status")
        assert code == 200
        return json.loads(body)

    def metrics(self) -> str:
        code, body = self.http("/metrics")
        assert code == 200
        return body.decode()

    def hook(self, secret: str = SECRET) -> int:
        body = b'{"ref": "refs/heads/main"}'
        return self.http("/hooks/git", body, {"X-Hub-Signature-256": signature(secret, body),
                                              "Content-Type": "application/json"})[0]


def sample(metrics: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.M)
    assert m, f"{name} not in metrics"
    return float(m.group(1))


class Inbox(ThreadingHTTPServer):
    """A webhook receiver: what --notify-url would reach."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                inbox.received.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while not self.received.empty():
            out.append(self.received.get())
        return out


@pytest.fixture
def served(tmp_path: Path, owner: str, agent_server: Any) -> Any:
    base = tmp_path / "served"
    base.mkdir()
    daemon = Daemon(base, free_port())
    daemon.start()
    git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(base / "repo.git"))
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", daemon.url(), str(work))
    git(work, "checkout", "--quiet", "-b", "main")
    yield daemon, work
    daemon.stop()


def push(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "--allow-empty", "-m", message)
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD")


@pytest.mark.server
def test_git_webhook_status_metrics_and_notifications(served, owner, agent_server, tmp_path):
    daemon, work = served
    (work / "assistants").mkdir()
    (work / "assistants" / "broken.yaml").write_text("apiVersion: assistant-controller/v1\nkind: Assistant\nspec: {}\n")
    push(work, "broken from the start")
    inbox = Inbox()
    env = {**child_env(), "CONTROLLER_WEBHOOK_SECRET": SECRET}
    watch = ServiceWatch(tmp_path, daemon.url(), "-t", "dev-server", "--interval", "600s",
                         "--notify-url", f"http://127.0.0.1:{inbox.server_address[1]}/hook", env=env)
    try:
        # 1. A first commit that does not validate: reported, nothing applied, not ready yet, but alive.
        watch.wait(lambda e: e["event"] == "error" and e.get("errors"), "the invalid first commit reported")
        watch.finished("the failed first pass", trigger="start", ok=False)
        assert watch.http("/healthz")[0] == 200
        assert watch.http("/readyz")[0] == 503
        before = watch.metrics()
        assert all(name in before for name in METRICS), before
        errors_before = sample(before, 'assistant_controller_reconciles_total{result="error",trigger="start"}')
        assert errors_before == 1

        # 2. A good commit and a signed webhook: applied at once (the 600s interval cannot explain it).
        (work / "assistants" / "broken.yaml").unlink()
        example_repo(tmp_path / "example", owner)
        for item in (tmp_path / "example").iterdir():
            target = work / item.name
            if item.is_dir():
                subprocess.run(["cp", "-r", f"{item}/.", str(target)], check=True)
            else:
                target.write_text(item.read_text().replace("http://127.0.0.1:2024", agent_server.url))
        good = push(work, "the example")
        assert watch.hook() == 202
        first = watch.finished("the pass the webhook triggered", trigger="webhook")
        assert first["ok"] and first["created"] == 5, first
        assert watch.http("/readyz")[0] == 200
        doc = watch.status()
        assert doc["revision"] == good and doc["synced"] and doc["counts"]["Synced"] == 5
        assert {a["revision"] for a in doc["assistants"]} == {good}
        m = watch.metrics()
        assert sample(m, 'assistant_controller_changes_total{action="create"}') == 5
        assert sample(m, "assistant_controller_managed_assistants") == 5
        assert sample(m, f'assistant_controller_source_info{{revision="{good}"}}') == 1
        assert sample(m, 'assistant_controller_smoke_cases_total{result="passed"}') > 0
        assert sample(m, 'assistant_controller_eval_gates_total{result="passed"}') == 1  # faq-bot's eval
        faq = next(a for a in doc["assistants"] if a["name"] == "faq-bot")
        assert (faq["smoke"], faq["pass_rate"]) == ("passed", 1.0)  # the verdict /status agrees on with history
        assert sample(m, "assistant_controller_last_success_timestamp_seconds") > 0
        assert sample(m, "assistant_controller_reconcile_duration_seconds_count") >= 2

        # 3. A bad signature is refused and triggers nothing.
        assert watch.hook("wrong-secret") == 401

        # 4. A broken commit: error event, the last good commit stays in force, error counter moves.
        edit(work / BLOG, "  graph: writer", "  graph: [not, a, graph]")
        push(work, "break blog-writer")
        assert watch.hook() == 202
        watch.wait(lambda e: e["event"] == "error" and e.get("errors"), "the broken commit reported")
        watch.finished("the pass on the broken commit", trigger="webhook", ok=False)
        doc = watch.status()
        assert doc["revision"] == good and doc["synced"], doc
        errors = sum(float(v) for v in re.findall(r'^assistant_controller_reconciles_total\{result="error",[^}]*\} (\S+)$',
                                                  watch.metrics(), re.M))
        assert errors == errors_before + 1

        # 5. The next good commit applies and becomes the revision in force.
        edit(work / BLOG, "  graph: [not, a, graph]", "  graph: writer")
        edit(work / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
        fixed = push(work, "shorter paragraphs")
        assert watch.hook() == 202
        done = watch.finished("the pass on the fixed commit", trigger="webhook")
        assert done["ok"] and done["updated"] == 1, watch.report()
        doc = watch.status()
        assert doc["revision"] == fixed
        blog = next(a for a in doc["assistants"] if a["name"] == "blog-writer")
        assert blog["revision"] == fixed and blog["version"] == 2
        m = watch.metrics()
        assert f'revision="{fixed}"' in m and f'revision="{good}"' not in m
        assert sample(m, 'assistant_controller_changes_total{action="update"}') == 1

        # 6. Drift made on the server (not in git): reported, counted, notified.
        from langgraph_sdk import get_sync_client

        sdk = get_sync_client(url=agent_server.url, api_key=None)
        blog_id = assistant_id_for(owner, "blog-writer")
        live = sdk.assistants.get(blog_id)
        sdk.assistants.update(blog_id, config={"configurable": {**live["config"]["configurable"], "style": "tweet"}})
        assert watch.hook() == 202
        watch.wait(lambda e: e["event"] == "drift", "the drift reported")
        watch.finished("the pass that saw drift", trigger="webhook")
        assert sample(watch.metrics(), "assistant_controller_drifted_assistants") == 1
        assert watch.status()["counts"]["OutOfSync"] == 1

        assert watch.terminate() == 0
        sent: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while {"applied", "error", "drift"} - {e["event"] for e in sent} and time.monotonic() < deadline:
            try:
                sent.append(inbox.received.get(timeout=1))
            except queue.Empty:
                pass
        kinds = {e["event"] for e in sent}
        assert {"applied", "error", "drift"} <= kinds, sent
        applied = [e for e in sent if e["event"] == "applied"]
        assert any(e["text"] == "+ blog-writer: created (v1)" for e in applied), applied
        assert all("text" in e for e in sent)
    finally:
        watch.close()
        inbox.shutdown()


@pytest.mark.server
def test_polling_an_embedded_target_survives_a_git_outage(served, owner, tmp_path):
    """Polling (no webhook): a push is applied by the next poll (trigger ``git``); the embedded
    state lives in the workdir, not in the checkout that every sync cleans; a fetch failure is
    reported with a retry and the last good commit stays in force."""
    daemon, work = served
    example = example_repo(tmp_path / "example", owner)
    subprocess.run(["cp", "-r", f"{example}/.", str(work)], check=True)
    first = push(work, "the example")
    watch = ServiceWatch(tmp_path, daemon.url(), "--interval", "1s", "--no-smoke", env=child_env())
    try:
        start = watch.finished("the first pass", trigger="start")
        assert start["ok"] and start["created"] == 5, watch.report()
        assert (tmp_path / "wd" / "state" / ".controller" / "state.db").exists()
        assert not (tmp_path / "wd" / "checkout" / ".controller").exists()
        assert watch.status()["revision"] == first

        edit(work / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
        second = push(work, "shorter")
        done = watch.finished("the poll that found the push", trigger="git")
        assert done["ok"] and done["updated"] == 1, watch.report()
        assert watch.status()["revision"] == second

        daemon.stop()
        failed = watch.wait(lambda e: e["event"] == "error" and "git fetch" in e["message"], "the fetch failure")
        assert failed["retry_in"] > 0 and "last good commit stays in force" in failed["message"]
        assert watch.http("/healthz")[0] == 200 and watch.status()["revision"] == second
        daemon.start()
        watch.finished("a pass after git came back", ok=True)
        assert watch.terminate() == 0
    finally:
        watch.close()
