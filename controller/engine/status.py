"""`controller status`: a plan read as a table of sync states (pure: plan → rows).

Why derive status from a plan instead of a second comparison: a row says ``Synced``
exactly when `controller plan` would do nothing for that assistant, so the two commands
can never disagree, and status costs no more requests than a no-op plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.core.content import REVISION_KEY
from controller.engine.plan import Plan

#: Metadata another part of the controller sets when an assistant's active content failed its
#: smoke tests. Read defensively: absent, empty or "false" means not failed.
FAILED_KEY = "controller/failed"

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
    #: The active content carries a ``controller/failed`` marker (its smoke tests failed).
    smoke_failed: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "assistant_id": self.assistant_id, "sync": self.sync, "version": self.version,
                "revision": self.revision or None, "smoke_failed": self.smoke_failed}


def _failed(value: object) -> bool:
    if value is None or value is False:
        return False
    return str(value).strip().lower() not in ("", "false", "0", "no")


def status_rows(plan: Plan) -> list[StatusRow]:
    """One row per declared or owned assistant of a plan made with prune semantics, sorted by name.

    A create of an assistant that exists under another owner (adoption) is still ``Missing``
    from this owner's point of view: nothing it declares is there under its management.
    """
    rows = []
    for change in plan.changes:
        metadata = change.before.metadata if change.before is not None else {}
        missing = change.action == "create"
        rows.append(StatusRow(
            name=change.name, assistant_id=change.assistant_id, sync=_STATE[change.action],
            version=None if missing else change.seen_version,
            revision="" if missing else str(metadata.get(REVISION_KEY) or ""),
            smoke_failed=False if missing else _failed(metadata.get(FAILED_KEY)),
        ))
    return sorted(rows, key=lambda r: (r.name, r.assistant_id))


def all_synced(rows: list[StatusRow]) -> bool:
    return all(r.sync == SYNCED for r in rows)


def status_json(plan: Plan, rows: list[StatusRow], revision: str | None = None) -> dict[str, Any]:
    """The document `controller status -o json` prints and `/status` serves."""
    counts = {s: sum(1 for r in rows if r.sync == s) for s in (SYNCED, OUT_OF_SYNC, MISSING, ORPHAN)}
    return {"owner": plan.owner, "target": plan.target, "revision": revision, "synced": all_synced(rows),
            "counts": counts, "assistants": [r.to_json() for r in rows]}
