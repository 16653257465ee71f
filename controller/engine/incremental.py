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

from controller.config.loader import LoadedManifest, duplicates, find_files, load_files
from controller.config.settings import git_revision
from controller.core.errors import InvalidInput, Problem
from controller.engine.desired import Desired, desired_state
from controller.engine.pipeline import Workspace


@dataclass(frozen=True)
class Loaded:
    """The manifests as they are now: the whole set per file, and what this load re-read."""

    #: absolute path → the file's valid manifests and their desired state, in find order.
    files: Mapping[str, tuple[list[LoadedManifest], list[Desired]]]
    #: Desired state of the files this load re-read (all of them on a full load).
    changed: list[Desired]
    #: Assistant ids the re-read or vanished files declared before and no file declares now.
    removed: list[str]
    #: How many files were re-read or found gone (on a full load: every file).
    count: int

    def desired(self) -> list[Desired]:
        return [d for _, desired in self.files.values() for d in desired]


class ManifestSet:
    def __init__(self) -> None:
        self.files: Mapping[str, tuple[list[LoadedManifest], list[Desired]]] | None = None

    @property
    def ready(self) -> bool:
        """Is there a last good set to update? (Otherwise a pass must load everything.)"""
        return self.files is not None

    def load(self, ws: Workspace, changed: Collection[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Loaded:
        """Every file under ``ws.paths``, re-reading only ``changed`` (absolute paths) and files
        not seen before; ``None``: re-read all. Raises InvalidInput like a full load."""
        root = ws.settings.root
        found = find_files(ws.paths, root)
        keys = [os.path.abspath(path) for path, _ in found]
        old = self.files if changed is not None and self.files is not None else {}
        wanted = set(changed or ())
        reread = [f for f, key in zip(found, keys, strict=True) if key in wanted or key not in old]
        if ws.parsed is not None:  # forget the parsed text of files that are gone
            for stale in ws.parsed.keys() - {path for path, _ in found}:
                del ws.parsed[stale]
        fresh, problems = load_files(reread, ws.spec.values, os.environ if environ is None else environ,
                                     ws.parsed, store=ws.parse_store())
        fresh = {os.path.abspath(path): items for path, items in fresh.items()}
        merged = {key: fresh[key] if key in fresh else old[key][0] for key in keys}
        loaded = [m for items in merged.values() for m in items]
        problems.extend(duplicates(loaded))
        if not loaded:
            problems.append(Problem(message=f"no manifests found under {' '.join(ws.paths)}"))
        if problems:
            raise InvalidInput(problems)
        revision = git_revision(root, [m.file for items in fresh.values() for m in items])
        owner = ws.settings.owner
        files = {key: (merged[key], [desired_state(m, owner, revision, root) for m in merged[key]]) if key in fresh
                 else old[key] for key in keys}
        changed_desired = [d for key in fresh for d in files[key][1]]
        gone = [key for key in old if key not in files]
        before = {d.assistant_id for key in [*fresh, *gone] if key in old for d in old[key][1]}
        now = {d.assistant_id for key in fresh for d in files[key][1]}
        return Loaded(files, changed_desired, sorted(before - now), len(fresh) + len(gone))

    def commit(self, loaded: Loaded) -> None:
        """``loaded`` planned: it is the last good set now."""
        self.files = loaded.files

    def forget(self) -> None:
        self.files = None
