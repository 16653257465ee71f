"""Execute a Plan against a target, in phases, exactly as planned.

Phases, as in Argo CD's sync: (1) refuse if the target moved since the plan;
(2) sync: create/update/repin, each write verified by reading the live content back;
(3) judge: run the changed assistants' smoke cases and evals on what is now active
(engine/gating.py), and roll back those that fail; (4) prune. ``smoke: before`` judges a
temporary candidate assistant with the new content first and promotes only on success.
Judges (assistants that grade others' evals) go through (2) and (3) first.

Apply never recomputes intent: it writes the contents the plan holds. The only
decisions it makes are the ones a plan cannot: how to restore a failed change, and
what to do when a non-idempotent write's fate is unknown (re-read, then decide).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from controller.config.settings import DEFAULT_CONCURRENCY, DEFAULT_MAX_DELETES, TargetSpec
from controller.core.content import (
    CANDIDATE_KEY,
    NAME_KEY,
    OWNER_KEY,
    WRITE_KEY,
    canonical,
    with_removals,
)
from controller.core.errors import Conflict, ControllerError, TargetError, UncertainWrite
from controller.engine import verdicts
from controller.engine.events import (
    Applied,
    CleanedUp,
    Deleted,
    Event,
    Failed,
    NotPromoted,
    RolledBack,
    Warned,
)
from controller.engine.gating import Gating, Judgement, judge_names, judges_first, verdict_key
from controller.engine.plan import Change, Plan
from controller.engine.unique import SYNCING, waves
from controller.engine.verdicts import FAILED, PASSED, SKIPPED
from controller.smoke.runner import CaseResult
from controller.targets.base import AssistantState, Target

if TYPE_CHECKING:
    from controller.evals.evaluate import EvalResult

SmokeMode = Literal["after", "before", "off"]
#: How often an uncertain write's assistant is re-read while waiting for the write to show.
SETTLE_POLL_S = 0.5
Emit = Callable[[Event], None]


def _ignore(event: Event) -> None:
    """The default event sink."""


@dataclass(frozen=True)
class SyncOptions:
    """How to carry out a plan: the same rules for apply, watch and the service."""

    smoke: SmokeMode = "after"
    keep_failed: bool = False
    max_deletes: int = DEFAULT_MAX_DELETES
    concurrency: int = DEFAULT_CONCURRENCY
    #: The project root: where evals' ``python:`` evaluators are imported from.
    root: str = "."

    @classmethod
    def resolve(cls, spec: TargetSpec, *, root: str, no_smoke: bool = False, smoke: SmokeMode | None = None,
                keep_failed: bool = False, max_deletes: int | None = None) -> SyncOptions:
        """Flags first, then the target's settings in controller.yaml. ``--no-smoke`` skips evals too."""
        mode: SmokeMode = "off" if no_smoke else (smoke or spec.smoke)
        return cls(smoke=mode, keep_failed=keep_failed,
                   max_deletes=spec.max_deletes if max_deletes is None else max_deletes,
                   concurrency=spec.concurrency, root=root)

    def deletes_refused(self, changes: Iterable[Change], what: str = "--prune") -> str | None:
        """Why these changes' deletes may not run (more than ``max_deletes``), or None;
        ``what`` names what deletes them (``--prune``, ``destroy``)."""
        names = [c.name for c in changes if c.action == "delete"]
        if len(names) <= self.max_deletes:
            return None
        return (f"{what} refused: {len(names)} assistants would be deleted, more than --max-deletes "
                f"{self.max_deletes}: {', '.join(names)}")


@dataclass
class Outcome:
    change: Change
    status: Literal["applied", "unchanged", "failed", "rolled-back", "not-promoted", "error"] = "unchanged"
    version: int | None = None
    message: str = ""
    #: What the change's smoke cases and evals said (None: nothing judged it).
    judgement: Judgement | None = None

    @property
    def judged_failed(self) -> bool:
        """Its smoke cases or evals failed it: rolled back, not promoted, or kept (--keep-failed)."""
        return self.status in ("rolled-back", "not-promoted", "failed")

    @property
    def cases(self) -> tuple[CaseResult, ...]:
        return self.judgement.cases if self.judgement is not None else ()

    @property
    def evals(self) -> tuple[EvalResult, ...]:
        return self.judgement.evals if self.judgement is not None else ()


@dataclass
class ApplyResult:
    outcomes: list[Outcome]

    @property
    def counts(self) -> Counter[str]:
        """Applied changes by action (create, update, repin, delete)."""
        return Counter(o.change.action for o in self.outcomes if o.status == "applied")

    @property
    def smoke_failed(self) -> bool:
        return any(o.judged_failed for o in self.outcomes)

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 3 if self.smoke_failed else 0

    @property
    def cases(self) -> list[CaseResult]:
        return [c for o in self.outcomes for c in o.cases]

    @property
    def evals(self) -> list[EvalResult]:
        return [e for o in self.outcomes for e in o.evals]


async def check_fresh(target: Target, plan: Plan) -> None:
    """Refuse a saved plan when any assistant's active version moved since it was made."""
    owned = {a.assistant_id: a for a in await target.list_assistants({OWNER_KEY: plan.owner})}
    moved = []
    for change in plan.changes:
        live = owned.get(change.assistant_id) or await target.get(change.assistant_id)
        now = live.version if live else None
        if now != change.seen_version:
            seen = "absent" if change.seen_version is None else f"v{change.seen_version}"
            moved.append(f"{change.name} ({seen} at plan time, {'absent' if now is None else f'v{now}'} now)")
    if moved:
        raise Conflict(f"the target changed since the plan was made: {'; '.join(moved)}. Nothing was applied; plan again")


async def clean_candidates(target: Target, owner: str, emit: Emit = _ignore) -> list[str]:
    """Delete ``smoke: before`` candidates of ``owner`` left behind by an apply that died
    (kill -9 skips the ``finally`` that deletes them). Run at the start of an apply or a
    watch pass, which hold the owner's target: a candidate then is never a live one's.

    Returns the deleted ids. A candidate already gone (deleted concurrently) is fine."""
    cleaned = []
    for state in await target.list_assistants({OWNER_KEY: owner}):
        if CANDIDATE_KEY not in state.content.metadata:
            continue
        await target.delete(state.assistant_id)
        cleaned.append(state.assistant_id)
        emit(CleanedUp(state.content.metadata.get(NAME_KEY) or state.assistant_id, state.assistant_id))
    return cleaned


async def apply_plan(target: Target, plan: Plan, options: SyncOptions = SyncOptions(),
                     emit: Emit = _ignore) -> ApplyResult:
    """Carry out ``plan``: refuse too many deletes, sync, judge, roll back, prune."""
    refused = options.deletes_refused(plan.changes)
    if refused:
        raise ControllerError(refused)
    outcomes = {c.assistant_id: Outcome(c) for c in plan.changes}
    limit = asyncio.Semaphore(options.concurrency)
    syncing = [c for c in plan.changes if c.action in SYNCING]
    syncing_ids = {c.assistant_id for c in syncing}
    gating = Gating(target, emit, root=options.root, concurrency=options.concurrency)
    if options.smoke != "off":  # every dataset, evaluator and judge loads before the first write
        await gating.prepare(syncing, plan.changes, plan.owner)
    overridden = await _rolled_back(target, syncing, emit)

    async with target.batch():
        async def sync_one(change: Change) -> None:
            async with limit:
                await _carry_out(target, change, outcomes, options.smoke, gating, emit)

        for stage in judges_first(plan.changes, judge_names(syncing)):
            if options.smoke == "after":
                await gating.measure_baselines(c for c in stage if c.assistant_id in syncing_ids)
            for wave in waves(stage):  # one wave, unless a change takes a config another frees (engine/unique.py)
                await asyncio.gather(*(sync_one(c) for c in wave))
            if options.smoke == "after":
                await _judge_after(target, [c for c in stage if c.assistant_id in syncing_ids and gating.gates(c)
                                            and outcomes[c.assistant_id].status == "applied"], outcomes, options,
                                   gating, emit)
        for change in syncing:  # written without judging: no cases nor evals declared, or --no-smoke
            outcome = outcomes[change.assistant_id]
            if outcome.status == "applied" and outcome.judgement is None and change.action != "repin":
                await _judged(target, change, outcome, SKIPPED)
            if outcome.status == "applied" and change.assistant_id in overridden:
                await verdicts.clear_rollback(target, change.assistant_id)
        await _prune(target, [c for c in plan.changes if c.action == "delete"], outcomes, emit)
    return ApplyResult([outcomes[c.assistant_id] for c in plan.changes])


async def _judge_after(target: Target, tested: list[Change], outcomes: dict[str, Outcome], options: SyncOptions,
                       gating: Gating, emit: Emit) -> None:
    """Judge the written versions; record each verdict; roll back the ones that failed."""
    if not tested:
        return
    versions = {c.assistant_id: outcomes[c.assistant_id].version for c in tested}
    judged = await gating.after(tested, versions)  # type: ignore[arg-type]
    for c in tested:
        outcome = outcomes[c.assistant_id]
        outcome.judgement = judged[c.assistant_id]
        await _judged(target, c, outcome, PASSED if outcome.judgement.passed else FAILED)
        if not outcome.judgement.passed:
            await _roll_back(target, c, outcome, options.keep_failed, emit)


async def _prune(target: Target, deletes: list[Change], outcomes: dict[str, Outcome], emit: Emit) -> None:
    for change in deletes:
        if outcomes[change.assistant_id].status == "unchanged":  # (not deleted early, for a change that waited)
            await _delete(target, change, outcomes[change.assistant_id], emit)


async def _rolled_back(target: Target, changes: list[Change], emit: Emit) -> set[str]:
    """The assistants among ``changes`` that a `controller rollback` holds now: this apply
    overrides the rollback, and says so."""
    live = [c for c in changes if c.seen_version is not None]
    if not live:
        return set()
    known = await verdicts.read(target, [c.assistant_id for c in live])
    out = set()
    for c in live:
        rollback = known[c.assistant_id].rolled_back_to(c.seen_version)
        if rollback is not None:
            emit(Warned(f"{c.name}: this apply overrides the rollback from v{rollback.from_version} to "
                        f"v{rollback.to_version} (a watch held it until the manifest changed)"))
            out.add(c.assistant_id)
    return out


async def _judged(target: Target, change: Change, outcome: Outcome, result: verdicts.Result) -> None:
    """Record the verdict of the version ``outcome`` made (a repin's version keeps its own,
    unless its own cases judged it again), with its evals' pass rate."""
    if outcome.version is not None and change.content is not None:
        judgement = outcome.judgement
        await verdicts.record(target, change.assistant_id, outcome.version, change.content, result,
                              verdict_key(change), pass_rate=judgement.pass_rate if judgement is not None else None,
                              detail=judgement.why if judgement is not None and not judgement.passed else "")


async def _carry_out(target: Target, change: Change, outcomes: dict[str, Outcome], smoke: SmokeMode, gating: Gating,
                     emit: Emit) -> None:
    """One change of the sync phase, once those it waits for went through (a delete here
    frees a config that a change of a later wave takes)."""
    if not _waited_for(change, outcomes, emit):
        return
    if change.action == "delete":
        await _delete(target, change, outcomes[change.assistant_id], emit)
    else:
        await _sync(target, change, outcomes[change.assistant_id], smoke, gating, emit)


def _waited_for(change: Change, outcomes: dict[str, Outcome], emit: Emit) -> bool:
    """Did the changes ``change`` waits for go through? If not, it is not written: it would take
    a config another assistant still holds, which the server refuses (a PATCH leaves a version)."""
    stuck = [outcomes[i].change.name for i in change.after if i in outcomes and outcomes[i].status != "applied"]
    if stuck:
        _fail(outcomes[change.assistant_id], TargetError(
            f"not written: it takes the graph and config {', '.join(stuck)} still has, whose change did not go through"), emit)
    return not stuck


async def _delete(target: Target, change: Change, outcome: Outcome, emit: Emit) -> None:
    try:
        await target.delete(change.assistant_id)
        outcome.status = "applied"
        emit(Deleted(change.name, change.assistant_id))
    except ControllerError as exc:
        _fail(outcome, exc, emit)


def _fail(outcome: Outcome, exc: Exception, emit: Emit) -> None:
    outcome.status = "error"
    outcome.message = str(exc)
    emit(Failed(str(exc), name=outcome.change.name))


async def _sync(target: Target, change: Change, outcome: Outcome, smoke: SmokeMode, gating: Gating,
                emit: Emit) -> None:
    try:
        if smoke == "before" and gating.gates(change) and change.content is not None:
            outcome.judgement = await gating.before(change)
            if not outcome.judgement.passed:
                outcome.status = "not-promoted"
                outcome.message = f"{outcome.judgement.why} on the candidate; nothing changed"
                await verdicts.reject(target, change.assistant_id, change.content, verdict_key(change),
                                      detail=outcome.judgement.why)
                emit(NotPromoted(change.name, outcome.message))
                return
        state = await _write(target, change)
        _verify(target, change, state)
        outcome.status, outcome.version = "applied", state.version
        if outcome.judgement is not None:  # judged on a candidate with this very content
            await _judged(target, change, outcome, PASSED)
        emit(Applied(change.name, change.assistant_id, change.action, state.version, change.seen_version))  # type: ignore[arg-type]
    except ControllerError as exc:
        _fail(outcome, exc, emit)


async def _write(target: Target, change: Change) -> AssistantState:
    assert change.content is not None
    if change.action == "create":
        return await target.create(change.assistant_id, change.content)
    if change.action == "repin":
        assert change.to_version is not None
        return await target.set_active(change.assistant_id, change.to_version)
    return await _update(target, change)


async def _update(target: Target, change: Change) -> AssistantState:
    """PATCH ``change.content``, each attempt tagged with a fresh write id.

    A PATCH whose fate is unknown (UncertainWrite) is watched for, by its id, for as
    long as the target says it may take to show (``settle``): seen, it landed and is
    never sent again. Unseen after a timeout, it may still land (a proxy holds it), so
    the change fails, saying so: exiting 0 then could let it land over a newer apply.
    Unseen after a failure that did not time out, it is sent again (a new id) while
    nothing else moved, up to the target's retry budget.
    """
    assert change.content is not None
    sent: list[str] = []
    while True:
        sent.append(str(uuid.uuid4()))
        try:
            return await target.update(change.assistant_id, change.content.with_metadata(**{WRITE_KEY: sent[-1]}))
        except UncertainWrite as exc:
            landed, live = await _settle(target, change, sent, exc.settle)
            if landed is not None:
                return landed
            if exc.in_flight:
                raise TargetError(
                    f"{change.name}: the write {sent[-1]} to assistant {change.assistant_id} timed out and was not "
                    f"seen landing within {exc.settle:g}s; it may still land: plan again once it has settled"
                ) from None
            if live is None or live.version != change.seen_version or len(sent) > exc.retries:
                raise


async def _settle(target: Target, change: Change, sent: list[str],
                  window: float) -> tuple[AssistantState | None, AssistantState | None]:
    """Re-read until one of ``sent`` is live or ``window`` seconds pass: (landed, last read).

    Raises TargetError when one of them landed but another write replaced it since: the
    live content is then someone else's, and only a new plan can say what to do.
    """
    deadline = time.monotonic() + window
    while True:
        live = await target.get(change.assistant_id)
        if live is not None and live.content.metadata.get(WRITE_KEY) in sent:
            return live, live
        if live is not None and live.version != change.seen_version:
            history = await target.get(change.assistant_id, versions=True)
            ours = [v for v in (history.versions if history else None) or () if v.content.metadata.get(WRITE_KEY) in sent]
            if ours:
                raise TargetError(f"{change.name}: the write landed as v{ours[0].number}, but v{live.version} replaced "
                                  "it since; plan again")
        left = deadline - time.monotonic()
        if left <= 0:
            return None, live
        await asyncio.sleep(min(SETTLE_POLL_S, left))


def _verify(target: Target, change: Change, state: AssistantState) -> None:
    """After any write, the live content must be what was intended (the server rewrites things)."""
    assert change.content is not None
    intended = change.content
    if change.action == "repin" and change.before is not None:  # what this target's set-active gives
        intended = target.profile.predict_set_active(change.content, change.before)
    expected, live = canonical(intended), canonical(state.content)
    if expected != live and not (change.action == "repin" and live == canonical(change.content)):
        # (a server that restores more than its profile predicts, an unrecognised one, is fine)
        fields = sorted(k for k in expected.keys() | live.keys() if expected.get(k) != live.get(k))
        raise TargetError(
            f"{change.name}: the target stored different content than was written ({', '.join(fields)}); "
            "re-run plan to see the difference"
        )


async def _roll_back(target: Target, change: Change, outcome: Outcome, keep_failed: bool, emit: Emit) -> None:
    """Undo a change whose smoke tests or evals failed: restore what was active before it (its
    verdict, ``failed``, is recorded beside it: the restore itself writes no mark)."""
    assert outcome.judgement is not None  # (judged just before)
    why = outcome.judgement.why
    try:
        if change.action == "create":
            if keep_failed:  # not rolled back: say so plainly
                outcome.status, outcome.message = "failed", f"{why}; kept (--keep-failed)"
                emit(Failed(outcome.message, name=change.name))
                return
            else:
                await target.delete(change.assistant_id)
                outcome.status, outcome.message = "rolled-back", f"{why}; the new assistant was deleted"
        else:
            assert change.seen_version is not None  # an update or repin saw a live version
            restored = await restore_version(target, change.assistant_id, change.seen_version, change.name)
            await verdicts.carry(target, change.assistant_id, change.seen_version, restored.version)
            outcome.status = "rolled-back"
            how = "made active again" if restored.version == change.seen_version else f"restored as v{restored.version}"
            outcome.message = f"{why}; v{change.seen_version} {how}"
        emit(RolledBack(change.name, outcome.message))
    except ControllerError as exc:
        _fail(outcome, TargetError(f"{why} and the rollback failed too: {exc}"), emit)


async def restore_version(target: Target, assistant_id: str, version: int, name: str) -> AssistantState:
    """Make ``version`` current again (rollback, and undoing a failed change): faithfully
    (repin) when the target restores all of it (the embedded target always does), else as a
    new version with that exact content (a server whose set-latest keeps the live context)."""
    live = await target.get(assistant_id, versions=True)
    if live is None:
        raise TargetError(f"{name}: assistant disappeared during the apply")
    previous = live.version_entry(version)
    if previous is None:
        raise TargetError(f"{name}: version {version} is gone")
    if target.profile.predict_set_active(previous.content, live.content) == previous.content:
        return await target.set_active(assistant_id, version)
    return await target.update(assistant_id, with_removals(previous.content, live.content))
