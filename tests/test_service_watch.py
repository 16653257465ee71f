"""`controller watch --git --listen` as a deployment runs it: a real process following a
real ``git daemon``, applying to the real Agent Server, observed only over HTTP and its
JSON event stream. Every wait is bounded; no timing assertions.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from git_daemon import Daemon, git
from helpers import BLOG, edit, example_repo
from server import free_port
from test_watch import Watch, child_env, controller_command

from controller.core.content import assistant_id_for
from controller.service.http import signature

pytestmark = pytest.mark.server

SECRET = "hook-secret-for-tests"
METRICS = (
    "assistant_controller_reconciles_total", "assistant_controller_changes_total",
    "assistant_controller_smoke_cases_total", "assistant_controller_managed_assistants",
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
        assert first["ok"] and first["created"] == 3, first
        assert watch.http("/readyz")[0] == 200
        doc = watch.status()
        assert doc["revision"] == good and doc["synced"] and doc["counts"]["Synced"] == 3
        assert {a["revision"] for a in doc["assistants"]} == {good}
        m = watch.metrics()
        assert sample(m, 'assistant_controller_changes_total{action="create"}') == 3
        assert sample(m, "assistant_controller_managed_assistants") == 3
        assert sample(m, f'assistant_controller_source_info{{revision="{good}"}}') == 1
        assert sample(m, 'assistant_controller_smoke_cases_total{result="passed"}') > 0
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
        deadline = __import__("time").monotonic() + 30
        while {"applied", "error", "drift"} - {e["event"] for e in sent} and __import__("time").monotonic() < deadline:
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
        assert start["ok"] and start["created"] == 3, watch.report()
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
