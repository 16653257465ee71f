"""`controller status` and ``/status``: a plan read as a table of sync states, with each
active version's verdict.

Why derive status from a plan instead of a second comparison: a row says ``Synced``
exactly when `controller plan` would do nothing for that assistant, so the two commands
can never disagree, and status costs no more requests than a no-op plan (plus one read of
the controller's notes for the verdicts, engine/verdicts.py: the same ones `history` shows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.content import REVISION_KEY
from controller.engine import verdicts
from controller.engine.desired import Desired
from controller.engine.pipeline import Workspace, status_plan
from controller.engine.plan import Plan
from controller.targets.base import Target

SYNCED, OUT_OF_SYNC, MISSING, ORPHAN = "Synced", "OutOfSync", "Missing", "Orphan"
_STATE = {"noop": SYNCED, "update": OUT_OF_SYNC, "repin": OUT_OF_SYNC, "create": MISSING, "delete": ORPHAN}


@dataclass(frozen=True)
class StatusRow:
    name: str
    assistant_id: str
    sync: str
    #: Active version on the target (None when missing).
    version: int | None
    #: The ``controller/revision`` of the active content: the commit that wrote it.
    revision: str
    #: The active version's verdict: passed, failed, skipped, or ``-`` (unknown).
    smoke: str = verdicts.UNKNOWN
    #: The share of its eval runs that passed, when evals judged it.
    pass_rate: float | None = None
    #: "rollback vN → vM" while a `controller rollback` holds the assistant (watch does not re-apply).
    held: str = ""

    @property
    def smoke_failed(self) -> bool:
        return self.smoke == verdicts.FAILED

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "assistant_id": self.assistant_id, "sync": self.sync, "version": self.version,
                "revision": self.revision or None, "smoke": self.smoke, "smoke_failed": self.smoke_failed,
                "pass_rate": self.pass_rate, "held": self.held or None}


@dataclass(frozen=True)
class Status:
    owner: str
    target: str
    rows: tuple[StatusRow, ...]


def status_rows(plan: Plan, known: Mapping[str, verdicts.Known] | None = None,
                desired: Mapping[str, Desired] | None = None) -> list[StatusRow]:
    """One row per declared or owned assistant of a plan made with prune semantics, sorted by name.

    A create of an assistant that exists under another owner (adoption) is still ``Missing``
    from this owner's point of view: nothing it declares is there under its management.
    ``known``: the notes (verdicts) per assistant; ``desired``: what the manifests ask, for
    whether a rollback still holds each one."""
    rows = []
    for change in plan.changes:
        live = change.before
        missing = change.action == "create" or live is None or change.seen_version is None
        note = (known or {}).get(change.assistant_id, verdicts.Known())
        smoke, held, pass_rate = verdicts.UNKNOWN, "", None
        if not missing:
            assert live is not None and change.seen_version is not None
            judged = note.verdict(change.seen_version, live)
            smoke, pass_rate = (judged.result, judged.pass_rate) if judged is not None else (verdicts.UNKNOWN, None)
            wanted = (desired or {}).get(change.assistant_id)
            rollback = note.rolled_back_to(change.seen_version)
            if rollback is not None and wanted is not None and note.holds(wanted.content) is not None:
                held = f"rollback v{rollback.from_version} → v{rollback.to_version}"
        rows.append(StatusRow(
            name=change.name, assistant_id=change.assistant_id, sync=_STATE[change.action],
            version=None if missing else change.seen_version,
            revision="" if missing or live is None else str(live.metadata.get(REVISION_KEY) or ""),
            smoke=smoke, pass_rate=pass_rate, held=held,
        ))
    return sorted(rows, key=lambda r: (r.name, r.assistant_id))


async def read_status(ws: Workspace, target: Target, desired: list[Desired]) -> Status:
    """The target as it stands against ``desired``: sync states, versions, verdicts, holds."""
    plan = await status_plan(ws, target, desired)
    known = await verdicts.read(target, [c.assistant_id for c in plan.changes if c.before is not None])
    rows = status_rows(plan, known, {d.assistant_id: d for d in desired})
    return Status(plan.owner, plan.target, tuple(rows))


def all_synced(rows: list[StatusRow] | tuple[StatusRow, ...]) -> bool:
    return all(r.sync == SYNCED for r in rows)


def status_json(status: Status, revision: str | None = None) -> dict[str, Any]:
    """The document `controller status -o json` prints and `/status` serves."""
    rows = status.rows
    counts = {s: sum(1 for r in rows if r.sync == s) for s in (SYNCED, OUT_OF_SYNC, MISSING, ORPHAN)}
    return {"owner": status.owner, "target": status.target, "revision": revision, "synced": all_synced(rows),
            "counts": counts, "assistants": [r.to_json() for r in rows]}
