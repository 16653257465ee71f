"""`controller rollback`: which version, whether it may be restored, and what to test it with.

The policy lives here, not in the command line: the default version is the most recent
earlier one whose content differs from the active one and did not fail its own cases; a
version that failed its own cases needs ``force``. What is run on the restored version is
the cases *that version* was written with — the manifest's current cases when they are the
ones it was judged with, else the manifest as it was at the version's ``controller/revision``
in git, else none (and the result says which). So an ordinary edit (prompt and expectation
changed together) never brands the old, good version ``failed``. The rollback is noted on
the target: a watch holds the assistant until its manifest changes again.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.config.loader import LoadOptions, load_text
from controller.core.content import CANDIDATE_KEY, NAME_KEY, OWNER_KEY, REVISION_KEY, SOURCE_KEY, same_content
from controller.core.errors import ControllerError, InvalidInput
from controller.core.suggest import did_you_mean
from controller.engine import verdicts
from controller.engine.apply import restore_version
from controller.engine.desired import Desired, secrets_of
from controller.engine.gating import verdict_key
from controller.engine.pipeline import Workspace
from controller.smoke.runner import SuiteResult, run_suite
from controller.targets.base import AssistantState, Target

if TYPE_CHECKING:
    from controller.config.manifest import SmokeCase


async def find_assistant(ws: Workspace, target: Target, name: str) -> AssistantState:
    """The assistant called NAME, with its versions: owned with that name, or declared by a
    manifest here. The owner listing by name comes first: when it finds exactly one, no
    manifest is loaded. None or several: the manifests decide."""
    owned = [a for a in await target.list_assistants({OWNER_KEY: ws.settings.owner, NAME_KEY: name})
             if CANDIDATE_KEY not in a.content.metadata]  # a smoke candidate carries the name too
    if len(owned) == 1:
        state = await target.get(owned[0].assistant_id, versions=True)
        if state is not None:
            return state
    for d in declared(ws, name):
        state = await target.get(d.assistant_id, versions=True)
        if state is not None:
            return state
    found = await target.get(owned[0].assistant_id, versions=True) if owned else None
    if found is None:
        where = ws.spec.url or os.path.abspath(ws.spec.embedded or "")
        raise ControllerError(f"no assistant named {name!r} for {ws.settings.owner_label} on {where}"
                              f"{did_you_mean(name, await _known_names(ws, target))}")
    return found


async def _known_names(ws: Workspace, target: Target) -> set[str]:
    """The names a user could have meant: declared here, or owned on the target."""
    try:
        names = {d.name for d in ws.desired(require=False)}
    except InvalidInput:
        names = set()
    owned = await target.list_assistants({OWNER_KEY: ws.settings.owner})
    return names | {str(a.content.metadata.get(NAME_KEY)) for a in owned
                    if NAME_KEY in a.content.metadata and CANDIDATE_KEY not in a.content.metadata}


def declared(ws: Workspace, name: str) -> list[Desired]:
    """The manifests here that declare ``name`` (none when they do not load)."""
    try:
        return [d for d in ws.desired() if d.name == name]
    except InvalidInput:
        return []


def choose(state: AssistantState, known: verdicts.Known, name: str, to: int | None = None, force: bool = False) -> int:
    """The version to restore: ``to``, or the most recent earlier version whose content differs
    from the active one and did not fail its own cases (the version just before the active
    one is often the failed content an automatic rollback undid)."""
    failed = verdicts.failed_versions(state, known)
    bad = [v.content for v in state.versions or () if v.number in failed]
    numbers = sorted(v.number for v in state.versions or ())

    def failed_why(number: int) -> str | None:
        entry = state.version_entry(number)
        if number in failed:
            return f"v{number} failed its smoke tests"
        if entry is not None and any(same_content(entry.content, c) for c in bad):
            return f"v{number} has the content of a version that failed its smoke tests"
        return None

    if to is not None:
        if to not in numbers:
            raise ControllerError(f"{name}: no version {to} (versions: {', '.join(map(str, numbers))})")
        why = failed_why(to) if to != state.version else None
        if why and not force:
            raise ControllerError(f"{name}: {why} (recorded on the target); use --force to restore it anyway")
        return to
    for number in sorted((n for n in numbers if n < state.version), reverse=True):
        entry = state.version_entry(number)
        if entry is None or same_content(entry.content, state.content) or failed_why(number):
            continue
        return number
    skipped = f"; failed: {', '.join(f'v{n}' for n in sorted(failed))}" if failed else ""
    raise ControllerError(f"{name}: no version before v{state.version} differs from it and passed its smoke tests"
                          f" (versions: {', '.join(map(str, numbers))}{skipped}); pick one with --to N")


@dataclass(frozen=True)
class Cases:
    """The cases to run on a restored version, and where they came from (for the output)."""

    cases: tuple[SmokeCase, ...]
    source: str


def cases_in_force(ws: Workspace, state: AssistantState, known: verdicts.Known, version: int,
                   current: Desired | None) -> Cases:
    """The cases version ``version`` was written (and judged) with; see the module docstring."""
    entry = state.version_entry(version)
    if entry is None:
        return Cases((), "none: the version is gone")
    judged = known.verdict(version, entry.content)
    if current is not None and current.smoke and judged is not None \
            and judged.cases in (verdicts.cases_key(current.smoke), verdict_key(current)):  # (judged with evals too)
        return Cases(current.smoke, "the manifests (the cases it was written with)")
    revision = str(entry.content.metadata.get(REVISION_KEY) or "")
    source = str(entry.content.metadata.get(SOURCE_KEY) or "")
    if revision and not revision.endswith("-dirty") and source:
        found = _at_revision(ws, revision, source, state.content.metadata.get(NAME_KEY) or "")
        if found is not None:
            return Cases(found, f"{source} at {revision[:12]}")
    if current is not None and current.smoke and judged is None:
        return Cases((), f"none: the manifests' cases are not the ones v{version} was written with, and git has no copy")
    return Cases((), "none recorded for it")


def _at_revision(ws: Workspace, revision: str, source: str, name: str) -> tuple[SmokeCase, ...] | None:
    """The smoke cases of manifest ``name`` in ``source`` at git ``revision`` (None: not found there)."""
    try:
        shown = subprocess.run(["git", "-C", ws.settings.root, "show", f"{revision}:{source}"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if shown.returncode != 0:
        return None
    try:
        found = load_text(shown.stdout, source, LoadOptions(values=ws.spec.values, root=ws.settings.root,
                                                            unset_is_warning=True))
    except InvalidInput:
        return None
    return next((tuple(m.manifest.spec.smoke) for m in found if m.name == name), None)


@dataclass(frozen=True)
class RollbackResult:
    name: str
    from_version: int
    to_version: int
    #: The version now active: ``to_version``, or a new version with its content (a server
    #: whose set-latest would not restore all of it); after failed cases, the content of
    #: ``from_version`` again.
    active: int
    cases: Cases
    suite: SuiteResult | None = None
    #: The manifests ask for the restored content already: git and the target agree, and no
    #: watch holds anything.
    as_declared: bool = False

    @property
    def failed(self) -> bool:
        return self.suite is not None and not self.suite.ok


async def roll_back(ws: Workspace, target: Target, state: AssistantState, to: int, *, run_cases: bool) -> RollbackResult:
    """Restore version ``to`` of ``state``, note the rollback, and run the version's own cases:
    when they fail, what was active is restored (and ``to`` recorded as failed by them)."""
    name = str(state.content.metadata.get(NAME_KEY) or state.assistant_id)
    known = await verdicts.read_one(target, state)
    current = next(iter(d for d in declared(ws, name) if d.assistant_id == state.assistant_id), None)
    cases = cases_in_force(ws, state, known, to, current)
    entry = state.version_entry(to)
    assert entry is not None
    as_declared = current is not None and same_content(current.content, entry.content)
    restored = await restore_version(target, state.assistant_id, to, name)
    await verdicts.note_rollback(target, state.assistant_id, state.version, state.content, to)
    if not run_cases or not cases.cases:
        return RollbackResult(name, state.version, to, restored.version, cases, as_declared=as_declared)
    sensitive = current.sensitive if current is not None else frozenset()
    suite = await run_suite(target, [(name, state.assistant_id, list(cases.cases))],
                            secrets={name: secrets_of(sensitive, state.content, restored.content)})
    passed = suite.ok
    await verdicts.record(target, state.assistant_id, restored.version, entry.content,
                          verdicts.PASSED if passed else verdicts.FAILED, verdicts.cases_key(cases.cases))
    if passed:
        return RollbackResult(name, state.version, to, restored.version, cases, suite, as_declared)
    back = await restore_version(target, state.assistant_id, state.version, name)
    await verdicts.carry(target, state.assistant_id, state.version, back.version)
    await verdicts.clear_rollback(target, state.assistant_id)  # (nothing is rolled back any more)
    return RollbackResult(name, state.version, to, back.version, cases, suite)
