"""`controller watch`: reconcile at start, on manifest changes, and every interval.

This module keeps only what a long-running loop needs: file events, timers, signals
and backoff. What a pass decides is engine/decide.py (pure); how it plans and applies
is the same pipeline as `apply`; what it reports is a stream of events for a view.
Bad edits leave the last good manifests in force; a failing target is retried with
capped exponential backoff; SIGINT/SIGTERM stop after the action in flight.

A pass after a file event is *incremental*: it re-loads, re-desires and re-plans only the
changed files (and deletes, with --prune, what they no longer declare), reading only
those assistants from the target (engine/incremental.py). Every other pass (start,
interval, retry, a changed controller.yaml or langgraph.json) is full, which is how
drift and anything a file event missed are still caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from watchfiles import awatch

from controller.config.files import SKIP_DIRS, YAML_SUFFIXES
from controller.config.settings import CONFIG_NAMES
from controller.config.store import LoadStore
from controller.core.durations import format_duration
from controller.core.errors import ControllerError, InvalidInput
from controller.engine.apply import SyncOptions, apply_plan, clean_candidates
from controller.engine.decide import Memory, decide, fingerprint, pass_scope, remember
from controller.engine.diff import change_diff
from controller.engine.events import (
    Drift,
    DriftedAssistant,
    Event,
    Failed,
    ReconcileFinished,
    ReconcileStarted,
    Stopped,
    Warned,
)
from controller.engine.incremental import ManifestSet
from controller.engine.pipeline import Scope, Workspace, compute_partial_plan, compute_plan
from controller.engine.plan import Plan
from controller.targets import connect
from controller.targets.base import Target

log = logging.getLogger(__name__)

BACKOFF_FIRST_S, BACKOFF_CAP_S = 1.0, 60.0
WATCHED_NAMES = frozenset({*CONFIG_NAMES, "langgraph.json"})
#: watchfiles yields once no change came for STEP_MS, or after DEBOUNCE_MS of changes that
#: keep coming. Its defaults (50/1600) suit an editor; an edit here should be applied in a
#: quarter second, and a `git checkout` writes its files within a few ms of each other, so
#: it still arrives as one batch (and what arrives during a pass is the next pass's batch).
STEP_MS, DEBOUNCE_MS = 20, 400


@dataclass(frozen=True)
class WatchOptions:
    """What `controller watch` was asked to do (the CLI builds it from flags)."""

    paths: tuple[str, ...] = (".",)
    config: str | None = None
    target: str | None = None
    url: str | None = None
    concurrency: int | None = None
    owner: str | None = None
    interval: float = 60.0
    self_heal: bool = False
    prune: bool = False
    max_deletes: int | None = None
    no_smoke: bool = False


class Watcher:
    def __init__(self, options: WatchOptions, emit: Callable[[Event], None]):
        self.options, self.emit = options, emit
        self.backoff_cap = max(BACKOFF_FIRST_S, min(BACKOFF_CAP_S, options.interval))
        self.ws: Workspace | None = None  # the last good workspace and its desired state
        self.good: list | None = None
        self.memory = Memory()
        self.failures, self.retry_in = 0, BACKOFF_FIRST_S
        self.reported: tuple[str, ...] = ()
        self.store: LoadStore | None = None  # unchanged files are not loaded again on the next pass
        self.target: Target | None = None  # kept open across interval ticks
        self.target_spec: object = None
        self.roots: list[str] = []
        self.manifests = ManifestSet()  # the last good manifests, per file
        self.pending: set[str] = set()  # changed files (absolute paths) not yet in a pass
        #: Files the last good set may not reflect (an invalid incremental pass); None: unknown.
        self.stale: set[str] | None = set()
        self.pass_paths: frozenset[str] | None = None  # this pass's files; None: a full pass

    def load(self) -> Workspace:
        o = self.options
        return Workspace.load(list(o.paths), config=o.config, target=o.target, url=o.url, concurrency=o.concurrency,
                              owner=o.owner)

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop, self.changed = asyncio.Event(), asyncio.Event()
        main = asyncio.current_task()

        def on_signal() -> None:
            if self.stop.is_set() and main is not None:  # a second signal: stop waiting for the action
                main.cancel()
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        files = asyncio.create_task(self.watch_files())
        trigger, code = "start", 0
        try:
            while not self.stop.is_set():
                ok = await self.reconcile(trigger)
                trigger = await self.wait_next(self.options.interval if ok else self.retry_in,
                                               "interval" if ok else "retry")
        except asyncio.CancelledError:
            code = 130
        finally:
            files.cancel()
            await asyncio.gather(files, return_exceptions=True)
            await self.close_target()  # (the loop's signal handlers go with the loop)
        self.emit(Stopped(code))
        return code

    async def wait_next(self, delay: float, label: str) -> str:
        waiters = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.changed.wait())]
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        changed = self.changed.is_set()
        self.changed.clear()
        return "change" if changed else label

    async def watch_files(self) -> None:
        self.roots = self.watch_roots()
        try:
            async for changes in awatch(*self.roots, watch_filter=self.relevant, debounce=DEBOUNCE_MS, step=STEP_MS,
                                        stop_event=self.stop):
                self.pending.update(os.path.abspath(path) for _, path in changes)
                self.changed.set()
        except Exception as exc:  # e.g. no inotify watches left: the interval still reconciles
            self.emit(Failed(f"cannot watch files ({exc}); reconciling every {format_duration(self.options.interval)}"))

    def watch_roots(self) -> list[str]:
        """Folders, not files: a git checkout replaces files (rename), which a watch on the file misses."""
        wanted = [os.path.abspath(p) for p in self.options.paths]
        with contextlib.suppress(ControllerError):
            ws = self.load()
            wanted += [p for p in (ws.settings.config_file, ws.spec.graphs) if p]
        folders = [p if os.path.isdir(p) else os.path.dirname(p) for p in wanted]
        return list(dict.fromkeys(f for f in folders if os.path.isdir(f)))

    def relevant(self, _change: object, path: str) -> bool:
        """Manifests, controller.yaml, langgraph.json; not in folders the loader skips (.git, .controller)."""
        name = os.path.basename(path)
        if not (name in WATCHED_NAMES or name.endswith(YAML_SUFFIXES)):
            return False
        for root in self.roots:
            rel = os.path.relpath(path, root).split(os.sep)
            if rel[0] != "..":
                return not any(p in SKIP_DIRS or p.startswith(".") for p in rel[:-1])
        return True

    # -- one pass ----------------------------------------------------------------------

    async def reconcile(self, trigger: str) -> bool:
        """One pass. False when the target failed: the caller retries after ``retry_in``."""
        changed, self.pending = self.pending, set()  # a full pass covers them too
        ready = self.manifests.ready and self.stale is not None and self.ws is not None
        self.pass_paths = pass_scope(trigger, changed, ready=ready)
        if self.pass_paths is None:
            self.emit(ReconcileStarted(trigger, scope="full"))
        else:
            self.emit(ReconcileStarted(trigger, scope="changed", files=len(self.pass_paths)))
        try:
            ok = await self.reconcile_once(trigger)
        except InvalidInput as exc:  # even the last good manifests do not plan against the target
            self.report_invalid(exc, trigger)
            self.emit(ReconcileFinished(trigger, ok=False))
            return True  # not the target's failure: no backoff
        except Exception as exc:  # unreachable target (ControllerError, OSError) or a bug: never exit
            log.debug("pass failed", exc_info=True)
            self.fail(str(exc) if isinstance(exc, ControllerError) else f"{type(exc).__name__}: {exc}")
            await self.close_target()
            self.emit(ReconcileFinished(trigger, ok=False))
            return False
        self.failures = 0 if ok else self.failures
        return ok

    def report_invalid(self, exc: InvalidInput, trigger: str) -> bool:
        """A bad edit: reported (once per edit, not every interval), never applied."""
        errors = tuple(str(p) for p in exc.problems)
        if errors == self.reported and trigger in ("interval", "retry"):
            return False
        self.reported = errors
        keeping = "the last good manifests stay in force" if self.good is not None else "nothing is applied until they are fixed"
        self.emit(Failed(f"{len(errors)} error{'s' if len(errors) != 1 else ''} in the manifests; {keeping}", errors=errors))
        return True

    def fail(self, message: str) -> None:
        """Report a failed pass and schedule its retry: 1s, 2s, 4s ... up to the cap."""
        self.retry_in = min(BACKOFF_FIRST_S * 2 ** self.failures, self.backoff_cap)
        self.failures += 1
        self.emit(Failed(message, retry_in=self.retry_in))

    async def plan(self, trigger: str) -> tuple[Plan | None, bool]:
        """Plan the manifests as they are now or, when they are invalid, the last good ones.

        The second item is False when the manifests as they are now are invalid. An
        incremental pass (``pass_paths``) plans only those files' manifests."""
        scope, paths = Scope(prune=self.options.prune), self.pass_paths
        try:
            if paths is None:
                ws = self.load()
                if self.store is None or self.store.folder != ws.spec.cache_dir:
                    self.store = ws.open_store()
                ws.store = self.store
                loaded = self.manifests.load(ws)
                desired = loaded.desired()
                plan = await compute_plan(ws, await self.open(ws, fresh=trigger != "interval"), desired, scope)
            else:  # only manifests changed: the settings, the target and its connection stay
                assert self.ws is not None and self.stale is not None
                ws = self.ws
                loaded = self.manifests.load(ws, paths | self.stale)
                desired = loaded.desired()
                plan = await compute_partial_plan(ws, await self.open(ws, fresh=False), loaded.changed, loaded.removed, scope)
            self.manifests.commit(loaded)
            (self.ws, self.good), self.reported, self.stale = (ws, desired), (), set()
            return plan, True
        except InvalidInput as exc:
            self.report_invalid(exc, trigger)
            # the next edit re-reads these files too; after a bad full pass, the next pass is full
            self.stale = None if paths is None or self.stale is None else self.stale | paths
        if self.ws is None or self.good is None:
            return None, False
        target = await self.open(self.ws, fresh=False)
        if paths is None:
            return await compute_plan(self.ws, target, self.good, scope), False
        return await compute_partial_plan(self.ws, target, self.manifests.last_good(paths), [], scope), False

    async def reconcile_once(self, trigger: str) -> bool:
        plan, valid = await self.plan(trigger)
        if plan is None:
            self.emit(ReconcileFinished(trigger, ok=False))
            return True
        assert self.ws is not None and self.good is not None and self.target is not None
        if self.pass_paths is None:  # a listing of the whole owner: full passes only (start, interval)
            await clean_candidates(self.target, plan.owner, self.emit)
        planned = {c.assistant_id for c in plan.changes}  # (all of them only on a full pass)
        fingerprints = {d.assistant_id: fingerprint(d) for d in self.good if d.assistant_id in planned}
        for warning in plan.warnings if trigger != "interval" else ():  # not again every tick
            self.emit(Warned(warning))
        decision = decide(plan, fingerprints, self.memory, self_heal=self.options.self_heal)
        if decision.drift:
            self.emit(Drift(tuple(DriftedAssistant(c.name, c.assistant_id, c.action, c.seen_version,
                                                   tuple(change_diff(c))) for c in decision.drift),
                            repair=self.options.self_heal))
        unrepaired = 0 if self.options.self_heal else len(decision.drift)
        held = tuple(c.name for c in decision.held)
        options = SyncOptions.resolve(self.ws.spec, no_smoke=self.options.no_smoke, max_deletes=self.options.max_deletes)
        refused = options.deletes_refused(decision.apply)
        if refused:
            self.memory = dataclasses.replace(decision.memory, first=self.memory.first)
            self.emit(Failed(f"{refused}; nothing was applied",
                             refused=tuple(c.name for c in decision.apply if c.action == "delete")))
            self.emit(ReconcileFinished(trigger, ok=False, drift=len(decision.drift), held=held))
            return True
        self.memory = decision.memory
        if not decision.apply:
            self.emit(ReconcileFinished(trigger, ok=valid, drift=unrepaired, held=held))
            return True
        subplan = dataclasses.replace(plan, changes=decision.apply, warnings=())
        result = await apply_plan(self.target, subplan, options, self.emit)
        self.memory = remember(self.memory, fingerprints, result)
        ok = not result.errors
        if not ok:  # the target failed some writes: retry them with backoff
            self.fail(f"{len(result.errors)} change{'s' if len(result.errors) != 1 else ''} failed")
        self.emit(ReconcileFinished(trigger, ok=ok and valid, counts=dict(result.counts), drift=unrepaired, held=held))
        return ok

    async def open(self, ws: Workspace, *, fresh: bool) -> Target:
        """The target: kept across interval ticks, reopened after file changes and failures."""
        if self.target is not None and (fresh or self.target_spec != ws.spec):
            await self.close_target()
        if self.target is None:
            self.target, self.target_spec = connect(ws.spec), ws.spec
        return self.target

    async def close_target(self) -> None:
        target, self.target = self.target, None
        if target is not None:
            with contextlib.suppress(Exception):
                await target.aclose()


def run_watch(options: WatchOptions, emit: Callable[[Event], None]) -> int:
    return asyncio.run(Watcher(options, emit).run())
