"""StateLock: one writer per state file, a clear message for the second, no stale locks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import ROOT

from controller.core.errors import ControllerError
from controller.targets.lock import LockHeld, StateLock

HOLDER = """
import sys, time
from controller.targets.lock import StateLock
lock = StateLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_holder_fails_at_once_naming_the_first(tmp_path: Path) -> None:
    state = str(tmp_path / ".controller" / "state.db")
    with StateLock(state), pytest.raises(LockHeld) as caught:
        StateLock(state).acquire()
    message = str(caught.value)
    assert isinstance(caught.value, ControllerError)
    assert f"state.db.lock: locked by pid {os.getpid()} on {socket.gethostname()} since 20" in message
    assert "--lock-timeout" in message and "\n" not in message
    assert caught.value.pid == os.getpid()


def test_the_lock_is_free_again_after_release(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    first = StateLock(state)
    first.acquire()
    first.release()
    with StateLock(state) as second:
        assert second.held
    assert not second.held
    assert (tmp_path / "state.db.lock").exists()


def test_waiting_succeeds_when_the_holder_releases(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    first = StateLock(state)
    first.acquire()
    second = StateLock(state)
    waiting = threading.Event()
    result: list[BaseException | None] = []

    def take() -> None:
        waiting.set()
        try:
            second.acquire(timeout=60)
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=take)
    thread.start()
    waiting.wait()
    first.release()
    thread.join()
    assert result == [None] and second.held
    second.release()


def test_waiting_gives_up_after_the_timeout(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    with StateLock(state), pytest.raises(LockHeld, match=r"waited 0.2s"):
        StateLock(state).acquire(timeout=0.2)


def test_async_context_manager_waits_without_blocking_the_loop(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")

    async def scenario() -> bool:
        first = StateLock(state)
        await first.__aenter__()
        second = StateLock(state, timeout=60)
        entered = asyncio.Event()

        async def take() -> bool:
            async with second:
                entered.set()
                return second.held

        task = asyncio.create_task(take())
        await asyncio.sleep(0)  # the waiter is polling; the loop still runs us
        assert not entered.is_set()
        await first.__aexit__(None, None, None)
        return await task

    assert asyncio.run(scenario()) is True


def test_a_lock_left_by_a_killed_process_is_taken_over_at_once(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, state], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as caught:
            StateLock(state).acquire()
        assert f"locked by pid {proc.pid} on " in str(caught.value)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with StateLock(state) as lock:  # no waiting, no manual unlock
            assert lock.held
            assert f'"pid": {os.getpid()}' in (tmp_path / "state.db.lock").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_acquiring_twice_with_one_object_is_a_bug(tmp_path: Path) -> None:
    lock = StateLock(str(tmp_path / "state.db"))
    with lock, pytest.raises(RuntimeError):
        lock.acquire()
