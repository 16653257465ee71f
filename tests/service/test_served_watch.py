"""A served watch in-process: whoever sees a pass finish finds /status and /metrics up to date."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

from controller.cli.console import Console
from controller.cli.views import View
from controller.engine.events import Event, ReconcileFinished
from controller.engine.folder import FolderSource
from controller.engine.reconcile import PassOptions
from controller.engine.source import Project
from controller.engine.watch import WatchLoop, WatchOptions
from controller.service.runner import Endpoints


def test_a_finished_pass_finds_status_metrics_and_readiness_published(project: Path):
    endpoints = Endpoints(("127.0.0.1", 0), interval=600.0, webhook_secret=None)
    seen: list[dict[str, Any]] = []

    def log_reader(event: Event) -> None:  # as a view or a notification would, after the feeds
        if isinstance(event, ReconcileFinished):
            metrics = endpoints.metrics.render()[0].decode()
            created = re.search(r'^assistant_controller_changes_total\{action="create"\} (\S+)$', metrics, re.M)
            seen.append({"status": endpoints.snapshot(), "ready": endpoints.health.ready(),
                         "created": float(created.group(1)) if created else None,
                         "passes": 'reconciles_total{result="ok",trigger="start"} 1.0' in metrics})
            watch.stop.set()

    options = WatchOptions(interval=600.0, passes=PassOptions(no_smoke=True, status=True))
    watch = WatchLoop(FolderSource(Project()), options, [*endpoints.observers(), log_reader])
    assert asyncio.run(endpoints.serve(watch)) == 0
    [at_finish] = seen
    assert at_finish["ready"] and at_finish["created"] == 5 and at_finish["passes"]
    status = at_finish["status"]
    assert status["synced"] and status["counts"]["Synced"] == 5
    assert status["last_pass"] == {"trigger": "start", "ok": True, "checked_out": None}


def test_the_view_prints_nothing_of_the_loop_state(project: Path):
    out = io.StringIO()
    console = Console(output="json", out=out)
    options = WatchOptions(interval=600.0, passes=PassOptions(no_smoke=True, status=True))

    def stop(event: Event) -> None:
        if isinstance(event, ReconcileFinished):
            watch.stop.set()

    watch = WatchLoop(FolderSource(Project()), options, [View(console), stop])
    assert asyncio.run(watch.run()) == 0
    printed = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert printed == ["reconcile-started", *["applied"] * 5, "reconcile-finished", "stopped"]
