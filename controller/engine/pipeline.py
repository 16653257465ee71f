"""The steps every command shares: settings → manifests → desired → observe → plan.

`plan`, `apply`, `watch`, `test` and the other commands all go through here, so a
plan and a watch pass compute the same plan for the same inputs. Carrying a plan out
is apply.py's job (:func:`controller.engine.apply.apply_plan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controller.config.files import find_files
from controller.config.loader import (
    FileKey,
    FileLoads,
    FileText,
    LoadedManifest,
    LoadOptions,
    duplicates,
    file_digest,
    load_manifests,
    load_texts,
    read_files,
)
from controller.config.settings import CONFIG_NAMES, Settings, TargetSpec, git_revision, load_settings
from controller.config.store import LoadStore, text_key
from controller.core.content import CANDIDATE_KEY, SOURCE_KEY
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path
from controller.engine.apply import ApplyResult
from controller.engine.desired import MEMO, Declaration, Desired, desired_state
from controller.engine.observe import StartupReads, observe, observe_some, startup_reads
from controller.engine.plan import Change, Plan, make_plan
from controller.engine.synced import SyncedFile, SyncMemo, SyncRecord, graphs_key, synced_file
from controller.targets.base import Target


def parse_selector(selector: str | None) -> dict[str, str]:
    """``team=content,tier=gold`` → {"team": "content", "tier": "gold"}."""
    out: dict[str, str] = {}
    for part in (selector or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInput([Problem(message=f"invalid selector {part!r}: use key=value[,key=value]")])
        out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class Scope:
    """What a plan covers: a label selector, and whether undeclared owned assistants go."""

    selector: Mapping[str, str] = field(default_factory=dict)
    prune: bool = False
    adopt: bool = False


def _refuse_a_project_below(paths: list[str]) -> None:
    """A PATH that holds its own controller.yaml, used from outside it, would plan that
    project under another root and owner (duplicates on a server): say how to use it."""
    for path in paths:
        found = [os.path.join(path, n) for n in CONFIG_NAMES if os.path.isfile(os.path.join(path, n))]
        if found:
            raise InvalidInput([Problem(message=(
                f"{display_path(found[0])} is not used: the project root comes from the current directory, never "
                f"from PATH; run from {display_path(path)}/, or pass --config {display_path(found[0])}"))])


@dataclass
class Workspace:
    """Where the manifests are, who owns what they make, and which target they go to."""

    paths: list[str]
    settings: Settings
    spec: TargetSpec
    #: Loaded files kept across loads (a watch keeps one for its life); None: each load opens
    #: the project's store and saves what it added.
    store: LoadStore | None = None

    @classmethod
    def load(cls, paths: list[str], *, config: str | None = None, target: str | None = None,
             url: str | None = None, concurrency: int | None = None, owner: str | None = None,
             cwd: str | None = None, cache_dir: str | None = None) -> Workspace:
        """The project as seen from ``cwd`` (root, owner, target); ``paths`` only select manifests.

        Raises OwnerRequired for a remote target without an explicit owner, before any request.
        """
        paths = paths or ["."]
        settings = load_settings(config, cwd=cwd, owner=owner, cache_dir=cache_dir)
        if settings.config_file is None:
            _refuse_a_project_below(paths)
        spec = settings.target(target, url, concurrency=concurrency)
        settings.require_owner(spec)
        return cls(paths, settings, spec)

    def open_store(self) -> LoadStore:
        """The store loads go through: the kept one, or the project's (``<root>/.controller/cache``)."""
        if self.store is not None:
            return self.store
        return LoadStore(self.spec.cache_dir or self.settings.cache_dir)

    def load_options(self, environ: Mapping[str, str] | None = None, *, unset_is_warning: bool = False,
                     store: LoadStore | None = None) -> LoadOptions:
        return LoadOptions(values=self.spec.values, environ=environ, root=self.settings.root,
                           unset_is_warning=unset_is_warning, store=store)

    def manifests(self, environ: Mapping[str, str] | None = None, *, require: bool = True,
                  unset_is_warning: bool = False, store: LoadStore | None = None) -> FileLoads:
        """The valid manifests under the paths. ``require``: none at all is an error, so a
        wrong path in CI fails instead of planning "No changes". ``store``: the caller's (it
        saves it); else what this load adds is saved here."""
        into = store or self.open_store()
        loads = load_manifests(self.paths, self.load_options(environ, unset_is_warning=unset_is_warning, store=into))
        if require and not loads.manifests:
            raise InvalidInput([Problem(message=f"no manifests found under {' '.join(self.paths)}")])
        if store is None and into is not self.store:
            into.save()
        return loads

    def desired(self, selector: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None,
                *, require: bool = True) -> list[Desired]:
        store = self.open_store()
        loaded = self.manifests(environ, require=require, store=store).manifests
        revision = git_revision(self.settings.root, [m.file for m in loaded])
        memo = store.memo(MEMO)
        items = [desired_state(m, self.settings.owner, revision, memo) for m in loaded]
        if store is not self.store:
            store.save()
        if selector:
            items = [d for d in items if all(d.labels.get(k) == v for k, v in selector.items())]
        return items


async def compute_plan(ws: Workspace, target: Target, desired: list[Desired], scope: Scope = Scope(),
                       reads: asyncio.Future[StartupReads] | None = None) -> Plan:
    """Observe the target and plan ``desired`` against it (raises InvalidInput, writes nothing).

    ``reads``: the target's start-up reads, when the caller started them already."""
    if scope.prune and scope.selector:
        raise InvalidInput([Problem(message="--prune with -l would delete assistants outside the selection; prune without a selector")])
    if scope.prune and not desired:
        raise InvalidInput([Problem(message="--prune refused: no manifest was loaded, so every owned assistant would be deleted")])
    seen = await observe(target, desired, ws.settings.owner, reads)
    plan = make_plan(
        desired, seen.assistants, seen.owned, seen.graphs, owner=ws.settings.owner,
        target=ws.spec.label, profile=target.profile, prune=scope.prune, adopt=scope.adopt,
        others=seen.others,
    )
    _refuse_deleting_what_is_still_written(ws, plan)
    return dataclasses.replace(plan, owner_source=ws.settings.owner_source)


def _refuse_deleting_what_is_still_written(ws: Workspace, plan: Plan) -> None:
    """No prune of an assistant whose manifest file (its ``controller/source``) is still under the
    PATHs and still holds a document with its name: that document failed to be read as a
    manifest (a typo), and deleting the assistant would be the wrong answer to a typo."""
    deletes = [c for c in plan.changes if c.action == "delete" and c.before is not None]
    if not deletes:
        return
    under = [os.path.abspath(p) for p in ws.paths]
    problems = []
    for change in deletes:
        assert change.before is not None
        source = str(change.before.metadata.get(SOURCE_KEY) or "")
        path = os.path.abspath(os.path.join(ws.settings.root, source)) if source else ""
        if not path or not any(path == p or path.startswith(p + os.sep) for p in under) or not os.path.isfile(path):
            continue
        if _names_in(path) & {change.name}:
            problems.append(Problem(file=display_path(path), path="metadata.name", message=(
                f"{change.name!r} would be deleted, but this file still holds a document named {change.name!r} "
                "that is not read as a manifest (check its apiVersion and kind); fix it, or remove the document")))
    if problems:
        raise InvalidInput(problems)


def _names_in(path: str) -> set[str]:
    """``metadata.name`` of every YAML document in the file, whatever its kind (none when unreadable)."""
    from controller.config.yamlio import YamlError, load_documents, read_text

    try:
        docs = load_documents(read_text(path))
    except (OSError, YamlError):
        return set()
    return {str(d.data["metadata"]["name"]) for d in docs
            if isinstance(d.data, dict) and isinstance(d.data.get("metadata"), dict) and "name" in d.data["metadata"]}


async def compute_partial_plan(ws: Workspace, target: Target, desired: list[Desired], removed: list[str],
                               scope: Scope = Scope()) -> Plan:
    """Plan only ``desired`` and the ``removed`` ids (declared before, no longer: deleted only
    with ``scope.prune``), reading just those assistants: a watch pass after an edit to a few
    files. Assistants outside them are left to the next full pass (as drift and orphans are)."""
    seen = await observe_some(target, desired, removed if scope.prune else [], ws.settings.owner)
    plan = make_plan(
        desired, seen.assistants, seen.owned, seen.graphs, owner=ws.settings.owner,
        target=ws.spec.label, profile=target.profile, prune=scope.prune,
    )
    _refuse_deleting_what_is_still_written(ws, plan)
    return dataclasses.replace(plan, owner_source=ws.settings.owner_source)


async def plan_workspace(ws: Workspace, target: Target, scope: Scope = Scope()) -> Plan:
    """The manifests under ``ws`` planned against ``target``."""
    return (await plan_with_basis(ws, target, scope))[0]


async def plan_with_basis(ws: Workspace, target: Target, scope: Scope = Scope(), *,
                          record: bool = True) -> tuple[Plan, PlanBasis | None]:
    """The plan, and what it was made from (None: the target cannot tell its generation),
    for :func:`record_applied` to record what an apply of it leaves in sync. ``record``:
    record the files this plan found in sync (an apply records after its writes instead).

    Files whose digest and target generation equal what the last plan recorded
    (engine/synced.py) are noops without being loaded or read; everything else is planned
    as a full plan would. Prunes, selectors and adoptions plan everything."""
    generation = None if scope.prune or scope.selector or scope.adopt else await target.generation()
    if generation is None:
        return await _plan_everything(ws, target, scope), None
    return await _plan_since(ws, target, generation, record)


async def _plan_everything(ws: Workspace, target: Target, scope: Scope) -> Plan:
    """The target's start-up reads go out first and the manifests are parsed in a worker
    thread meanwhile: a server 20 ms away answers while the CPU parses, instead of after.
    A manifest error still wins over a server error (the reads are awaited second)."""
    reads = asyncio.ensure_future(startup_reads(target, ws.settings.owner))
    try:
        desired = await asyncio.to_thread(ws.desired, scope.selector)
        return await compute_plan(ws, target, desired, scope, reads)
    finally:
        reads.cancel()  # a no-op once they are done; refused or failed before them: not wanted
        if reads.done() and not reads.cancelled():
            with contextlib.suppress(Exception):
                reads.exception()  # retrieved: a failure nobody waited for is not logged at exit


@dataclass(frozen=True)
class BasisFile:
    """A manifest file as a plan found it: its key, and (name, assistant id, claims id, line)
    of each manifest it declares."""

    path: str
    key: FileKey
    manifests: tuple[tuple[str, str, bool, int], ...]


@dataclass(frozen=True)
class PlanBasis:
    """What a plan was made from, on a target that has generations: enough to record which
    files an apply of it leaves in sync (:func:`record_applied`)."""

    generation: str
    graphs: str
    candidates: bool
    files: tuple[BasisFile, ...]


async def _plan_since(ws: Workspace, target: Target, generation: str, record_it: bool) -> tuple[Plan, PlanBasis]:
    store = ws.open_store()
    options = ws.load_options(store=store)
    owner = ws.settings.owner
    graphs = await target.graphs()
    memo = SyncMemo(store, ws.spec.label, owner)
    record = memo.load(generation, graphs_key(graphs))
    texts = read_files(find_files(ws.paths, ws.settings.root), options)
    hits = {t.path: f for t in texts if (f := _still_synced(record, t, options)) is not None}
    loads = load_texts([t for t in texts if t.path not in hits], options)
    if hits and _collides(hits.values(), loads.manifests):  # the full load reports it, at its lines
        hits, loads = {}, load_texts(texts, options)
    loaded = loads.manifests
    loads.problems.extend(duplicates(loaded))
    if not hits and not loaded:
        loads.problems.append(Problem(message=f"no manifests found under {' '.join(ws.paths)}"))
    if loads.problems:
        raise InvalidInput(loads.problems)
    revision = git_revision(ws.settings.root, [m.file for m in loaded])
    desired = [desired_state(m, owner, revision, store.memo(MEMO)) for m in loaded]
    if store is not ws.store:
        store.save()
    seen = await (observe_some(target, desired, [], owner) if record is not None else observe(target, desired, owner))
    candidates = record.candidates if record is not None else any(CANDIDATE_KEY in s.content.metadata for s in seen.owned)
    planned = make_plan(desired, seen.assistants, seen.owned, graphs, owner=owner, target=ws.spec.label,
                        profile=target.profile, others=seen.others)
    by_id = {c.assistant_id: c for c in planned.changes}
    spans = _spans(loads)
    changes: list[Change] = []
    basis: list[BasisFile] = []
    for text in texts:
        if text.path in hits:
            entry = hits[text.path]
            changes += [Change("noop", Declaration(m.name, m.assistant_id, f"{text.shown}:{m.line}"), seen_version=m.version)
                        for m in entry.manifests]
            basis.append(BasisFile(text.path, entry.key, tuple((m.name, m.assistant_id, m.claims_id, m.line)
                                                              for m in entry.manifests)))
        elif text.path in loads.keys:
            span = spans[text.path]
            changes += [by_id[desired[i].assistant_id] for i in span]
            basis.append(BasisFile(text.path, loads.keys[text.path], tuple(
                (desired[i].name, desired[i].assistant_id, bool(loaded[i].view.assistant_id), loaded[i].line)
                for i in span)))
    plan = dataclasses.replace(planned, changes=tuple(changes), owner_source=ws.settings.owner_source)
    found = PlanBasis(generation, graphs_key(graphs), candidates, tuple(basis))
    if record_it:
        _record(memo, found, {c.assistant_id: c.seen_version for c in plan.changes if c.action == "noop" and not c.warnings}
                if not plan.warnings else {})
    return plan, found


def _spans(loads: FileLoads) -> dict[str, range]:
    """Where each file's manifests are in ``loads.manifests`` (files keep their order)."""
    spans, start = {}, 0
    for path, items in loads.files.items():
        spans[path] = range(start, start + len(items))
        start += len(items)
    return spans


def _still_synced(record: SyncRecord | None, text: FileText, options: LoadOptions) -> SyncedFile | None:
    """The file's record, when the file still has the text and dependencies it was recorded with."""
    entry = record.files.get(os.path.abspath(text.path)) if record is not None and text.text is not None else None
    if entry is None or text.text is None or text_key(text.text) != entry.key.text_key:
        return None
    return entry if file_digest(text.text, entry.key.dependencies, options) == entry.key.digest else None


def _collides(hits: Iterable[SyncedFile], loaded: list[LoadedManifest]) -> bool:
    """Does a name or a claimed id occur twice among the recorded files and the loaded ones?"""
    names: set[str] = set()
    ids: set[str] = set()
    entries = [(m.name, m.assistant_id if m.claims_id else None) for f in hits for m in f.manifests]
    entries += [(m.name, m.view.assistant_id.lower() if m.view.assistant_id else None) for m in loaded]
    for name, claimed in entries:
        if name in names or (claimed and claimed in ids):
            return True
        names.add(name)
        if claimed:
            ids.add(claimed)
    return False


def _record(memo: SyncMemo, basis: PlanBasis, versions: Mapping[str, int | None], candidates: bool | None = None) -> None:
    """Record the files of ``basis`` whose every assistant is in sync at a known version."""
    files = {}
    for f in basis.files:  # (a file that declares nothing, other YAML say, is in sync too)
        found = [versions.get(aid) for _, aid, _, _ in f.manifests]
        known = [v for v in found if v is not None]
        if len(known) == len(found):
            files[os.path.abspath(f.path)] = synced_file(f.key, [(name, aid, claims, line, v)
                                                                 for (name, aid, claims, line), v in zip(f.manifests, known, strict=True)])
    memo.save(SyncRecord(basis.generation, basis.graphs, basis.candidates if candidates is None else candidates, files))


async def record_applied(ws: Workspace, target: Target, basis: PlanBasis | None, plan: Plan,
                         result: ApplyResult) -> None:
    """After an apply that held the target's lock: record the files it left in sync, at the
    generation its writes brought the target to (no one else wrote: the lock)."""
    if basis is None:
        return
    generation = await target.generation()
    if generation is None:
        return
    versions = {c.assistant_id: c.seen_version for c in plan.changes if c.action == "noop" and not c.warnings}
    for outcome in result.outcomes:
        if outcome.status == "applied" and outcome.change.action != "delete" and not outcome.change.warnings:
            versions[outcome.change.assistant_id] = outcome.version
    memo = SyncMemo(ws.open_store(), ws.spec.label, ws.settings.owner)
    _record(memo, dataclasses.replace(basis, generation=generation), versions if not plan.warnings else {},
            candidates=basis.candidates and bool(result.errors))


async def status_plan(ws: Workspace, target: Target, desired: list[Desired]) -> Plan:
    """``desired`` planned with prune semantics (owned, undeclared → delete) but none of the
    prune safety checks: `controller status` only reads, so listing orphans is always safe."""
    seen = await observe(target, desired, ws.settings.owner)
    return make_plan(
        desired, seen.assistants, seen.owned, seen.graphs, owner=ws.settings.owner,
        target=ws.spec.label, profile=target.profile, prune=True,
    )
