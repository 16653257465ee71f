"""A watch holds the embedded target's state lock for its whole run (targets/lock.py).

Why from the first pass and not at start: the target is known only once the settings load
(in git mode, once the first commit is checked out), so each pass tries until they do.
Why not an observer of the passes: the lock must be held *before* a pass writes, and a
lock held by someone else ends the run (exit 1), neither of which an observer can do.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.core.errors import ControllerError
from controller.engine.pipeline import Workspace
from controller.targets.lock import StateLock, state_lock


class StateHold:
    """Takes the lock at the first pass whose settings load, keeps it until :meth:`release`."""

    def __init__(self, timeout: float = 0.0):
        self.timeout = timeout
        self.lock: StateLock | None = None
        self.settled = False  # held, or not needed (a remote target: the server serialises writes)

    async def take(self, workspace: Callable[[], Workspace]) -> None:
        """Hold the lock from now on; raises LockHeld when another process keeps it past the timeout."""
        if self.settled:
            return
        try:
            spec = workspace().spec
        except ControllerError:
            return  # invalid settings: the pass reports them, the next pass tries again
        lock = state_lock(spec, self.timeout)
        if lock is not None:
            await lock.acquire_async()
            self.lock = lock
        self.settled = True

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
