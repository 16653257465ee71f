"""One watch pass: a trigger (and the files that changed) in, events out.

What a pass decides is engine/decide.py (pure); how it plans and applies is the same
pipeline as `apply`. This module keeps what a pass needs from the passes before it: the
manifests in force (the last good set, per file, and the workspace it was loaded in), what
watch has brought about on the target (:class:`Memory`), the open target connection, the
errors already reported, and the backoff after target failures.

Bad edits leave the last good manifests in force. A pass after a file event is
*incremental*: it re-loads, re-desires and re-plans only the changed files (and deletes,
with --prune, what they no longer declare), reading only those assistants from the target
(engine/incremental.py). Every other pass (start, interval, retry, git, a changed
controller.yaml or langgraph.json) is full, which is how drift and anything a file event
missed are still caught.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass

from controller.config.store import LoadStore
from controller.core.content import REVISION_KEY
from controller.core.errors import ControllerError, InvalidInput
from controller.engine import verdicts
from controller.engine.apply import SyncOptions, apply_plan, clean_candidates
from controller.engine.backoff import Backoff
from controller.engine.decide import GLOBAL_FILES, Memory, decide, fingerprint, pass_scope, remember
from controller.engine.desired import Desired
from controller.engine.diff import change_diff
from controller.engine.events import (
    Drift,
    DriftedAssistant,
    Event,
    Failed,
    ManifestsAccepted,
    ReconcileFinished,
    ReconcileStarted,
    StatusRead,
    Warned,
)
from controller.engine.gating import verdict_key
from controller.engine.incremental import ManifestSet
from controller.engine.pipeline import Scope, Workspace, compute_partial_plan, compute_plan
from controller.engine.plan import Plan
from controller.engine.source import Source
from controller.engine.status import read_status
from controller.targets import connect
from controller.targets.base import Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassOptions:
    """How each pass treats what it finds (the CLI builds it from flags)."""

    self_heal: bool = False
    prune: bool = False
    max_deletes: int | None = None
    no_smoke: bool = False
    #: Read the target's status after each pass (:class:`StatusRead`): only when it is served,
    #: as it costs a listing and a plan of every manifest, more than an incremental pass itself.
    status: bool = False


@dataclass(frozen=True)
class InForce:
    """The last good manifests: the workspace they were loaded in, their desired state, their revision."""

    workspace: Workspace
    desired: list[Desired]
    revision: str | None


class Connection:
    """The target, kept open across interval ticks; reopened after file changes, failures and new settings."""

    def __init__(self) -> None:
        self.target: Target | None = None
        self._spec: object = None

    async def open(self, ws: Workspace, *, fresh: bool) -> Target:
        if self.target is not None and (fresh or self._spec != ws.spec):
            await self.close()
        if self.target is None:
            self.target, self._spec = connect(ws.spec), ws.spec
        return self.target

    async def close(self) -> None:
        target, self.target = self.target, None
        if target is not None:
            with contextlib.suppress(Exception):
                await target.aclose()


class Reconciler:
    """Runs one pass at a time for the loop; keeps what the next pass needs (see the module docstring)."""

    def __init__(self, source: Source, options: PassOptions, emit: Callable[[Event], None], backoff: Backoff):
        self.source, self.options, self.emit, self.backoff = source, options, emit, backoff
        self.in_force: InForce | None = None
        self.manifests = ManifestSet()  # the last good manifests, per file
        #: Files the last good set may not reflect (an invalid incremental pass); None: unknown.
        self.stale: set[str] | None = set()
        self.store: LoadStore | None = None  # unchanged files are not loaded again on the next pass
        self.memory = Memory()
        self.connection = Connection()
        self.reported: tuple[str, ...] = ()  # the errors of the bad edit last reported

    def wants(self, path: str) -> bool:
        """Is a pass due for a change of ``path``? Always before a last good set, or while a bad
        edit waits for a fix (a missing prompt file may be what appeared); else when it concerns it."""
        return not self.manifests.ready or bool(self.stale) or self.stale is None or self.manifests.concerns(path) \
            or os.path.basename(path) in GLOBAL_FILES

    async def run(self, trigger: str, changed: Collection[str]) -> float | None:
        """One pass; the delay before retrying it when the target failed, else None."""
        ready = self.manifests.ready and self.stale is not None and self.in_force is not None
        paths = pass_scope(trigger, changed, ready=ready)
        if paths is None:
            self.emit(ReconcileStarted(trigger, scope="full"))
        else:
            self.emit(ReconcileStarted(trigger, scope="changed", files=len(paths)))
        try:
            finished, retry_in = await self.reconcile(trigger, paths)
            if retry_in is None:
                self.backoff.succeeded()
        except InvalidInput as exc:  # even the last good manifests do not plan against the target
            self.report_invalid(exc, trigger)
            finished, retry_in = ReconcileFinished(trigger, ok=False), None  # not the target's failure: no backoff
        except Exception as exc:  # unreachable target (ControllerError, OSError) or a bug: never exit
            log.debug("pass failed", exc_info=True)
            retry_in = self.fail(str(exc) if isinstance(exc, ControllerError) else f"{type(exc).__name__}: {exc}")
            await self.connection.close()
            self.emit(ReconcileFinished(trigger, ok=False))
            return retry_in
        await self.read_status(trigger, ok=retry_in is None, passed=finished.ok)
        self.emit(dataclasses.replace(finished, revision=self.source.revision))
        return retry_in

    async def close(self) -> None:
        await self.connection.close()

    def report_invalid(self, exc: InvalidInput, trigger: str) -> None:
        """A bad edit: reported (once per edit, not every interval), never applied."""
        errors = tuple(str(p) for p in exc.problems)
        if errors == self.reported and trigger in ("interval", "retry"):
            return
        self.reported = errors
        keeping = "the last good manifests stay in force" if self.in_force is not None else "nothing is applied until they are fixed"
        self.emit(Failed(f"{len(errors)} error{'s' if len(errors) != 1 else ''} in the manifests; {keeping}", errors=errors))

    def fail(self, message: str) -> float:
        """Report a failed pass; the delay before its retry."""
        retry_in = self.backoff.failed()
        self.emit(Failed(message, retry_in=retry_in))
        return retry_in

    async def plan(self, trigger: str, paths: frozenset[str] | None) -> tuple[Plan | None, bool]:
        """Plan the manifests as they are now or, when they are invalid, the last good ones.

        The second item is False when the manifests as they are now are invalid. An
        incremental pass (``paths``) plans only those files' manifests."""
        scope = Scope(prune=self.options.prune)
        try:
            if paths is None:
                ws = self.source.workspace()
                if self.store is None or self.store.folder != ws.spec.cache_dir:
                    self.store = ws.open_store()
                ws.store = self.store
                loaded = self.manifests.load(ws)
                desired = loaded.desired()
                plan = await compute_plan(ws, await self.connection.open(ws, fresh=trigger != "interval"), desired, scope)
            else:  # only manifests changed: the settings, the target and its connection stay
                assert self.in_force is not None and self.stale is not None
                ws = self.in_force.workspace
                loaded = self.manifests.load(ws, paths | self.stale)
                desired = loaded.desired()
                plan = await compute_partial_plan(ws, await self.connection.open(ws, fresh=False), loaded.changed,
                                                  loaded.removed, scope)
            self.manifests.commit(loaded)
            self.accept(ws, desired)
            return plan, True
        except InvalidInput as exc:
            self.report_invalid(exc, trigger)
            # the next edit re-reads these files too; after a bad full pass, the next pass is full
            self.stale = None if paths is None or self.stale is None else self.stale | paths
        if self.in_force is None:
            return None, False
        ws = self.in_force.workspace
        target = await self.connection.open(ws, fresh=False)
        if paths is None:
            return await compute_plan(ws, target, self.in_force.desired, scope), False
        return await compute_partial_plan(ws, target, self.manifests.last_good(paths), [], scope), False

    def accept(self, ws: Workspace, desired: list[Desired]) -> None:
        """The manifests as they are now planned: they are in force."""
        revision = self.source.revision
        if revision is None:
            revision = next((d.content.metadata.get(REVISION_KEY) for d in desired), None)
        self.in_force, self.reported, self.stale = InForce(ws, desired, revision), (), set()
        self.emit(ManifestsAccepted(ws.settings, revision))

    async def reconcile(self, trigger: str, paths: frozenset[str] | None) -> tuple[ReconcileFinished, float | None]:
        """Plan, decide, apply: the event that closes the pass, and the retry delay when writes failed."""
        plan, valid = await self.plan(trigger, paths)
        if plan is None:
            return ReconcileFinished(trigger, ok=False), None
        assert self.in_force is not None and self.connection.target is not None
        target = self.connection.target
        if paths is None:  # a listing of the whole owner: full passes only (start, interval)
            await clean_candidates(target, plan.owner, self.emit)
        planned = {c.assistant_id for c in plan.changes}  # (all of them only on a full pass)
        fingerprints = {d.assistant_id: fingerprint(d) for d in self.in_force.desired if d.assistant_id in planned}
        for warning in plan.warnings if trigger != "interval" else ():  # not again every tick
            self.emit(Warned(warning))
        desired = {d.assistant_id: d for d in self.in_force.desired}
        tested = {c.assistant_id: verdict_key(desired[c.assistant_id]) for c in plan.changes
                  if c.writes and c.action != "delete" and c.assistant_id in desired}
        holding = await verdicts.holds(target, [(aid, desired[aid].content, key) for aid, key in tested.items()])
        decision = decide(plan, fingerprints, self.memory, self_heal=self.options.self_heal, held_on_target=holding,
                          tested=tested)
        if decision.drift:
            self.emit(Drift(tuple(DriftedAssistant(c.name, c.assistant_id, c.action, c.seen_version,
                                                   tuple(change_diff(c))) for c in decision.drift),
                            repair=self.options.self_heal))
        unrepaired = 0 if self.options.self_heal else len(decision.drift)
        held = tuple(c.name for c in decision.held)
        by_rollback = tuple(c.name for c in decision.held if holding.get(c.assistant_id) == verdicts.HELD_ROLLBACK)
        workspace = self.in_force.workspace
        options = SyncOptions.resolve(workspace.spec, root=workspace.settings.root, no_smoke=self.options.no_smoke,
                                      max_deletes=self.options.max_deletes)
        refused = options.deletes_refused(decision.apply)
        if refused:
            self.memory = dataclasses.replace(decision.memory, first=self.memory.first)
            self.emit(Failed(f"{refused}; nothing was applied",
                             refused=tuple(c.name for c in decision.apply if c.action == "delete")))
            return ReconcileFinished(trigger, ok=False, drift=len(decision.drift), held=held,
                                     rolled_back=by_rollback), None
        self.memory = decision.memory
        if not decision.apply:
            return ReconcileFinished(trigger, ok=valid and not held, drift=unrepaired, held=held,
                                     rolled_back=by_rollback), None
        subplan = dataclasses.replace(plan, changes=decision.apply, warnings=())
        result = await apply_plan(target, subplan, options, self.emit)
        self.memory = remember(self.memory, fingerprints, result, tested)
        retry_in = None
        if result.errors:  # the target failed some writes: retry them with backoff
            retry_in = self.fail(f"{len(result.errors)} change{'s' if len(result.errors) != 1 else ''} failed")
        finished = ReconcileFinished(trigger, ok=not result.errors and not result.smoke_failed and valid and not held,
                                     counts=dict(result.counts), drift=unrepaired, held=held, rolled_back=by_rollback,
                                     failed=tuple(o.change.name for o in result.outcomes
                                                  if o.judged_failed or o.status == "error"))
        return finished, retry_in

    async def read_status(self, trigger: str, *, ok: bool, passed: bool) -> None:
        """How the target stands after the pass, when asked for and the target is open."""
        target = self.connection.target
        if not self.options.status or target is None:
            return
        status = None
        if self.in_force is not None:
            try:
                status = await read_status(self.in_force.workspace, target, self.in_force.desired)
            except Exception as exc:
                log.debug("status after the pass failed: %s", exc)
        revision = self.in_force.revision if self.in_force is not None else None
        self.emit(StatusRead(trigger, ok, status, revision, checked_out=self.source.revision, passed=passed))
