"""The project as a git checkout (`watch --git URL`): synced before every pass.

The checkout (service/gitsource.py) is the project root: its controller.yaml applies and
PATHs are relative to it. Every sync cleans it, so the caches and an embedded target's
state live beside it in the workdir. New commits arrive by syncing: before each interval
tick (a moved ref renames the trigger ``git``) and each webhook. A failed fetch keeps the
checkout, and the loop keeps the last good commit in force; it is retried with its own
backoff, apart from the target's.

Last good commit: a commit whose manifests are invalid is checked out and reported, never
applied; the pass keeps the last good desired state in memory (engine/reconcile.py), so
it stays in force until the next good commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Collection

from controller.core.errors import ControllerError
from controller.engine.backoff import Backoff
from controller.engine.pipeline import Workspace
from controller.engine.source import Project, SourceFailed
from controller.service.gitsource import GitSource, default_workdir


class CheckoutSource:
    """``project`` inside a checkout of ``url`` at ``ref`` (kept in ``workdir``, default per URL)."""

    def __init__(self, url: str, ref: str, project: Project, *, interval: float, workdir: str | None = None):
        self.git = GitSource(url, ref, workdir=workdir or default_workdir(url))
        self.project = project
        self.backoff = Backoff.within(interval)
        self.revision: str | None = None  # the commit checked out now

    def workspace(self) -> Workspace:
        root, workdir = self.git.checkout, self.git.workdir
        # the checkout is cleaned on every sync: state and caches live beside it
        ws = self.project.load(root, cache_dir=os.path.join(workdir, "cache"))
        if ws.spec.embedded:
            rel = os.path.relpath(ws.spec.embedded, root)
            if not rel.startswith(".."):
                ws.spec = dataclasses.replace(ws.spec, embedded=os.path.join(workdir, "state", rel))
        return ws

    async def follow(self, changed: Callable[[Collection[str]], None], stop: asyncio.Event) -> None:
        """Nothing to follow: new commits are found by syncing (each tick, each webhook)."""

    async def sync(self, trigger: str) -> str:
        try:
            sha = await asyncio.to_thread(self.git.sync)
        except ControllerError as exc:
            raise SourceFailed(str(exc), retry_in=self.backoff.failed(), kept="the last good commit stays in force") from exc
        self.backoff.succeeded()
        moved = self.revision is not None and sha != self.revision
        self.revision = sha
        return "git" if moved and trigger == "interval" else trigger
