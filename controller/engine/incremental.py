"""The last good manifests of a watch, file by file, so a pass after an edit re-loads only
the files that changed and those that depend on them.

Why per file: a full load of 10,000 manifests (walk, parse, validate, desire) costs far
more than the edit that triggered it. A watch keeps what each file last gave while the
whole set was valid; an incremental pass re-loads the changed files, puts their entries
in place of the old ones and still runs the checks across files (duplicate names and
assistant ids) on the merged set, so a duplicate introduced by the edit is an error as
it would be on a full load. Assistants whose manifest is gone (a file removed, or a
document removed from a file) come back as ``removed`` ids for the plan to delete with
``--prune``. Nothing here is kept until :meth:`ManifestSet.commit`: a pass whose plan
fails leaves the last good set in force.

A file also changes what other files mean: a prompt file is re-read by the manifests that
read it, and a Defaults document by the assistants it selects (before or after the edit).
Those files are re-loaded too, and of them only the assistants whose content changed are
planned: an edit of a prompt file used by ten assistants plans those ten. A prompt file or
a Defaults document nothing uses changes nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from controller.config.defaults import DefaultsDoc, DefaultsSet
from controller.config.defaultsload import defaults_set, load_defaults
from controller.config.dependencies import prompt_paths, selection_changed
from controller.config.files import YAML_SUFFIXES, FoundFile, find_files, no_manifests
from controller.config.loaded import FileKey, FileLoads, FileText, LoadedManifest, LoadOptions
from controller.config.loader import duplicates, load_texts, read_files
from controller.config.settings import git_revision
from controller.core.errors import InvalidInput
from controller.engine.desired import Desired, desired_state
from controller.engine.pipeline import Workspace


class Entry(NamedTuple):
    """One file of the last good set: as found (path, named explicitly), and what it gave."""

    path: str
    explicit: bool
    manifests: list[LoadedManifest]
    desired: list[Desired]
    #: Its dependencies (None: loaded without a store).
    key: FileKey | None = None
    defaults: tuple[DefaultsDoc, ...] = ()
    #: The prompt files it reads (absolute paths).
    reads: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Loaded:
    """The manifests as they are now: the whole set per file, and what this load re-read."""

    #: absolute path → its entry, in find order.
    files: Mapping[str, Entry]
    #: Desired state to plan: of the files this load re-read (all of them on a full load),
    #: but of a file re-read for its dependencies only the assistants whose content changed.
    changed: list[Desired]
    #: Assistant ids the re-read or vanished files declared before and no file declares now.
    removed: list[str]
    defaults: DefaultsSet = field(default_factory=DefaultsSet)

    def desired(self) -> list[Desired]:
        return [d for entry in self.files.values() for d in entry.desired]


class ManifestSet:
    def __init__(self) -> None:
        self.files: Mapping[str, Entry] | None = None
        self.defaults = DefaultsSet()

    @property
    def ready(self) -> bool:
        """Is there a last good set to update? (Otherwise a pass must load everything.)"""
        return self.files is not None

    def concerns(self, path: str) -> bool:
        """Does a change to ``path`` (absolute) matter to the last good set? A manifest, a prompt
        file it reads, or a folder of its files (moved away); not a graph's source or an editor's
        swap file."""
        files = self.files or {}
        if path.endswith(YAML_SUFFIXES) or path in files or os.path.isdir(path):
            return True
        return any(path in entry.reads for entry in files.values()) or any(key.startswith(path + os.sep) for key in files)

    def load(self, ws: Workspace, changed: Collection[str] | None = None) -> Loaded:
        """Every file under ``ws.paths``, re-reading only ``changed`` (absolute paths), what depends
        on them and files not seen before; ``None``: re-read all. Raises InvalidInput like a full load."""
        old = self.files if changed is not None and self.files is not None else {}
        wanted = set(changed or ())
        wanted |= {key for key in old for p in wanted if key.startswith(p + os.sep)}  # a folder moved or removed
        found = _found(ws, old, {p for p in wanted if p.endswith(YAML_SUFFIXES) or p in old or os.path.isdir(p)})
        reread = {key for key in found if key in wanted or key not in old}
        reread |= {key for key, entry in old.items() if entry.reads & wanted and key in found}
        store = ws.open_store()
        options = ws.load_options(store=store)
        texts = read_files([found[key] for key in found if key in reread], options)
        kept = {key: old[key].defaults for key in found if key in old and key not in reread}
        by_file, defaults = _defaults(texts, kept, options)
        options = dataclasses.replace(options, defaults=defaults)
        if old and not defaults.same_as(self.defaults):  # the assistants they select, before or after
            selected = {key for key in found if key not in reread and key in old
                        and _selected(old[key].key, self.defaults, defaults, options)}
            texts += read_files([found[key] for key in found if key in selected], options)
            reread |= selected
        loads = load_texts(texts, options)
        if changed is None:
            # Kept for the next process; rewriting all of it for one edited file would cost more
            # than the edit (the next full pass writes it).
            store.save()
        return self._merge(ws, old, found, loads, wanted, options, by_file)

    def _merge(self, ws: Workspace, old: Mapping[str, Entry], found: Mapping[str, FoundFile], loads: FileLoads,
               wanted: set[str], options: LoadOptions, by_file: Mapping[str, tuple[DefaultsDoc, ...]]) -> Loaded:
        fresh = {os.path.abspath(path): items for path, items in loads.files.items()}
        keys = {os.path.abspath(path): key for path, key in loads.keys.items()}
        loaded = [m for key in found for m in (fresh[key] if key in fresh else old[key].manifests)]
        problems = [*loads.problems, *duplicates(loaded)]
        if not loaded:
            problems.append(no_manifests(ws.paths))
        if problems:
            raise InvalidInput(problems)
        revision = git_revision(ws.settings.root, [m.file for items in fresh.values() for m in items])
        owner = ws.settings.owner
        files = {key: Entry(path, explicit, fresh[key], [desired_state(m, owner, revision) for m in fresh[key]],
                            keys.get(key), by_file.get(key, ()), _reads(keys.get(key), path, options))
                 if key in fresh else old[key] for key, (path, explicit, _) in found.items()}
        changed_desired = [d for key in fresh for d in _to_plan(files[key], old.get(key) if key not in wanted else None)]
        gone = [key for key in old if key not in files]
        before = {d.assistant_id for key in [*fresh, *gone] if key in old for d in old[key].desired}
        now = {d.assistant_id for key in fresh for d in files[key].desired}
        return Loaded(files, changed_desired, sorted(before - now), loads.defaults)

    def last_good(self, paths: Collection[str]) -> list[Desired]:
        """The desired state the last good set has for ``paths``."""
        files = self.files or {}
        return [d for p in sorted(paths) if p in files for d in files[p].desired]

    def commit(self, loaded: Loaded) -> None:
        """``loaded`` planned: it is the last good set now."""
        self.files = loaded.files
        self.defaults = loaded.defaults


def _found(ws: Workspace, old: Mapping[str, Entry], yaml: set[str]) -> dict[str, FoundFile]:
    """The files under the PATHs by absolute path, in find order: without a walk when the changed
    YAML files are known or gone (10,000 manifests are 2,500 files to stat)."""
    if old and all(p in old or not os.path.exists(p) for p in yaml):
        return {key: FoundFile(entry.path, entry.explicit) for key, entry in old.items()
                if key not in yaml or os.path.exists(key)}
    # a new file: found where a full load finds it (its place decides which duplicate is reported)
    return {os.path.abspath(f.path): f for f in find_files(ws.paths, ws.settings.root)}


def _defaults(texts: list[FileText], kept: Mapping[str, tuple[DefaultsDoc, ...]],
              options: LoadOptions) -> tuple[dict[str, tuple[DefaultsDoc, ...]], DefaultsSet]:
    """The Defaults in force, by file and as a set: the re-read files' as they are now, the others' as they were."""
    loads = load_defaults(texts, options)
    by_file = {**kept, **{os.path.abspath(p): docs for p, docs in loads.files.items()}}
    return by_file, defaults_set(by_file, loads)


def _selected(key: FileKey | None, before: DefaultsSet, after: DefaultsSet, options: LoadOptions) -> bool:
    """Do the Defaults an unchanged file's assistants take differ now? (Without its key: say yes.)"""
    if key is None:
        return True
    return any(selection_changed(before, after, dep.name, options) for dep in key.dependencies if dep.kind == "defaults")


def _reads(key: FileKey | None, path: str, options: LoadOptions) -> frozenset[str]:
    if key is None:
        return frozenset()
    root = os.path.abspath(options.root or ".")
    base = os.path.dirname(os.path.relpath(os.path.abspath(path), root))
    return frozenset(os.path.join(root, p) for p in prompt_paths(key.dependencies, base, options))


def _to_plan(entry: Entry, before: Entry | None) -> list[Desired]:
    """What of a re-read file to plan: all of it when it was edited or is new (``before`` None);
    else (re-read for a prompt file or a Defaults edit) the assistants whose content changed."""
    if before is None:
        return entry.desired
    was = {d.assistant_id: (d.content_hash, d.pin) for d in before.desired}
    return [d for d in entry.desired if was.get(d.assistant_id) != (d.content_hash, d.pin)]
