"""A Terraform-style lock on the embedded target's state file.

Two controllers applying to one ``state.db`` at once (a ``watch`` service and a
person's ``apply``) would each plan against a state the other is changing. SQLite's
own locking keeps the file consistent but not the *plans*; this lock makes the second
one stop with a message that says who holds it.

Why ``flock`` on a separate ``state.db.lock`` file:

- the kernel releases an ``flock`` when its holder dies, even by ``kill -9``, so
  there is no stale lock to break by hand (unlike a lock *file* whose existence is
  the lock);
- the lock file is never deleted, so two processes can never lock two different
  inodes of the same name;
- locks belong to the open file description, so two holders in one process (two
  :class:`StateLock` objects) exclude each other too;
- the descriptor is not inherited by child processes (Python's default), so a server
  the controller starts cannot keep the lock alive after the controller exits.

The holder writes its pid, host and start time into the file, only for the message
the next one shows; the ``flock`` alone decides who holds the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import time
from datetime import UTC, datetime
from types import TracebackType

from controller.config.settings import TargetSpec
from controller.core.errors import ControllerError

#: Seconds between attempts while waiting for a lock (``acquire(timeout=...)``).
POLL_INTERVAL = 0.1

# When the lock is held but the file names no holder yet (it was taken a moment ago
# and is being written, or was released a moment ago), look again this many times.
_UNKNOWN_HOLDER_RETRIES = 20
_UNKNOWN_HOLDER_PAUSE = 0.01


class LockHeld(ControllerError):
    """Another process holds the state lock (and kept it for the whole timeout)."""

    def __init__(self, path: str, holder: dict[str, object] | None, waited: float):
        self.path = path
        self.holder = holder or {}
        self.pid = self.holder.get("pid")
        self.host = self.holder.get("host")
        self.since = self.holder.get("since")
        if holder:
            who = f"locked by pid {self.pid} on {self.host} since {self.since}"
        else:
            who = "locked by another process"
        waited_text = f" (waited {waited:g}s)" if waited else ""
        super().__init__(
            f"{path}: {who}{waited_text}; another controller is changing this state: "
            "retry when it is done, or wait for it with --lock-timeout 30s"
        )


class StateLock:
    """An exclusive lock on ``state_path`` held through ``<state_path>.lock``.

    Use as ``with StateLock(path):`` / ``async with StateLock(path):`` (waiting
    ``timeout`` seconds, default 0: fail at once), or call :meth:`acquire` and
    :meth:`release`. Creates the state's directory if needed (the lock comes before
    the first write).
    """

    def __init__(self, state_path: str, timeout: float = 0):
        self.state_path = state_path
        self.path = state_path + ".lock"
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock now, or within ``timeout`` seconds; else raise :class:`LockHeld`."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + max(wait, 0)
        while True:
            holder = self._try()
            if holder is None:
                return
            if time.monotonic() >= deadline:
                raise LockHeld(self.path, holder or None, wait)
            time.sleep(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0)))

    async def acquire_async(self, timeout: float | None = None) -> None:
        """:meth:`acquire` that waits in a worker thread, not on the event loop (an flock
        belongs to the file descriptor, not to the thread that took it)."""
        await asyncio.to_thread(self.acquire, timeout)

    def release(self) -> None:
        """Give the lock up (no-op when not held). The lock file stays, emptied."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # before unlocking: the file never names a past holder
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    async def __aenter__(self) -> StateLock:
        await self.acquire_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- internals ---------------------------------------------------------------

    def _try(self) -> dict[str, object] | None:
        """Take the lock at once: None on success, else what the file says of the holder
        (an empty dict when it names nobody even after a few looks)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: this StateLock already holds the lock")
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            for attempt in range(_UNKNOWN_HOLDER_RETRIES + 1):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read_holder(fd)
                    if holder or attempt == _UNKNOWN_HOLDER_RETRIES:
                        os.close(fd)
                        return holder
                    time.sleep(_UNKNOWN_HOLDER_PAUSE)
                    continue
                _write_holder(fd)
                self._fd = fd
                return None
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        raise AssertionError("unreachable")


def _write_holder(fd: int) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) and "pid" in holder else {}


def state_lock(spec: TargetSpec, timeout: float = 0.0) -> StateLock | None:
    """The lock of ``spec``'s state file, for a command or a watch that writes it (None for a
    server: it serialises its own writes and there is no state file here)."""
    if spec.url or not spec.embedded:
        return None
    return StateLock(os.path.abspath(spec.embedded), timeout=timeout)
