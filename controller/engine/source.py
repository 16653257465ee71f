"""Where a watch's project comes from: a folder on disk, or a git checkout kept at a ref.

The loop (engine/watch.py) asks its :class:`Source` three things: where the project is
now (:meth:`Source.workspace`), what changed since the last pass (:meth:`Source.follow`),
and to bring the project up to date before a pass (:meth:`Source.sync`). Everything
else about a watch — deciding, applying, retrying, reporting — is the same for every
source, so a new source (a tarball, an OCI artifact) is one class, not another loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from controller.core.errors import ControllerError
from controller.engine.pipeline import Workspace


@dataclass(frozen=True)
class Project:
    """Which manifests and target a watch means, as the flags say (PATHs select manifests)."""

    paths: tuple[str, ...] = (".",)
    config: str | None = None
    target: str | None = None
    url: str | None = None
    concurrency: int | None = None
    owner: str | None = None

    def load(self, root: str | None = None, cache_dir: str | None = None) -> Workspace:
        """The project as seen from ``root`` (PATHs and --config relative to it), else from here;
        ``cache_dir``: its caches' folder, when not ``<root>/.controller/cache``."""

        def inside(path: str) -> str:
            return os.path.join(root, path) if root else path

        return Workspace.load([inside(p) for p in self.paths], config=inside(self.config) if self.config else None,
                              target=self.target, url=self.url, concurrency=self.concurrency, owner=self.owner,
                              cwd=root, cache_dir=cache_dir)


class SourceFailed(ControllerError):
    """The source could not be brought up to date (or followed); what it had before stays.

    ``retry_in``: when a failed sync is tried again (the source's own backoff). ``kept``:
    how the source says that the last good manifests stay in force, added to the message
    once a pass has accepted some ("the last good commit stays in force")."""

    def __init__(self, message: str, *, retry_in: float = 0.0, kept: str = ""):
        super().__init__(message)
        self.retry_in, self.kept = retry_in, kept


class Source(Protocol):
    #: The revision the project is at after the last sync (a commit), or None when the
    #: manifests carry their own (``controller/revision`` of a folder in a git work tree).
    revision: str | None

    def workspace(self) -> Workspace:
        """The project as it is now: settings, target and manifest paths (raises ControllerError)."""
        ...

    async def follow(self, changed: Callable[[Collection[str]], None], stop: asyncio.Event) -> None:
        """Report changed files (absolute paths) as they change, until ``stop`` is set or the task
        is cancelled; return at once when changes arrive only by syncing. Raises SourceFailed
        when the source cannot be followed (the interval still reconciles)."""
        ...

    async def sync(self, trigger: str) -> str:
        """Bring the project up to date before a pass; the pass's trigger, which the source may
        name better ("git": the interval found a new commit). Raises SourceFailed."""
        ...
