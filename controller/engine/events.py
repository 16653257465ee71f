"""What happens during a reconcile, as values.

Apply, watch, the status endpoint and the metrics all learn what happened from these
events, and the CLI's text and JSON views are the only places that turn them into
output (as Terraform's views do with its hooks). Each event is a frozen record, so a
consumer can keep it, count it or send it on without copying.

A watch also tells its observers (engine/watch.py) how the loop stands: a pass is due, the
manifests in force changed, the target's status after a pass. Those are ``LOOP_STATE``
events, which the views never print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from controller.config.settings import Settings
from controller.smoke.runner import CaseResult

if TYPE_CHECKING:
    from controller.engine.status import Status
    from controller.evals.evaluate import EvalResult

WriteAction = Literal["create", "update", "repin"]


@dataclass(frozen=True)
class ReconcileStarted:
    trigger: str
    #: "full": every manifest and the whole owner on the target; "changed": only the
    #: ``files`` that changed (a watch pass after a file event).
    scope: Literal["full", "changed"] = "full"
    files: int | None = None


@dataclass(frozen=True)
class Applied:
    """A create, update or repin landed and was verified."""

    name: str
    assistant_id: str
    action: WriteAction
    version: int
    from_version: int | None = None


@dataclass(frozen=True)
class Deleted:
    name: str
    assistant_id: str


@dataclass(frozen=True)
class CleanedUp:
    """A ``smoke: before`` candidate left behind by an interrupted apply (kill -9) was deleted.

    Not a change to a declared assistant, so not counted as a delete (nor against
    ``--max-deletes``): ``name`` is the assistant the candidate stood for."""

    name: str
    assistant_id: str


@dataclass(frozen=True)
class SmokeResult:
    name: str
    result: CaseResult
    #: Run on a temporary ``smoke: before`` candidate, not on the real assistant.
    candidate: bool = False


@dataclass(frozen=True)
class EvalFinished:
    """An eval that gates a change finished: on the version written, or on a ``smoke: before`` candidate."""

    name: str
    result: EvalResult
    candidate: bool = False


@dataclass(frozen=True)
class RolledBack:
    """A change whose smoke tests or evals failed was undone."""

    name: str
    message: str


@dataclass(frozen=True)
class NotPromoted:
    """A ``smoke: before`` candidate failed its cases or evals: the real assistant was never written."""

    name: str
    message: str


@dataclass(frozen=True)
class Failed:
    """Something went wrong: one assistant's write (``name``), or a whole pass."""

    message: str
    name: str = ""
    #: Every problem of an invalid edit, one line each.
    errors: tuple[str, ...] = ()
    #: When the pass is tried again (watch backoff), in seconds.
    retry_in: float | None = None
    #: Deletes that a --max-deletes guard refused.
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftedAssistant:
    name: str
    assistant_id: str
    action: str
    active_version: int | None
    #: The field-level diff, masked (engine/diff.py).
    diff: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Drift:
    """The target moved away from content watch had brought about."""

    assistants: tuple[DriftedAssistant, ...]
    repair: bool


@dataclass(frozen=True)
class ReconcileFinished:
    """A pass ended. ``ok`` is False when anything in it did not go as the manifests ask: an
    error, a change whose smoke tests failed (rolled back or not promoted), a change held."""

    trigger: str
    ok: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    drift: int = 0
    #: Changes not applied, held until the manifests change again (their content failed its
    #: smoke tests here, or a rollback holds the assistant: those are also in ``rolled_back``).
    held: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    #: Changes this pass tried that failed (rolled back, not promoted, kept failed, or an error).
    failed: tuple[str, ...] = ()
    #: The source's revision the pass synced (a git commit), when it has one.
    revision: str | None = None


@dataclass(frozen=True)
class Warned:
    """Something a user should see that does not stop the pass (a plan warning)."""

    message: str


@dataclass(frozen=True)
class Stopped:
    exit_code: int


@dataclass(frozen=True)
class PassDue:
    """The loop begins a pass, before its source syncs: liveness (``/healthz``) sees the loop
    turning even while a git fetch takes minutes."""

    trigger: str


@dataclass(frozen=True)
class ManifestsAccepted:
    """A pass found the manifests valid: they are the last good set, in force until the next
    good one (an invalid edit or commit leaves them so)."""

    settings: Settings
    #: The source's revision (the commit checked out), else the manifests' own ``controller/revision``.
    revision: str | None


@dataclass(frozen=True)
class StatusRead:
    """The target after a pass, read against the manifests in force: what ``/status`` serves.

    Only when the watch was asked for it (one more listing per pass), and emitted before
    the pass's ReconcileFinished: whoever sees that event finds the status up to date."""

    trigger: str
    #: The pass did not fail on the target (readiness: a pass that kept the last good manifests,
    #: or held a change, is ok here).
    ok: bool
    #: The manifests in force read against the target (sync states, verdicts, holds);
    #: None before any manifests were accepted, or when the read failed.
    status: Status | None
    #: The revision in force (:class:`ManifestsAccepted`).
    revision: str | None
    #: The source's revision now: a bad commit is checked out but not in force.
    checked_out: str | None
    #: The pass went as the manifests ask (the ``ok`` of its ReconcileFinished: nothing failed,
    #: rolled back or held); None: as ``ok``.
    passed: bool | None = None


#: How the loop stands, for its observers (health, status, notifications); never printed.
LOOP_STATE = (PassDue, ManifestsAccepted, StatusRead)

Event = (ReconcileStarted | Applied | Deleted | CleanedUp | SmokeResult | EvalFinished | RolledBack | NotPromoted | Failed | Drift
         | ReconcileFinished | Warned | Stopped | PassDue | ManifestsAccepted | StatusRead)
