"""The project as a folder on disk: file events on the manifests, the prompt files they read,
controller.yaml and langgraph.json.

Nothing to sync (the files are what they are); a change is noticed by watching folders,
debounced so that a `git checkout` of many files arrives as one pass, or a few.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Collection

from watchfiles import awatch

from controller.config.files import SKIP_DIRS
from controller.core.errors import ControllerError
from controller.engine.decide import GLOBAL_FILES
from controller.engine.pipeline import Workspace
from controller.engine.source import Project, SourceFailed

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
        """Folders, not files: a git checkout replaces files (rename), which a watch on the file misses.
        The project root too: the prompt files manifests read may be anywhere inside it."""
        wanted = [os.path.abspath(p) for p in self.project.paths]
        with contextlib.suppress(ControllerError):
            ws = self.workspace()
            wanted += [p for p in (ws.settings.config_file, ws.spec.graphs, ws.settings.root) if p]
        folders = [p if os.path.isdir(p) else os.path.dirname(p) for p in wanted]
        folders = [f for f in dict.fromkeys(folders) if os.path.isdir(f)]
        return [f for f in folders if not any(f != o and f.startswith(o + os.sep) for o in folders)]

    def relevant(self, _change: object, path: str) -> bool:
        """Files, not in folders the loader skips (.git, .controller), nor hidden (an editor's swap
        file); which of them matter (a manifest, a prompt file it reads) the loop decides."""
        name = os.path.basename(path)
        if name in GLOBAL_FILES:
            return True
        if name.startswith("."):
            return False
        for root in self.roots:
            rel = os.path.relpath(path, root).split(os.sep)
            if rel[0] != "..":
                return not any(p in SKIP_DIRS or p.startswith(".") for p in rel)  # (a __pycache__ made, too)
        return True
