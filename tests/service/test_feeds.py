"""What the endpoints serve, fed from a watch's events (service/feeds.py)."""

from __future__ import annotations

import re

from controller.core.content import Content
from controller.engine.desired import Declaration
from controller.engine.events import Applied, PassDue, ReconcileFinished, ReconcileStarted, RolledBack, StatusRead
from controller.engine.plan import Change, Plan
from controller.engine.status import Status, status_rows
from controller.service.feeds import NO_STATUS, MetricsFeed, StatusFeed
from controller.service.http import Health, Snapshot
from controller.service.metrics import Metrics


def change(name: str, action: str) -> Change:
    live = None if action == "create" else Content("writer", name, metadata={"controller/revision": "abc"})
    return Change(action=action, declared=Declaration(name, f"id-{name}"), seen_version=None if live is None else 1,
                  before=live)  # type: ignore[arg-type]


_PLAN = Plan("acme", "local", (change("a", "noop"), change("b", "update"), change("c", "create"), change("d", "delete")))
PLAN = Status(_PLAN.owner, _PLAN.target, tuple(status_rows(_PLAN)))


def sample(metrics: Metrics, name: str) -> float:
    text = metrics.render()[0].decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} not in {text}"
    return float(m.group(1))


def test_the_status_document_is_the_last_read_with_the_pass_that_read_it():
    snapshot = Snapshot(NO_STATUS)
    feed = StatusFeed(Health(60.0), snapshot)
    feed(StatusRead("git", True, PLAN, revision="good", checked_out="bad", passed=False))  # a bad commit: kept out
    doc = snapshot()
    assert doc["revision"] == "good" and doc["last_pass"] == {"trigger": "git", "ok": False, "checked_out": "bad"}
    assert {a["name"]: a["sync"] for a in doc["assistants"]} == {"a": "Synced", "b": "OutOfSync", "c": "Missing",
                                                                 "d": "Orphan"}
    feed(StatusRead("interval", True, None, revision="good", checked_out="bad"))  # the read failed: kept
    assert snapshot() == doc


def test_ready_once_a_pass_reached_the_target_and_alive_while_passes_are_due():
    health = Health(1.0, started_at=0.0)
    feed = StatusFeed(health, Snapshot(NO_STATUS))
    assert not health.healthy(now=100.0)
    feed(PassDue("interval"))
    assert health.healthy()
    feed(StatusRead("start", False, None, None, None))  # writes failed: not yet
    assert not health.ready()
    feed(StatusRead("retry", True, None, None, None))
    assert health.ready()


def test_metrics_count_what_happened_and_gauge_the_last_status():
    metrics = Metrics()
    feed = MetricsFeed(metrics)
    for event in (ReconcileStarted("start"), Applied("b", "id-b", "update", 2, 1), RolledBack("b", "smoke failed"),
                  StatusRead("start", True, PLAN, revision="abc", checked_out=None), ReconcileFinished("start", ok=False)):
        feed(event)
    assert sample(metrics, 'assistant_controller_changes_total{action="update"}') == 1
    assert sample(metrics, 'assistant_controller_changes_total{action="rollback"}') == 1
    assert sample(metrics, 'assistant_controller_reconciles_total{result="error",trigger="start"}') == 1
    assert sample(metrics, "assistant_controller_managed_assistants") == 3  # all but the missing one
    assert sample(metrics, "assistant_controller_drifted_assistants") == 1
    assert sample(metrics, 'assistant_controller_source_info{revision="abc"}') == 1
