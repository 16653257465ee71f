"""`controller watch` as a service: the watch loop plus a git source, HTTP endpoints,
metrics, notifications and the state lock.

Why a subclass of the engine's Watcher rather than flags inside it: the engine keeps one
job (decide and apply each pass); everything a long-running *service* adds is a hook
around a pass (sync the checkout before, publish status and metrics after), so it lives
here and the plain file-watching loop is unchanged.

Last good commit: a commit whose manifests are invalid is reported and never applied;
the Watcher already keeps the last good *desired state in memory* (what the plan needs
from a workspace is its owner and target, both kept with it), so the checkout may move
to a bad commit while the last good one stays in force until the next good commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.core.errors import ControllerError
from controller.engine.events import (
    Applied,
    Deleted,
    Event,
    Failed,
    ReconcileFinished,
    ReconcileStarted,
    RolledBack,
    SmokeResult,
)
from controller.engine.pipeline import Workspace, status_plan
from controller.engine.plan import Plan
from controller.engine.status import MISSING, OUT_OF_SYNC, status_json, status_rows
from controller.engine.watch import Watcher, WatchOptions
from controller.service.gitsource import GitSource
from controller.service.http import Health, ServiceServer, Snapshot
from controller.service.metrics import Metrics
from controller.targets.lock import LockHeld, StateLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceOptions:
    """What `watch` adds as a service (all optional: without them it is the plain loop)."""

    git_url: str | None = None
    ref: str = "main"
    workdir: str | None = None
    listen: tuple[str, int] | None = None
    webhook_secret: str | None = None
    lock_timeout: float = 0.0


class MetricsSink:
    """Feeds Metrics from the event stream, then passes each event on (to the view)."""

    def __init__(self, metrics: Metrics, then: Callable[[Event], None]):
        self.metrics, self.then = metrics, then
        self._started: float | None = None

    def __call__(self, event: Event) -> None:
        m = self.metrics
        if isinstance(event, ReconcileStarted):
            self._started = time.monotonic()
        elif isinstance(event, Applied):
            m.change(event.action)
        elif isinstance(event, Deleted):
            m.change("delete")
        elif isinstance(event, RolledBack):
            m.change("rollback")
        elif isinstance(event, SmokeResult):
            m.smoke_case(event.result.passed)
        elif isinstance(event, ReconcileFinished):
            duration = time.monotonic() - self._started if self._started is not None else 0.0
            m.reconcile_finished(event.trigger, event.ok, duration)
        self.then(event)


class ServiceWatcher(Watcher):
    def __init__(self, options: WatchOptions, service: ServiceOptions, emit: Callable[[Event], None]):
        self.service = service
        self.metrics = Metrics()
        self.health = Health(options.interval)
        self.snapshot = Snapshot({"revision": None, "assistants": [], "last_pass": None})
        super().__init__(options, self.emit_held)
        self.sink = MetricsSink(self.metrics, emit)
        self.held: list[Event] = []  # a pass's ReconcileFinished, sent after /status is updated
        self.in_pass = False
        self.source: GitSource | None = None
        if service.git_url:
            from controller.service.gitsource import default_workdir

            workdir = service.workdir or default_workdir(service.git_url)
            self.source = GitSource(service.git_url, service.ref, workdir=workdir)
        self.sha: str | None = None  # the commit checked out now
        self.good_sha: str | None = None  # the commit whose desired state is in force
        self.hooked = False
        self.lock: StateLock | None = None
        self.lock_free = False
        self.fatal: ControllerError | None = None
        self.git_failures = 0

    def emit_held(self, event: Event) -> None:
        """Hold a pass's ReconcileFinished until its status is published: whoever sees the
        event (a log reader, a test) then finds /status and /metrics already up to date."""
        if self.in_pass and isinstance(event, ReconcileFinished):
            self.held.append(event)
        else:
            self.sink(event)

    # -- where the manifests come from ----------------------------------------------

    def load(self) -> Workspace:
        if self.source is None:
            return super().load()
        o, root = self.options, self.source.checkout
        ws = Workspace.load([os.path.join(root, p) for p in o.paths],
                            config=os.path.join(root, o.config) if o.config else None,
                            target=o.target, url=o.url, concurrency=o.concurrency, owner=o.owner, cwd=root,
                            cache_dir=os.path.join(self.source.workdir, "cache"))  # (the checkout is cleaned on every sync)
        if ws.spec.embedded:
            rel = os.path.relpath(ws.spec.embedded, root)
            if not rel.startswith(".."):
                ws.spec = dataclasses.replace(ws.spec, embedded=os.path.join(self.source.workdir, "state", rel))
        return ws

    async def watch_files(self) -> None:
        if self.source is None:  # git mode: new commits arrive by polling and the webhook
            await super().watch_files()

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        server = None
        if self.service.listen:
            host, port = self.service.listen

            def on_hook() -> None:  # runs in a server thread: only signal the loop
                def signal() -> None:
                    self.hooked = True
                    self.changed.set()
                loop.call_soon_threadsafe(signal)

            server = ServiceServer(host, port, health=self.health, interval=self.options.interval,
                                   status=self.snapshot, metrics=self.metrics, on_git_hook=on_hook,
                                   webhook_secret=self.service.webhook_secret)
            server.start()
        try:
            code = await super().run()
        finally:
            if server is not None:
                server.stop()
            if self.lock is not None:
                self.lock.release()
        return 1 if self.fatal is not None and code == 0 else code

    async def wait_next(self, delay: float, label: str) -> str:
        trigger = await super().wait_next(delay, label)
        if self.hooked:
            self.hooked = False
            return "webhook"
        return trigger

    async def reconcile(self, trigger: str) -> bool:
        self.in_pass = True
        try:
            return await self.reconcile_service(trigger)
        finally:
            self.in_pass = False
            held, self.held = self.held, []
            for event in held:
                self.sink(event)

    async def reconcile_service(self, trigger: str) -> bool:
        self.health.pass_started()
        if self.source is not None:
            try:
                sha = await asyncio.to_thread(self.source.sync)
            except ControllerError as exc:
                return self.git_failed(trigger, str(exc))
            self.git_failures = 0
            if sha != self.sha and self.sha is not None and trigger == "interval":
                trigger = "git"
            self.sha = sha
        if not await self.take_lock():
            return True
        ok = await super().reconcile(trigger)
        if self.target is not None:
            if ok:
                self.health.reached_target()
            await self.publish(trigger, ok)
        return ok

    def git_failed(self, trigger: str, message: str) -> bool:
        """A failed fetch: reported, retried with backoff; the last good commit stays in force."""
        self.emit(ReconcileStarted(trigger))
        self.failures = self.git_failures
        self.fail(message + ("; the last good commit stays in force" if self.good_sha else ""))
        self.git_failures = self.failures
        self.emit(ReconcileFinished(trigger, ok=False))
        return False

    async def take_lock(self) -> bool:
        """On an embedded target, hold its state lock for the whole run; a held lock stops watch."""
        if self.lock is not None or self.lock_free:
            return True
        try:
            spec = self.load().spec
        except ControllerError:
            return True  # invalid settings: the pass reports them
        if spec.url:
            self.lock_free = True  # a remote target: the server serialises writes, no state file here
            return True
        lock = StateLock(os.path.abspath(spec.embedded or ".controller/state.db"), timeout=self.service.lock_timeout)
        try:
            await lock.acquire_async()
        except LockHeld as exc:
            self.fatal = exc
            self.emit(Failed(str(exc)))
            self.stop.set()
            return False
        self.lock = lock
        return True

    async def plan(self, trigger: str) -> tuple[Plan | None, bool]:
        plan, valid = await super().plan(trigger)
        if valid:
            self.good_sha = self.sha
        return plan, valid

    # -- after a pass -----------------------------------------------------------------

    async def publish(self, trigger: str, ok: bool) -> None:
        """The status document and gauges as the target is after this pass (one more listing).

        Only when they are served (--listen): the listing and a plan of every manifest would
        otherwise cost more than an incremental pass itself, for nobody to read."""
        if self.service.listen is None or self.ws is None or self.good is None or self.target is None:
            return
        try:
            plan = await status_plan(self.ws, self.target, self.good)
        except Exception as exc:
            log.debug("status after the pass failed: %s", exc)
            return
        rows = status_rows(plan)
        revision = self.good_sha if self.source is not None else next(
            (d.content.metadata.get("controller/revision") for d in self.good), None)
        doc: dict[str, Any] = status_json(plan, rows, revision)
        doc["last_pass"] = {"trigger": trigger, "ok": ok, "checked_out": self.sha}
        self.snapshot.publish(doc)
        self.metrics.set_managed(sum(1 for r in rows if r.sync != MISSING))
        self.metrics.set_drifted(sum(1 for r in rows if r.sync == OUT_OF_SYNC))
        self.metrics.set_revision(revision)
