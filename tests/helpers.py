"""What the tests share: a copy of the example repository and ways to drive it, the example's
assistants as the embedded target holds them, a running `controller watch`, the service endpoints."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from controller.cli import main
from controller.core.content import Content, assistant_id_for
from controller.service.http import Health, ServiceServer, Snapshot
from controller.service.metrics import Metrics
from controller.targets.embedded import EmbeddedTarget

ROOT = Path(__file__).resolve().parent.parent  # the repository
EXAMPLE = ROOT / "manifests"
BLOG = Path("assistants/blog-writer.yaml")
TWEET = Path("assistants/tweet-writer.yaml")
SUPPORT = Path("assistants/support-bot.yaml")
T = TypeVar("T")
#: Who the tests' commits are by: git refuses to commit without a name and an e-mail.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}


def example_repo(root: Path, owner: str | None = None) -> Path:
    """A copy of manifests/ at ``root`` (no state, no caches); ``owner`` replaces the example's."""
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".controller", "__pycache__", ".langgraph_api"))
    if owner is not None:
        config = root / "controller.yaml"
        config.write_text(re.sub(r"(?m)^owner: .*$", f"owner: {owner}", config.read_text()))
    return root


def unavailable(message: str) -> None:
    """Something a test needs (a server, a tool) is missing: under CI that fails the run
    (a skipped integration suite would look green); locally it skips."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def remote_project(root: Path, owner: str, url: str, monkeypatch: pytest.MonkeyPatch, *, extra: str = "") -> Path:
    """The example project as a git work tree (cwd), owned by ``owner``, its `dev-server` target
    at ``url`` (``extra``: more target settings) and chosen, with no key or value from the environment."""
    example_repo(root, owner)
    config = root / "controller.yaml"
    config.write_text(config.read_text().replace("url: http://127.0.0.1:2024", f"url: {url}{extra}"))
    git_init(root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("CONTROLLER_TARGET", "dev-server")
    for name in ("MODEL", "SIGNATURE", "LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return root


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_IDENTITY}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def git_init(repo: Path) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def edit(path: Path, old: str, new: str) -> str:
    """Replace ``old`` (which must be there) by ``new``; returns the text before."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))
    return text


def on_embedded(repo: Path, job: Callable[[EmbeddedTarget], Awaitable[T]]) -> T:
    """Run ``job`` on the repository's embedded target, as an independent reader/writer."""
    async def go() -> T:
        target = EmbeddedTarget(str(repo / ".controller" / "state.db"), str(repo / "langgraph.json"))
        try:
            return await job(target)
        finally:
            await target.aclose()

    return asyncio.run(go())


def record_writes(monkeypatch: pytest.MonkeyPatch, target_class: type) -> list[str]:
    """The names of the write calls made on any ``target_class`` from now on."""
    calls: list[str] = []
    for name in ("create", "update", "set_active", "delete"):
        original = getattr(target_class, name)

        async def wrapper(self: Any, *a: Any, __name: str = name, __original: Any = original, **kw: Any) -> Any:
            calls.append(__name)
            return await __original(self, *a, **kw)

        monkeypatch.setattr(target_class, name, wrapper)
    return calls


# -- what the example's assistants are, on the embedded target and as content --------------

SECRET = "sk-model-super-secret-4242"  # set as MODEL: a value from the environment that no output may show


def state(repo: Path, name: str, owner: str = "demo-agents"):
    """NAME (of OWNER) on the repository's embedded target, with its versions; None if absent."""
    return on_embedded(repo, lambda t: t.get(assistant_id_for(owner, name), versions=True))


def writer_content(**kw) -> Content:
    """A writer's content (blog style, model m1, team a); ``kw`` replaces fields."""
    base = dict(graph_id="writer", name="W", description=None, config={"configurable": {"style": "blog", "model": "m1"}},
                context={"style": "blog", "model": "m1"}, metadata={"team": "a"})
    base.update(kw)
    return Content(**base)


# -- processes: a holder of the state lock, a running `controller watch` ----------------------

#: Holds the state lock of the state file given as argv[1] until killed; prints "held" once it does.
HOLDER = textwrap.dedent("""
    import sys, time
    from controller.targets.lock import StateLock
    lock = StateLock(sys.argv[1]); lock.acquire()
    print("held", flush=True)
    time.sleep(120)
""")


WAIT_S = 90.0  # the longest a Watch waits for one event


def controller_command() -> list[str]:
    """The `controller` command beside this interpreter (its venv), else ``python -m controller.cli``."""
    beside = Path(sys.executable).parent / "controller"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "controller.cli"]


def child_env() -> dict[str, str]:
    """This environment without what the example's manifests read (MODEL, SIGNATURE) or a target choice; no colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "CONTROLLER_TARGET", "SIGNATURE")}
    return {**env, "NO_COLOR": "1"}


class Watch:
    """A running `controller watch -o json`: its events arrive on a queue from a reader thread.
    With ``text=True`` it runs with text output, and each line is an event ``{"event": "line", "line": …}``."""

    text = False  # (subclasses that start their own process read JSON)

    def __init__(self, cwd: Path, *flags: str, interval: str = "1s", paths: tuple[str, ...] = (".",), text: bool = False,
                 env: dict[str, str] | None = None):
        self.err_path = cwd.parent / f"watch-{uuid.uuid4().hex[:8]}.stderr"
        self._err = open(self.err_path, "wb")  # noqa: SIM115 - held by the watch process
        self.text = text
        self.proc = subprocess.Popen(
            [*controller_command(), "watch", *paths, "-o", "text" if text else "json", "--interval", interval, *flags],
            cwd=cwd, env={**child_env(), **(env or {})}, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.text:
                self.events.put({"event": "line", "line": line.rstrip("\n")})
                continue
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
        self.wait(lambda e: e["event"] == "stopped" or e.get("line", "").endswith(" stopped"), "a 'stopped' event after SIGTERM")
        return code

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._err.close()


# -- the service endpoints of `watch --listen` ----------------------------------------------

@dataclass
class Service:
    """The service endpoints (`watch --listen`) on a loopback port, with what they report to, and a client."""

    server: ServiceServer
    health: Health
    metrics: Metrics
    snapshot: Snapshot
    hooks: list[int] = field(default_factory=list)

    def request(self, path: str, *, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.server.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def make_service(secret: str | None) -> Service:
    """Endpoints on a free port (not started), recording git-hook calls; ``secret``: the webhook's."""
    health, metrics, snapshot = Health(), Metrics(), Snapshot({"phase": "starting"})
    hooks: list[int] = []
    server = ServiceServer("127.0.0.1", 0, health=health, interval=60.0, status=snapshot, metrics=metrics,
                           on_git_hook=lambda: hooks.append(1), webhook_secret=secret)
    return Service(server, health, metrics, snapshot, hooks)
