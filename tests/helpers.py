"""What the end-to-end tests share: a copy of the example repository, and ways to drive it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from controller.cli import main
from controller.service.http import Health, ServiceServer, Snapshot
from controller.service.metrics import Metrics
from controller.targets.embedded import EmbeddedTarget

ROOT = Path(__file__).resolve().parent.parent  # the repository
EXAMPLE = ROOT / "manifests"
BLOG = Path("assistants/blog-writer.yaml")
TWEET = Path("assistants/tweet-writer.yaml")
SUPPORT = Path("assistants/support-bot.yaml")
T = TypeVar("T")


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
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
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
