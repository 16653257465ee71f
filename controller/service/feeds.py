"""What `watch --listen` serves, fed from the watch's events: metrics, status and probes.

Each feed is an observer of the loop (engine/watch.py). The loop emits a pass's
:class:`StatusRead` before its :class:`ReconcileFinished`, and the CLI puts these feeds
before the view and the notifications: whoever sees a pass finish (a log reader, a
webhook, a test) finds ``/status`` and ``/metrics`` already up to date.
"""

from __future__ import annotations

import time
from typing import Any

from controller.engine.events import (
    Applied,
    Deleted,
    EvalFinished,
    Event,
    PassDue,
    ReconcileFinished,
    ReconcileStarted,
    RolledBack,
    SmokeResult,
    StatusRead,
)
from controller.engine.status import MISSING, OUT_OF_SYNC, status_json
from controller.service.http import Health, Snapshot
from controller.service.metrics import Metrics

#: What ``/status`` serves before the first pass has read the target.
NO_STATUS: dict[str, Any] = {"revision": None, "assistants": [], "last_pass": None}


class MetricsFeed:
    """Counts passes, changes, smoke cases and eval gates; sets the gauges from each status read."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics
        self._started: float | None = None

    def __call__(self, event: Event) -> None:
        m = self.metrics
        if isinstance(event, ReconcileStarted):
            self._started = time.monotonic()
        elif isinstance(event, Applied):
            m.change(event.action)
        elif isinstance(event, Deleted):
            m.change("delete")
        elif isinstance(event, RolledBack):
            m.change("rollback")
        elif isinstance(event, SmokeResult):
            m.smoke_case(event.result.passed)
        elif isinstance(event, EvalFinished):
            m.eval_gate(event.result.ok)
        elif isinstance(event, ReconcileFinished):
            duration = time.monotonic() - self._started if self._started is not None else 0.0
            m.reconcile_finished(event.trigger, event.ok, duration)
        elif isinstance(event, StatusRead) and event.status is not None:
            rows = event.status.rows
            m.set_managed(sum(1 for r in rows if r.sync != MISSING))
            m.set_drifted(sum(1 for r in rows if r.sync == OUT_OF_SYNC))
            m.set_revision(event.revision)


class StatusFeed:
    """Liveness (a pass is due), readiness (a pass reached the target) and the ``/status`` document."""

    def __init__(self, health: Health, snapshot: Snapshot):
        self.health, self.snapshot = health, snapshot

    def __call__(self, event: Event) -> None:
        if isinstance(event, PassDue):
            self.health.pass_started()
        elif isinstance(event, StatusRead):
            if event.ok:
                self.health.reached_target()
            if event.status is not None:
                doc = status_json(event.status, event.revision)
                ok = event.ok if event.passed is None else event.passed  # as reconcile-finished says
                doc["last_pass"] = {"trigger": event.trigger, "ok": ok, "checked_out": event.checked_out}
                self.snapshot.publish(doc)
