"""The watch loop in-process, on the example project's embedded target: what its observers
hear, in which order, and how a failing source, a held lock and requests steer it.

No timing assertions: each scenario stops the loop from an observer once it heard enough.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from controller.engine.events import (
    Applied,
    Event,
    Failed,
    ManifestsAccepted,
    PassDue,
    ReconcileFinished,
    ReconcileStarted,
    StatusRead,
    Stopped,
)
from controller.engine.folder import FolderSource
from controller.engine.reconcile import PassOptions
from controller.engine.source import Project, SourceFailed
from controller.engine.watch import WatchLoop, WatchOptions
from controller.targets.lock import LockHeld, StateLock

QUICK = WatchOptions(interval=600.0, passes=PassOptions(no_smoke=True, status=True))


class ScriptedSource(FolderSource):
    """The folder, whose syncs fail while ``failing`` says so (as a git fetch would)."""

    def __init__(self, failing: Callable[[int], bool]):
        super().__init__(Project())
        self.failing, self.syncs = failing, 0

    async def follow(self, changed: Callable[[Collection[str]], None], stop: asyncio.Event) -> None:
        return None  # passes come from requests only: the test decides when

    async def sync(self, trigger: str) -> str:
        self.syncs += 1
        if self.failing(self.syncs):
            raise SourceFailed(f"fetch {self.syncs} failed", retry_in=float(self.syncs), kept="the last good commit stays in force")
        return trigger


def run(source: FolderSource, passes: int, options: WatchOptions = QUICK) -> tuple[int, list[Event]]:
    """Run the loop until ``passes`` passes finished (each next one requested at once)."""
    events: list[Event] = []

    def observe(event: Event) -> None:
        events.append(event)
        if isinstance(event, ReconcileFinished):
            if sum(isinstance(e, ReconcileFinished) for e in events) >= passes:
                watch.stop.set()
            else:
                watch.request("again")

    watch = WatchLoop(source, options, [observe])
    return asyncio.run(watch.run()), events


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_observers_hear_a_pass_in_order_and_its_status_before_it_finishes(project: Path):
    code, events = run(FolderSource(Project()), passes=1)
    assert code == 0
    assert kinds(events) == ["PassDue", "ReconcileStarted", "ManifestsAccepted", *["Applied"] * 5,
                             "StatusRead", "ReconcileFinished", "Stopped"]
    status = next(e for e in events if isinstance(e, StatusRead))
    assert status.ok and status.status is not None and status.checked_out is None
    assert {r.sync for r in status.status.rows} == {"Synced"}  # read after the writes
    assert events[-2] == ReconcileFinished("start", ok=True, counts={"create": 5})
    assert events[-1] == Stopped(0)


def test_without_status_asked_for_no_status_is_read(project: Path):
    _, events = run(FolderSource(Project()), passes=1, options=WatchOptions(passes=PassOptions(no_smoke=True)))
    assert not any(isinstance(e, StatusRead) for e in events)


def test_a_failed_sync_is_a_failed_pass_retried_with_the_source_backoff(project: Path):
    code, events = run(ScriptedSource(lambda n: n in (1, 3)), passes=3)
    assert code == 0
    failed = [e for e in events if isinstance(e, Failed)]
    # nothing in force yet: nothing said to stay; after a good pass, the source's words for it
    assert failed == [Failed("fetch 1 failed", retry_in=1.0),
                      Failed("fetch 3 failed; the last good commit stays in force", retry_in=3.0)]
    finished = [e for e in events if isinstance(e, ReconcileFinished)]
    assert [(f.trigger, f.ok) for f in finished] == [("start", False), ("again", True), ("again", False)]
    # a failed sync never reaches the reconcile: no manifests read, no status
    assert sum(isinstance(e, ManifestsAccepted) for e in events) == 1
    assert sum(isinstance(e, StatusRead) for e in events) == 1
    assert sum(isinstance(e, PassDue) for e in events) == 3


def test_a_held_state_lock_stops_the_watch_with_exit_1_before_any_pass(project: Path):
    lock = StateLock(os.path.abspath(".controller/state.db"))
    lock.acquire()
    try:
        code, events = run(FolderSource(Project()), passes=1)
    finally:
        lock.release()
    assert code == 1
    assert kinds(events) == ["PassDue", "Failed", "Stopped"]
    assert "locked by pid" in events[1].message and events[1].retry_in is None  # type: ignore[union-attr]
    assert events[-1] == Stopped(0)


def test_the_lock_is_held_for_the_run_and_released_after(project: Path):
    held: list[bool] = []

    def probe(event: Event) -> None:
        if isinstance(event, ReconcileFinished):
            other = StateLock(os.path.abspath(".controller/state.db"))
            try:
                other.acquire()
                other.release()
                held.append(False)
            except LockHeld:
                held.append(True)
            watch.stop.set()

    watch = WatchLoop(FolderSource(Project()), QUICK, [probe])
    assert asyncio.run(watch.run()) == 0
    assert held == [True]
    with StateLock(os.path.abspath(".controller/state.db")):  # free again
        pass


@pytest.mark.parametrize("calls, label, expected", [
    ([], "interval", "interval"),
    ([("changed", ["/p/a.yaml"])], "retry", "change"),
    ([("changed", ["/p/a.yaml"]), ("request", "webhook")], "interval", "webhook"),
    ([("request", "webhook")], "interval", "webhook"),
])
def test_the_next_trigger_a_request_then_a_change_then_the_timer(tmp_path: Path, calls, label, expected):
    async def scenario() -> tuple[str, set[str]]:
        watch = WatchLoop(FolderSource(Project(paths=(str(tmp_path),))), WatchOptions(), [])
        for method, argument in calls:
            getattr(watch, method)(argument)
        return await watch.wait_next(0, label), watch.pending

    trigger, pending = asyncio.run(scenario())
    assert trigger == expected
    assert pending == ({"/p/a.yaml"} if any(m == "changed" for m, _ in calls) else set())


def test_a_source_that_cannot_be_followed_is_reported_and_the_interval_still_reconciles(project: Path):
    class Unfollowable(ScriptedSource):
        async def follow(self, changed: Callable[[Collection[str]], None], stop: asyncio.Event) -> None:
            raise SourceFailed("cannot watch files (no inotify watches left)")

    _, events = run(Unfollowable(lambda n: False), passes=1, options=WatchOptions(interval=120.0, passes=PassOptions(no_smoke=True)))
    assert Failed("cannot watch files (no inotify watches left); reconciling every 2m") in events
    assert any(isinstance(e, ReconcileStarted) for e in events) and any(isinstance(e, Applied) for e in events)
