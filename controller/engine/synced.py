"""What the last plan of an owner on a target found in sync, so the next one need not look again.

A no-op plan of 10,000 manifests loads, reads and compares every one of them, and a CI job
that runs it again (or an apply after a one-line edit) finds nearly all of them as they
were. Two cheap facts say when that is certain: the target's *generation* (the embedded
file says in one read whether anything was written since) and each manifest file's
*digest* (its text and what its variables, prompt files and Defaults resolve to). When both equal what a plan
recorded, that file's assistants are noops at the versions that plan saw, and only the
other files are loaded, read from the target and planned.

A record is a shortcut to the answer the full plan gives, never a second opinion: a file
is recorded only when every assistant it declares was a noop without a warning, and a
record made for another generation or other graphs is not used. Prunes, selectors and
adoptions plan everything. Kept in the project's load store (``synced.json``); deleting it
changes no result.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from controller.config.defaultsload import MARK as DEFAULTS_MARK
from controller.config.files import FoundFile, find_files, no_manifests
from controller.config.loader import (
    FileKey,
    FileLoads,
    FileText,
    LoadedManifest,
    LoadOptions,
    PathNames,
    digest_of_key,
    duplicates,
    file_digest,
    load_texts,
    read_files,
    with_defaults,
)
from controller.config.settings import git_revision
from controller.config.store import Dependency, LoadStore, text_key
from controller.core.content import CANDIDATE_KEY
from controller.core.errors import InvalidInput
from controller.engine.apply import ApplyResult
from controller.engine.desired import MEMO as DESIRED_MEMO
from controller.engine.desired import Declaration, desired_state
from controller.engine.observe import observe, observe_some, others_named
from controller.engine.plan import Change, Plan, make_plan
from controller.evals.checks import eval_problems
from controller.targets.base import GraphInfo, Target

if TYPE_CHECKING:
    from controller.engine.pipeline import Workspace

MEMO = "synced"


class SyncedManifest(NamedTuple):
    """One assistant a recorded file declares, as the plan saw it: a noop at ``version``.
    (Typed tuples: a record holds 10,000 of them, made and compared on every plan.)"""

    name: str
    assistant_id: str
    #: The manifest gives its id (``metadata.assistantId``): checked across files like its name.
    claims_id: bool
    #: The document's first line (the plan's ``source`` is ``file:line``).
    line: int
    version: int


class SyncedFile(NamedTuple):
    key: FileKey
    manifests: tuple[SyncedManifest, ...]
    #: (mtime ns, size, inode) when the file was read, if old enough to trust: an unchanged stat
    #: means an unchanged text, and the file is not read again (as git's index does).
    stat: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class SyncRecord:
    """What was in sync at ``generation`` of the target, given graphs whose schemas hash to ``graphs``."""

    generation: str
    graphs: str
    #: Owned smoke candidates (left by a killed apply) were on the target at that generation.
    candidates: bool
    #: By absolute path.
    files: Mapping[str, SyncedFile]


def graphs_key(graphs: Mapping[str, GraphInfo]) -> str:
    """A hash of what the planner checks manifests against: the graphs and their schemas."""
    parts = {g: [i.config_schema, i.context_schema, i.error, i.schema_error] for g, i in graphs.items()}
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def _encode_file(f: SyncedFile) -> dict[str, Any]:
    return {"text_key": f.key.text_key, "digest": f.key.digest, "stat": list(f.stat) if f.stat else None,
            "dependencies": [[d.kind, d.name] for d in f.key.dependencies],
            "manifests": [{"name": m.name, "assistant_id": m.assistant_id, "claims_id": m.claims_id,
                           "line": m.line, "version": m.version} for m in f.manifests]}


def _decode_file(f: Any) -> SyncedFile:
    deps = tuple(Dependency(kind, name) for kind, name in f["dependencies"])
    manifests = tuple(SyncedManifest(str(m["name"]), str(m["assistant_id"]), bool(m["claims_id"]), int(m["line"]),
                                     int(m["version"])) for m in f["manifests"])
    mtime, size, ino = (int(x) for x in f["stat"]) if f.get("stat") else (0, 0, 0)
    return SyncedFile(FileKey(str(f["text_key"]), deps, str(f["digest"])), manifests,
                      (mtime, size, ino) if f.get("stat") else None)


class SyncMemo:
    """The record of one owner on one target, in the project's store: a header (generation,
    graphs, each recorded file's digest) and one row per file, so an apply that changed one
    file rewrites that row and the header, not the record of 10,000 manifests."""

    def __init__(self, store: LoadStore, target: str, owner: str):
        self._table = store.memo(MEMO)
        self._key = f"{target}\0{owner}"
        self._store = store
        self._rows: dict[str, Any] = {}  # path → the row as loaded (or last saved)
        self._files: dict[str, SyncedFile] = {}  # path → the entry it decodes to

    def _row_key(self, path: str) -> str:
        return f"{self._key}\0{path}"

    def load(self, generation: str | None, graphs: str) -> SyncRecord | None:
        """The record, when it was made at this generation and with these graphs."""
        header = self._table.get(self._key)
        if header is None or generation is None:
            return None
        try:
            if header["generation"] != generation or header["graphs"] != graphs:
                return None
            digests: Mapping[str, str] = header["files"]
            prefix = self._row_key("")
            rows = {key[len(prefix):]: row for key, row in self._table.prefixed(prefix).items()}
            files = {}
            for path, digest in digests.items():
                row = rows.get(path)
                if isinstance(row, dict) and row.get("digest") == digest:  # (a stale row: not this record's)
                    files[path] = self._files[path] = _decode_file(row)
                    self._rows[path] = row
            return SyncRecord(str(header["generation"]), str(header["graphs"]), bool(header["candidates"]), files)
        except Exception:  # a damaged record: as if there were none
            return None

    def save(self, record: SyncRecord) -> None:
        """Keep ``record``: its header, and the rows of files whose entry changed."""
        for path, f in record.files.items():
            if self._files.get(path) == f:
                continue  # as loaded: not encoded again
            row = _encode_file(f)
            if self._rows.get(path) != row:
                self._table.put(self._row_key(path), row)
                self._rows[path], self._files[path] = row, f
        header = {"generation": record.generation, "graphs": record.graphs, "candidates": record.candidates,
                  "files": {path: f.key.digest for path, f in record.files.items()}}
        if self._table.get(self._key) != header:
            self._table.put(self._key, header)
        self._store.save()


#: A file changed this recently may change again within the file system's timestamp
#: granularity without its stat changing: its stat is not trusted (it is read next time).
RACY_S = 2.0


@dataclass(frozen=True)
class BasisFile:
    """A manifest file as a plan found it: its key, (name, assistant id, claims id, line) of
    each manifest it declares, its stat when old enough to trust, and its record when it was
    in sync (then nothing of it was loaded)."""

    path: str
    key: FileKey
    manifests: tuple[tuple[str, str, bool, int], ...]
    stat: tuple[int, int, int] | None = None
    synced: SyncedFile | None = None


@dataclass(frozen=True)
class PlanBasis:
    """What a plan was made from, on a target that has generations: enough to record which
    files an apply of it leaves in sync (:func:`record_applied`)."""

    generation: str
    graphs: str
    candidates: bool
    files: tuple[BasisFile, ...]
    #: The record it was planned from, as read (an apply updates it: only what changed is written).
    memo: SyncMemo = field(compare=False, repr=False)


async def plan_since(ws: Workspace, target: Target, generation: str, record_it: bool) -> tuple[Plan, PlanBasis]:
    """The plan of ``ws``, from the record where it still holds (see the module docstring)."""
    store = ws.open_store()
    options = ws.load_options(store=store)
    owner = ws.settings.owner
    graphs = await target.graphs()
    memo = SyncMemo(store, ws.spec.label, owner)
    record = memo.load(generation, graphs_key(graphs))
    found = find_files(ws.paths, ws.settings.root)
    hits, texts, options = _still_synced(record, found, options)
    loads = load_texts([t for t in texts if t.path not in hits], options)
    if hits and _collides(hits.values(), loads.manifests):  # the full load reports it, at its lines
        hits, texts = {}, read_files(found, options)
        loads = load_texts(texts, options)
    loaded = loads.manifests
    loads.problems.extend(duplicates(loaded))
    declared = {m.name for f in hits.values() for m in f.manifests} | {m.name for m in loaded}
    loads.problems.extend(eval_problems(loaded, ws.settings.root, declared))  # datasets, judges, python files
    if not hits and not loaded:
        loads.problems.append(no_manifests(ws.paths))
    if loads.problems:
        raise InvalidInput(loads.problems)
    revision = git_revision(ws.settings.root, [m.file for m in loaded])
    desired = [desired_state(m, owner, revision, store.memo(DESIRED_MEMO)) for m in loaded]
    if store is not ws.store:
        store.save()
    seen = await (observe_some(target, desired, [], owner) if record is not None else observe(target, desired, owner))
    candidates = record.candidates if record is not None else any(CANDIDATE_KEY in s.content.metadata for s in seen.owned)
    planned = make_plan(desired, seen.assistants, seen.owned, graphs, owner=owner, target=ws.spec.label,
                        profile=target.profile, others=await others_named(target, desired, seen.assistants, owner))
    marked = {t.path for t in texts if t.text is not None and DEFAULTS_MARK in t.text}
    changes, basis = _merge(found, hits, loads, desired, planned, PathNames(ws.settings.root), time.time(), marked)
    plan = dataclasses.replace(planned, changes=tuple(changes), owner_source=ws.settings.owner_source)
    made = PlanBasis(generation, graphs_key(graphs), candidates, tuple(basis), memo)
    if record_it:
        _record(memo, made, _noops(plan) if not plan.warnings else {})
    return plan, made


def _merge(found: list[FoundFile], hits: Mapping[str, SyncedFile], loads: FileLoads, desired: list[Any], planned: Plan,
           names: PathNames, now: float, marked: set[str]) -> tuple[list[Change], list[BasisFile]]:
    """The changes in file order (a recorded file's assistants as noops), and each file's basis.
    A file that holds Defaults documents (``marked``) gets no stat: it is read by every plan."""
    by_id = {c.assistant_id: c for c in planned.changes}
    loaded, spans, start = loads.manifests, {}, 0
    for path, items in loads.files.items():
        spans[path] = range(start, start + len(items))
        start += len(items)
    changes: list[Change] = []
    basis: list[BasisFile] = []
    for f in found:
        stat = f.stat if f.stat is not None and f.stat[0] / 1e9 < now - RACY_S and f.path not in marked else None
        if f.path in hits:
            entry = hits[f.path]
            where = names(f.path)[0]
            changes += [Change.noop(Declaration.of(m.name, m.assistant_id, f"{where}:{m.line}"), m.version)
                        for m in entry.manifests]
            basis.append(BasisFile(f.path, entry.key, tuple((m.name, m.assistant_id, m.claims_id, m.line)
                                                            for m in entry.manifests), stat or entry.stat, entry))
        elif f.path in loads.keys:
            span = spans[f.path]
            changes += [by_id[desired[i].assistant_id] for i in span]
            basis.append(BasisFile(f.path, loads.keys[f.path], tuple(
                (desired[i].name, desired[i].assistant_id, bool(loaded[i].view.assistant_id), loaded[i].line)
                for i in span), stat))
    return changes, basis


def _still_synced(record: SyncRecord | None, found: list[FoundFile],
                  options: LoadOptions) -> tuple[dict[str, SyncedFile], list[FileText], LoadOptions]:
    """The recorded files still in sync, the texts read, and ``options`` with the Defaults in force.

    A recorded file whose stat is unchanged is not read: its text is as recorded. Every other
    file is read, among them every file that holds Defaults documents (they get no stat), so
    the Defaults are known before any file's dependencies are resolved. A file is in sync when
    its dependencies (variables, prompt files, its Defaults) resolve as they did."""
    trusted = _unchanged(record, found)
    order = {f.path: i for i, f in enumerate(found)}
    texts = read_files([f for f in found if f.path not in trusted], options)
    options = with_defaults(texts, options)
    hits = {path: e for path, e in trusted.items()
            if digest_of_key(e.key.text_key, e.key.dependencies, options, _base(path, e, options)) == e.key.digest}
    texts += read_files([f for f in found if f.path in trusted and f.path not in hits], options)
    texts.sort(key=lambda t: order[t.path])
    hits.update({t.path: e for t in texts if t.path not in hits and (e := _same_text(record, t, options)) is not None})
    return hits, texts, options


def _base(path: str, entry: SyncedFile, options: LoadOptions) -> str:
    """The folder, from the root, of a file that reads prompt files (their paths are relative
    to it); "" for the others (no path to compute: most files read none)."""
    if not any(d.kind == "file" for d in entry.key.dependencies):
        return ""
    return os.path.dirname(os.path.relpath(os.path.abspath(path), os.path.abspath(options.root or ".")))


def _unchanged(record: SyncRecord | None, found: list[FoundFile]) -> dict[str, SyncedFile]:
    """Recorded files whose stat is what it was: their text is unchanged (not read again)."""
    if record is None:
        return {}
    hits: dict[str, SyncedFile] = {}
    for f in found:
        entry = record.files.get(_absolute(f.path))
        if entry is not None and entry.stat is not None and entry.stat == f.stat:
            hits[f.path] = entry
    return hits


def _same_text(record: SyncRecord | None, text: FileText, options: LoadOptions) -> SyncedFile | None:
    """The file's record, when the file still has the text and dependencies it was recorded with."""
    entry = record.files.get(_absolute(text.path)) if record is not None and text.text is not None else None
    if entry is None or text.text is None or text_key(text.text) != entry.key.text_key:
        return None
    return entry if file_digest(text, entry.key.dependencies, options) == entry.key.digest else None


def _collides(hits: Iterable[SyncedFile], loaded: list[LoadedManifest]) -> bool:
    """Does a loaded manifest's name or claimed id occur among the recorded files' (which had
    none twice among them when they were recorded together), or twice among the loaded?"""
    if not loaded:
        return False
    names = {m.name for f in hits for m in f.manifests}
    ids = {m.assistant_id for f in hits for m in f.manifests if m.claims_id}
    for m in loaded:
        claimed = m.view.assistant_id.lower() if m.view.assistant_id else None
        if m.name in names or (claimed and claimed in ids):
            return True
        names.add(m.name)
        if claimed:
            ids.add(claimed)
    return False


def _absolute(path: str) -> str:
    """A file's absolute path, as the record keys it (a plan and the record after the apply
    ask it of every file: made once per path and working directory)."""
    return _absolute_in(os.getcwd(), path)


@functools.cache
def _absolute_in(cwd: str, path: str) -> str:
    return os.path.normpath(os.path.join(cwd, path))


def _noops(plan: Plan) -> dict[str, int | None]:
    """The version of each assistant ``plan`` leaves as it is (a noop without a warning)."""
    return {c.assistant_id: c.seen_version for c in plan.changes if c.action == "noop" and not c.warnings}


def _record(memo: SyncMemo, basis: PlanBasis, versions: Mapping[str, int | None], candidates: bool | None = None) -> None:
    """Record the files of ``basis`` whose every assistant is in sync at a known version."""
    files = {}
    for f in basis.files:  # (a file that declares nothing, other YAML say, is in sync too)
        found = [versions.get(aid) for _, aid, _, _ in f.manifests]
        known = [v for v in found if v is not None]
        if len(known) != len(found):
            continue
        if f.synced is not None and all(m.version == v for m, v in zip(f.synced.manifests, known, strict=True)) \
                and f.synced.stat == f.stat:
            files[_absolute(f.path)] = f.synced  # as it was: not made (nor encoded) again
            continue
        files[_absolute(f.path)] = SyncedFile(f.key, tuple(
            SyncedManifest(name, aid, claims, line, v) for (name, aid, claims, line), v in zip(f.manifests, known, strict=True)),
            f.stat)
    memo.save(SyncRecord(basis.generation, basis.graphs, basis.candidates if candidates is None else candidates, files))


async def record_applied(target: Target, basis: PlanBasis | None, plan: Plan, result: ApplyResult) -> None:
    """After an apply that held the target's lock: record the files it left in sync, at the
    generation its writes brought the target to (no one else wrote: the lock)."""
    if basis is None:
        return
    generation = await target.generation()
    if generation is None:
        return
    versions = _noops(plan)
    for outcome in result.outcomes:
        if outcome.status == "applied" and outcome.change.action != "delete" and not outcome.change.warnings:
            versions[outcome.change.assistant_id] = outcome.version
    _record(basis.memo, dataclasses.replace(basis, generation=generation), versions if not plan.warnings else {},
            candidates=basis.candidates and bool(result.errors))
