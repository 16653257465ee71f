"""What happens during a reconcile, as values.

Apply, watch, the status endpoint and the metrics all learn what happened from these
events, and the CLI's text and JSON views are the only places that turn them into
output (as Terraform's views do with its hooks). Each event is a frozen record, so a
consumer can keep it, count it or send it on without copying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from controller.smoke.runner import CaseResult

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
class RolledBack:
    """A change whose smoke tests failed was undone."""

    name: str
    message: str


@dataclass(frozen=True)
class NotPromoted:
    """A ``smoke: before`` candidate failed: the real assistant was never written."""

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
    trigger: str
    ok: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    drift: int = 0
    #: Changes whose smoke tests failed, held until the manifests change again.
    held: tuple[str, ...] = ()


@dataclass(frozen=True)
class Warned:
    """Something a user should see that does not stop the pass (a plan warning)."""

    message: str


@dataclass(frozen=True)
class Stopped:
    exit_code: int


Event = (ReconcileStarted | Applied | Deleted | CleanedUp | SmokeResult | RolledBack | NotPromoted | Failed | Drift
         | ReconcileFinished | Warned | Stopped)
