"""The project as a folder on disk: file events on the manifests, controller.yaml and langgraph.json.

Nothing to sync (the files are what they are); a change is noticed by watching folders,
debounced so that a `git checkout` of many files arrives as one pass, or a few.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Collection

from watchfiles import awatch

from controller.config.files import SKIP_DIRS, YAML_SUFFIXES
from controller.config.settings import CONFIG_NAMES
from controller.core.errors import ControllerError
from controller.engine.pipeline import Workspace
from controller.engine.source import Project, SourceFailed

WATCHED_NAMES = frozenset({*CONFIG_NAMES, "langgraph.json"})
#: watchfiles yields once no change came for STEP_MS, or after DEBOUNCE_MS of changes that
#: keep coming. Its defaults (50/1600) suit an editor; an edit here should be applied in a
#: quarter second, and a `git checkout` writes its files within a few ms of each other, so
#: it still arrives as one batch (and what arrives during a pass is the next pass's batch).
STEP_MS, DEBOUNCE_MS = 20, 400


class FolderSource:
    """The project the flags name, seen from the current directory (see :class:`Project`)."""

    revision: str | None = None  # the manifests carry their own (controller/revision)

    def __init__(self, project: Project):
        self.project = project
        self.roots: list[str] = []

    def workspace(self) -> Workspace:
        return self.project.load()

    async def sync(self, trigger: str) -> str:
        return trigger

    async def follow(self, changed: Callable[[Collection[str]], None], stop: asyncio.Event) -> None:
        self.roots = self.watch_roots()
        try:
            async for changes in awatch(*self.roots, watch_filter=self.relevant, debounce=DEBOUNCE_MS, step=STEP_MS,
                                        stop_event=stop):
                changed([os.path.abspath(path) for _, path in changes])
        except Exception as exc:  # e.g. no inotify watches left
            raise SourceFailed(f"cannot watch files ({exc})") from exc

    def watch_roots(self) -> list[str]:
        """Folders, not files: a git checkout replaces files (rename), which a watch on the file misses."""
        wanted = [os.path.abspath(p) for p in self.project.paths]
        with contextlib.suppress(ControllerError):
            ws = self.workspace()
            wanted += [p for p in (ws.settings.config_file, ws.spec.graphs) if p]
        folders = [p if os.path.isdir(p) else os.path.dirname(p) for p in wanted]
        return list(dict.fromkeys(f for f in folders if os.path.isdir(f)))

    def relevant(self, _change: object, path: str) -> bool:
        """Manifests, controller.yaml, langgraph.json; not in folders the loader skips (.git, .controller)."""
        name = os.path.basename(path)
        if not (name in WATCHED_NAMES or name.endswith(YAML_SUFFIXES)):
            return False
        for root in self.roots:
            rel = os.path.relpath(path, root).split(os.sep)
            if rel[0] != "..":
                return not any(p in SKIP_DIRS or p.startswith(".") for p in rel[:-1])
        return True
