"""`controller watch`: reconcile at start, when the source changes, and every interval.

The loop owns only what a long-running process needs: signals, timers, retries after a
failure, and the order of a pass (the source syncs, the state lock is held, the pass
reconciles). Where the project comes from is a :class:`Source` (engine/folder.py, or a git
checkout in service/); what a pass does is engine/reconcile.py; who hears about it is a list
of observers, each a callable taking every :class:`Event` in order (the text or JSON view,
notifications, and, served by `--listen`, metrics and status). A plain watch and the
service are this same loop with another source and other observers.

SIGINT/SIGTERM stop after the action in flight; a second one stops waiting for it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from controller.core.durations import format_duration
from controller.engine.backoff import Backoff
from controller.engine.events import Event, Failed, PassDue, ReconcileFinished, ReconcileStarted, Stopped
from controller.engine.reconcile import PassOptions, Reconciler
from controller.engine.source import Source, SourceFailed
from controller.engine.statehold import StateHold
from controller.targets.lock import LockHeld

Observer = Callable[[Event], None]


@dataclass(frozen=True)
class WatchOptions:
    """What `controller watch` was asked to do (the CLI builds it from flags)."""

    interval: float = 60.0
    #: How long to wait for the embedded target's state lock (0: fail at once).
    lock_timeout: float = 0.0
    passes: PassOptions = field(default_factory=PassOptions)


class WatchLoop:
    """Passes, one at a time, until a signal (or a held state lock) stops it; every event to every observer."""

    def __init__(self, source: Source, options: WatchOptions, observers: Sequence[Observer]):
        self.source, self.interval = source, options.interval
        self.observers = tuple(observers)
        self.reconciler = Reconciler(source, options.passes, self.emit, Backoff.within(options.interval))
        self.hold = StateHold(options.lock_timeout)
        self.stop, self.woken = asyncio.Event(), asyncio.Event()
        self.pending: set[str] = set()  # changed files (absolute paths) not yet in a pass
        self.requested: str | None = None  # a pass asked for from outside (the webhook)
        self.exit_code = 0  # 1 once something the loop cannot wait out stopped it (a held lock)

    def emit(self, event: Event) -> None:
        for observe in self.observers:
            observe(event)

    def request(self, trigger: str) -> None:
        """Reconcile now, with ``trigger``; call it on the loop's thread (``call_soon_threadsafe``)."""
        self.requested = trigger
        self.woken.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal() -> None:
            if self.stop.is_set() and main is not None:  # a second signal: stop waiting for the action
                main.cancel()
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        follow = asyncio.create_task(self.follow())
        trigger, code = "start", 0
        try:
            while not self.stop.is_set():
                retry_in = await self.one_pass(trigger)
                trigger = await self.wait_next(self.interval if retry_in is None else retry_in,
                                               "interval" if retry_in is None else "retry")
        except asyncio.CancelledError:
            code = 130
        finally:
            follow.cancel()
            await asyncio.gather(follow, return_exceptions=True)
            await self.reconciler.close()  # (the loop's signal handlers go with the loop)
            self.hold.release()
        self.emit(Stopped(code))
        return code or self.exit_code

    async def one_pass(self, trigger: str) -> float | None:
        """Sync the source, hold the state lock, reconcile; the delay before a retry, or None."""
        self.emit(PassDue(trigger))
        try:
            trigger = await self.source.sync(trigger)
        except SourceFailed as exc:
            return self.sync_failed(trigger, exc)
        try:
            await self.hold.take(self.source.workspace)
        except LockHeld as exc:
            self.emit(Failed(str(exc)))
            self.exit_code = 1
            self.stop.set()
            return None
        changed, self.pending = self.pending, set()  # a full pass covers them too
        return await self.reconciler.run(trigger, changed)

    def sync_failed(self, trigger: str, exc: SourceFailed) -> float:
        """A source that could not sync: a failed pass, retried with the source's own backoff."""
        kept = f"; {exc.kept}" if exc.kept and self.reconciler.in_force is not None else ""
        self.emit(ReconcileStarted(trigger))
        self.emit(Failed(f"{exc}{kept}", retry_in=exc.retry_in))
        self.emit(ReconcileFinished(trigger, ok=False))
        return exc.retry_in

    async def wait_next(self, delay: float, label: str) -> str:
        """The next pass's trigger: a request, a change, else ``label`` once ``delay`` passed."""
        waiters = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.woken.wait())]
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        woken, requested = self.woken.is_set(), self.requested
        self.woken.clear()
        self.requested = None
        return requested or ("change" if woken else label)

    async def follow(self) -> None:
        try:
            await self.source.follow(self.changed, self.stop)
        except SourceFailed as exc:
            self.emit(Failed(f"{exc}; reconciling every {format_duration(self.interval)}"))

    def changed(self, paths: Collection[str]) -> None:
        wanted = [p for p in paths if self.reconciler.wants(p)]  # not a graph's source, a prompt nothing reads
        if wanted:
            self.pending.update(wanted)
            self.woken.set()
