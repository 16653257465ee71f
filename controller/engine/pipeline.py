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
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.config.files import no_manifests
from controller.config.loader import (
    FileLoads,
    LoadOptions,
    load_manifests,
)
from controller.config.promptfiles import PromptFiles
from controller.config.settings import CONFIG_NAMES, Settings, TargetSpec, git_revision, load_settings
from controller.config.store import LoadStore
from controller.core.content import SOURCE_KEY
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path
from controller.engine.desired import MEMO, Desired, desired_state
from controller.engine.observe import StartupReads, observe, observe_some, others_named, startup_reads
from controller.engine.plan import Plan, make_plan
from controller.engine.synced import PlanBasis, plan_since
from controller.evals.checks import eval_problems
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
             cwd: str | None = None, cache_dir: str | None = None, require_owner: bool = True) -> Workspace:
        """The project as seen from ``cwd`` (root, owner, target); ``paths`` only select manifests.

        Raises OwnerRequired for a remote target without an explicit owner, before any request
        (unless ``require_owner`` is False: a command that sends none, such as render).
        """
        paths = paths or ["."]
        settings = load_settings(config, cwd=cwd, owner=owner, cache_dir=cache_dir)
        if settings.config_file is None:
            _refuse_a_project_below(paths)
        spec = settings.target(target, url, concurrency=concurrency)
        if require_owner:
            settings.require_owner(spec)
        return cls(paths, settings, spec)

    def open_store(self) -> LoadStore:
        """The store loads go through: the kept one, or the project's (``<root>/.controller/cache``)."""
        if self.store is not None:
            return self.store
        return LoadStore(self.spec.cache_dir or self.settings.cache_dir)

    def load_options(self, *, unset_is_warning: bool = False, store: LoadStore | None = None) -> LoadOptions:
        return LoadOptions(values=self.spec.values, root=self.settings.root,
                           unset_is_warning=unset_is_warning, store=store, prompts=PromptFiles(self.settings.root))

    def manifests(self, *, require: bool = True, unset_is_warning: bool = False,
                  store: LoadStore | None = None) -> FileLoads:
        """The valid manifests under the paths. ``require``: none at all is an error, so a
        wrong path in CI fails instead of planning "No changes". ``store``: the caller's (it
        saves it); else what this load adds is saved here."""
        into = store or self.open_store()
        loads = load_manifests(self.paths, self.load_options(unset_is_warning=unset_is_warning, store=into))
        if require and not loads.manifests:
            raise InvalidInput([no_manifests(self.paths)])
        if problems := eval_problems(loads.manifests, self.settings.root):  # datasets, judges, python files
            raise InvalidInput(problems)
        if store is None and into is not self.store:
            into.save()
        return loads

    def desired(self, selector: Mapping[str, str] | None = None, *, require: bool = True) -> list[Desired]:
        store = self.open_store()
        loaded = self.manifests(require=require, store=store).manifests
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
        others=await others_named(target, desired, seen.assistants, ws.settings.owner),
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
    return await plan_since(ws, target, generation, record)


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


async def status_plan(ws: Workspace, target: Target, desired: list[Desired]) -> Plan:
    """``desired`` planned with prune semantics (owned, undeclared → delete) but none of the
    prune safety checks: `controller status` only reads, so listing orphans is always safe."""
    seen = await observe(target, desired, ws.settings.owner)
    return make_plan(
        desired, seen.assistants, seen.owned, seen.graphs, owner=ws.settings.owner,
        target=ws.spec.label, profile=target.profile, prune=True,
    )
