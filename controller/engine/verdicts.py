"""What is known of each version: its verdict, and whether a rollback holds the assistant.

One module owns what the controller records about a version and how it is read back, so
`status`, `history`, `rollback`, `apply`, `watch` and the service can never disagree. The
records are notes on the target (``Target.notes``): kept beside the assistant, so writing
one adds no version, and a fresh checkout or a restarted service reads the same answer.

- ``v<N>``: the verdict of version N — ``passed`` (its cases, or evaluation gate, passed),
  ``failed`` (they failed: the change was rolled back), ``skipped`` (written with
  ``--no-smoke``, or no cases) — with the hash of the content and of the cases it was
  judged with. A verdict for other content (an assistant deleted and made again with the
  same id) is not this version's; and a version is never branded ``failed`` by cases other
  than its own (a recorded verdict is replaced only by one judged with the same cases).
- ``c<content hash>``: content that failed as a ``smoke: before`` candidate (it never
  became a version). With a version's failure, this is how a restarted watch knows not to
  write content that already failed here (same content, same cases).
- ``rollback``: the content a `controller rollback` moved away from; a watch holds the
  assistant while the manifests still ask for exactly that content.

Versions written before these notes existed may carry ``controller/failed`` in their
metadata (the versions whose content failed): read here as failed verdicts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from controller.core.content import LEGACY_FAILED_KEY, Content, content_hash
from controller.targets.base import AssistantState, Target

if TYPE_CHECKING:
    from controller.config.manifest import EvalSpec, SmokeCase

Result = Literal["passed", "failed", "skipped"]
PASSED: Result = "passed"
FAILED: Result = "failed"
SKIPPED: Result = "skipped"
#: Shown for a version the controller did not write, or knows nothing of.
UNKNOWN = "-"


def cases_key(cases: Sequence[SmokeCase] | Sequence[Mapping[str, Any]],
              evals: Sequence[EvalSpec] | Sequence[Mapping[str, Any]] = ()) -> str:
    """A hash of what a verdict was judged with: the smoke cases, and the evals (their
    datasets inline: engine/gating.py) when there are any ("" for neither)."""
    if not cases and not evals:
        return ""
    dumped: Any = [_dumped(c) for c in cases]
    if evals:  # (smoke cases alone keep the key they always had)
        dumped = {"smoke": dumped, "evals": [_dumped(e) for e in evals]}
    return hashlib.blake2b(json.dumps(dumped, sort_keys=True).encode(), digest_size=16).hexdigest()


def _dumped(item: Any) -> Any:
    return item if isinstance(item, Mapping) else item.model_dump(mode="json", by_alias=True, exclude_unset=True)


@dataclass(frozen=True)
class Verdict:
    result: Result
    #: ``content_hash`` of the content judged.
    content: str
    #: ``cases_key`` of the cases it was judged with.
    cases: str
    #: The evaluation's pass rate, when an evaluation gate judged it.
    pass_rate: float | None = None
    detail: str = ""
    at: str = ""

    def note(self) -> dict[str, Any]:
        return {"result": self.result, "content": self.content, "cases": self.cases, "pass_rate": self.pass_rate,
                "detail": self.detail, "at": self.at or datetime.now(UTC).isoformat(timespec="seconds")}

    @classmethod
    def from_note(cls, note: Mapping[str, Any]) -> Verdict | None:
        result = note.get("result")
        if result not in (PASSED, FAILED, SKIPPED) or not isinstance(note.get("content"), str):
            return None
        rate = note.get("pass_rate")
        return cls(result, note["content"], str(note.get("cases") or ""),
                   float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None,
                   str(note.get("detail") or ""), str(note.get("at") or ""))


@dataclass(frozen=True)
class Rollback:
    """A `controller rollback` from ``from_version`` (whose content hashed to ``content``) to ``to_version``."""

    from_version: int
    to_version: int
    content: str
    at: str = ""


@dataclass(frozen=True)
class Known:
    """What the notes say of one assistant."""

    versions: Mapping[int, Verdict] = field(default_factory=dict)
    #: Contents that failed as candidates, by content hash.
    rejected: Mapping[str, Verdict] = field(default_factory=dict)
    rollback: Rollback | None = None

    def verdict(self, version: int, content: Content) -> Verdict | None:
        """Version ``version``'s verdict, if it was recorded for this very content."""
        found = self.versions.get(version)
        return found if found is not None and found.content == content_hash(content) else None

    def failed(self, content: Content, cases: str) -> Verdict | None:
        """A failure of exactly this content judged with exactly these cases (held until either changes)."""
        digest = content_hash(content)
        for found in (*self.versions.values(), *self.rejected.values()):
            if found.result == FAILED and found.content == digest and found.cases == cases:
                return found
        return None

    def holds(self, content: Content) -> Rollback | None:
        """The rollback that holds the assistant while the manifests ask for ``content`` (the
        content rolled back from); None once they ask for anything else."""
        if self.rollback is not None and self.rollback.content == content_hash(content):
            return self.rollback
        return None

    def rolled_back_to(self, version: int | None) -> Rollback | None:
        """The `controller rollback` that made ``version`` active, if it is still the last one."""
        if self.rollback is not None and self.rollback.to_version == version:
            return self.rollback
        return None


def _known(notes: Mapping[str, Any]) -> Known:
    versions: dict[int, Verdict] = {}
    rejected: dict[str, Verdict] = {}
    rollback = None
    for key, note in notes.items():
        if not isinstance(note, Mapping):
            continue
        if key.startswith("v") and key[1:].isdigit() and (v := Verdict.from_note(note)) is not None:
            versions[int(key[1:])] = v
        elif key.startswith("c") and (v := Verdict.from_note(note)) is not None:
            rejected[key[1:]] = v
        elif key == "rollback" and isinstance(note.get("from_version"), int) and isinstance(note.get("to_version"), int):
            rollback = Rollback(note["from_version"], note["to_version"], str(note.get("content") or ""),
                                str(note.get("at") or ""))
    return Known(versions, rejected, rollback)


def _legacy(state: AssistantState, known: Known) -> Known:
    """Failed marks from before notes (``controller/failed`` on the versions that undid them)."""
    numbers: set[int] = set()
    for version in (state.content, *(v.content for v in state.versions or ())):
        marks = version.metadata.get(LEGACY_FAILED_KEY)
        if isinstance(marks, list):
            numbers.update(n for n in marks if isinstance(n, int) and not isinstance(n, bool))
    if not numbers:
        return known
    versions = dict(known.versions)
    for entry in state.versions or ():
        if entry.number in numbers and entry.number not in versions:
            versions[entry.number] = Verdict(FAILED, content_hash(entry.content), "", detail="recorded before verdicts")
    return Known(versions, known.rejected, known.rollback)


async def read(target: Target, assistant_ids: Iterable[str]) -> dict[str, Known]:
    """What the notes say of each assistant."""
    ids = list(assistant_ids)
    notes = await target.notes(ids)
    return {i: _known(notes.get(i.lower(), {})) for i in ids}


async def read_one(target: Target, state: AssistantState) -> Known:
    """What is known of one assistant, read with its versions (which may carry legacy marks)."""
    return _legacy(state, (await read(target, [state.assistant_id]))[state.assistant_id])


async def record(target: Target, assistant_id: str, version: int, content: Content, verdict: Result, cases: str, *,
                 pass_rate: float | None = None, detail: str = "") -> None:
    """Record version ``version``'s verdict, unless one judged with other cases is there already:
    a version is never branded by cases other than its own."""
    known = (await target.notes([assistant_id])).get(assistant_id.lower(), {})
    existing = Verdict.from_note(known.get(f"v{version}") or {})
    digest = content_hash(content)
    if existing is not None and existing.content == digest and existing.cases != cases:
        return
    await target.put_note(assistant_id, f"v{version}", Verdict(verdict, digest, cases, pass_rate, detail).note())


async def carry(target: Target, assistant_id: str, version: int, restored: int) -> None:
    """A restore made a new version with ``version``'s content (a server whose set-latest would
    not restore all of it): it has that content's verdict, judged with the same cases."""
    if restored == version:
        return
    notes = (await target.notes([assistant_id])).get(assistant_id.lower(), {})
    if isinstance(notes.get(f"v{version}"), dict) and Verdict.from_note(notes[f"v{version}"]) is not None:
        await target.put_note(assistant_id, f"v{restored}", {**notes[f"v{version}"], "detail": f"restored from v{version}"})


async def reject(target: Target, assistant_id: str, content: Content, cases: str, *, detail: str = "") -> None:
    """Record that ``content`` failed as a candidate: it never became a version."""
    digest = content_hash(content)
    await target.put_note(assistant_id, f"c{digest}", Verdict(FAILED, digest, cases, detail=detail).note())


async def note_rollback(target: Target, assistant_id: str, from_version: int, content: Content, to_version: int) -> None:
    await target.put_note(assistant_id, "rollback", {"from_version": from_version, "to_version": to_version,
                                                     "content": content_hash(content),
                                                     "at": datetime.now(UTC).isoformat(timespec="seconds")})


async def clear_rollback(target: Target, assistant_id: str) -> None:
    """The assistant is no longer held by a rollback (undone, or overridden by an apply)."""
    await target.put_note(assistant_id, "rollback", {"cleared": datetime.now(UTC).isoformat(timespec="seconds")})


#: Why a watch holds a change: its content failed here with these cases, or a rollback holds it.
HELD_FAILED, HELD_ROLLBACK = "smoke tests or evals failed", "held by a rollback"


async def holds(target: Target, writes: Iterable[tuple[str, Content, str]]) -> dict[str, str]:
    """Which of these writes (assistant id, desired content, its cases' key) a watch must not make:
    content that already failed on this target with the same cases (until the content or the
    cases change), or content a `controller rollback` moved away from (until the manifest changes)."""
    writes = list(writes)
    if not writes:
        return {}
    known = await read(target, [aid for aid, _, _ in writes])
    out = {}
    for aid, content, cases in writes:
        note = known.get(aid, Known())
        if note.holds(content) is not None:
            out[aid] = HELD_ROLLBACK
        elif note.failed(content, cases) is not None:
            out[aid] = HELD_FAILED
    return out


def failed_versions(state: AssistantState, known: Known) -> set[int]:
    """Versions whose own cases failed (for `rollback` to skip)."""
    out = set()
    for entry in state.versions or ():
        found = known.verdict(entry.number, entry.content)
        if found is not None and found.result == FAILED:
            out.add(entry.number)
    return out
