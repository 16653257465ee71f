"""The last good manifests of a watch, file by file, so a pass after an edit re-loads only
the files that changed.

Why per file: a full load of 10,000 manifests (walk, parse, validate, desire) costs far
more than the edit that triggered it. A watch keeps what each file last gave while the
whole set was valid; an incremental pass re-loads the changed files, puts their entries
in place of the old ones and still runs the checks across files (duplicate names and
assistant ids) on the merged set, so a duplicate introduced by the edit is an error as
it would be on a full load. Assistants whose manifest is gone (a file removed, or a
document removed from a file) come back as ``removed`` ids for the plan to delete with
``--prune``. Nothing here is kept until :meth:`ManifestSet.commit`: a pass whose plan
fails leaves the last good set in force.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from controller.config.files import FoundFile, find_files
from controller.config.loader import LoadedManifest, duplicates, load_files
from controller.config.settings import git_revision
from controller.core.errors import InvalidInput, Problem
from controller.engine.desired import Desired, desired_state
from controller.engine.pipeline import Workspace


class Entry(NamedTuple):
    """One file of the last good set: as found (path, named explicitly), and what it gave."""

    path: str
    explicit: bool
    manifests: list[LoadedManifest]
    desired: list[Desired]


@dataclass(frozen=True)
class Loaded:
    """The manifests as they are now: the whole set per file, and what this load re-read."""

    #: absolute path → its entry, in find order.
    files: Mapping[str, Entry]
    #: Desired state of the files this load re-read (all of them on a full load).
    changed: list[Desired]
    #: Assistant ids the re-read or vanished files declared before and no file declares now.
    removed: list[str]

    def desired(self) -> list[Desired]:
        return [d for entry in self.files.values() for d in entry.desired]


class ManifestSet:
    def __init__(self) -> None:
        self.files: Mapping[str, Entry] | None = None

    @property
    def ready(self) -> bool:
        """Is there a last good set to update? (Otherwise a pass must load everything.)"""
        return self.files is not None

    def load(self, ws: Workspace, changed: Collection[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Loaded:
        """Every file under ``ws.paths``, re-reading only ``changed`` (absolute paths) and files
        not seen before; ``None``: re-read all. Raises InvalidInput like a full load."""
        root = ws.settings.root
        old = self.files if changed is not None and self.files is not None else {}
        wanted = set(changed or ())
        if old and all(p in old or not os.path.exists(p) for p in wanted):
            # edits and removals of known files: no walk (10,000 manifests are 2,500 files to stat)
            keys = [key for key in old if key not in wanted or os.path.exists(key)]
            found = [FoundFile(old[key].path, old[key].explicit) for key in keys]
        else:  # a new file: found where a full load finds it (its place decides which duplicate is reported)
            found = find_files(ws.paths, root)
            keys = [os.path.abspath(f.path) for f in found]
        reread = [f for f, key in zip(found, keys, strict=True) if key in wanted or key not in old]
        store = ws.open_store()
        loads = load_files(reread, ws.load_options(environ, store=store))
        if changed is None:
            # Kept for the next process; rewriting all of it for one edited file would cost more
            # than the edit (the next full pass writes it).
            store.save()
        fresh, problems = loads.files, loads.problems
        fresh = {os.path.abspath(path): items for path, items in fresh.items()}
        loaded = [m for key in keys for m in (fresh[key] if key in fresh else old[key].manifests)]
        problems.extend(duplicates(loaded))
        if not loaded:
            problems.append(Problem(message=f"no manifests found under {' '.join(ws.paths)}"))
        if problems:
            raise InvalidInput(problems)
        revision = git_revision(root, [m.file for items in fresh.values() for m in items])
        owner = ws.settings.owner
        files = {key: Entry(path, explicit, fresh[key], [desired_state(m, owner, revision) for m in fresh[key]])
                 if key in fresh else old[key] for (path, explicit, _), key in zip(found, keys, strict=True)}
        changed_desired = [d for key in fresh for d in files[key].desired]
        gone = [key for key in old if key not in files]
        before = {d.assistant_id for key in [*fresh, *gone] if key in old for d in old[key].desired}
        now = {d.assistant_id for d in changed_desired}
        return Loaded(files, changed_desired, sorted(before - now))

    def last_good(self, paths: Collection[str]) -> list[Desired]:
        """The desired state the last good set has for ``paths``."""
        files = self.files or {}
        return [d for p in sorted(paths) if p in files for d in files[p].desired]

    def commit(self, loaded: Loaded) -> None:
        """``loaded`` planned: it is the last good set now."""
        self.files = loaded.files
