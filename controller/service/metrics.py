"""Prometheus metrics of a long-running `controller watch`.

Why a private registry: the process-wide default one would mix in whatever other
libraries register (and make tests share state); the controller exposes exactly the
series documented in README.md ("Run it as a service") and nothing else.

Why pre-created label sets: a counter that appears only after its first increment
breaks ``rate()`` and "is it zero?" alerts; users chart these series from start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

#: Triggers a reconcile pass can have (start/change/interval/retry, plus git polling and webhooks: engine/watch.py).
TRIGGERS = ("start", "change", "interval", "retry", "git", "webhook")
#: Plan actions that change the target; ``noop`` is not a change and is not counted.
ACTIONS = ("create", "update", "repin", "delete", "rollback")
#: The classic text format every Prometheus-compatible scraper reads (spelled out: newer
#: prometheus_client versions default to 1.0.0 and older ones lack a name for it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Reconcile durations range from milliseconds (no change) to minutes (smoke tests on many assistants).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class _WithoutCreated(Collector):
    """The registry's metrics minus the ``*_created`` series prometheus_client adds to counters and
    histograms: they would double the series count for a timestamp nobody charts. Filtering here
    instead of ``disable_created_metrics()`` keeps the process-wide default untouched."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


class Metrics:
    """The controller's metrics; every method is thread-safe (prometheus_client locks per series)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._reconciles = Counter(
            "assistant_controller_reconciles_total", "Reconcile passes finished, by trigger and result (ok|error).",
            ["trigger", "result"], registry=r)
        self._changes = Counter(
            "assistant_controller_changes_total", "Changes applied to the target, by action.", ["action"], registry=r)
        self._smoke = Counter(
            "assistant_controller_smoke_cases_total", "Smoke test cases run, by result (passed|failed).",
            ["result"], registry=r)
        self._evals = Counter(
            "assistant_controller_eval_gates_total",
            "Eval gates decided on a change (a written version or a candidate), by result (passed|failed).",
            ["result"], registry=r)
        self._managed = Gauge(
            "assistant_controller_managed_assistants", "Assistants this controller owns on the target.", registry=r)
        self._drifted = Gauge(
            "assistant_controller_drifted_assistants",
            "Owned assistants whose live content differs from the manifests (after the last pass).", registry=r)
        self._last_success = Gauge(
            "assistant_controller_last_success_timestamp_seconds",
            "Unix time the last successful reconcile pass finished.", registry=r)
        self._duration = Histogram(
            "assistant_controller_reconcile_duration_seconds", "Duration of reconcile passes.",
            buckets=DURATION_BUCKETS, registry=r)
        self._source = Gauge(
            "assistant_controller_source_info", "The manifests' source revision in force (value 1).",
            ["revision"], registry=r)
        self._revision: str | None = None
        self._revision_lock = threading.Lock()
        self._exposed = CollectorRegistry(auto_describe=False)
        self._exposed.register(_WithoutCreated(r))
        for trigger in TRIGGERS:
            for result in ("ok", "error"):
                self._reconciles.labels(trigger=trigger, result=result)
        for action in ACTIONS:
            self._changes.labels(action=action)
        for result in ("passed", "failed"):
            self._smoke.labels(result=result)
            self._evals.labels(result=result)

    def reconcile_finished(self, trigger: str, ok: bool, duration_s: float, now: float | None = None) -> None:
        """One pass ended; ``now`` (Unix seconds, default the wall clock) stamps a success."""
        self._reconciles.labels(trigger=trigger, result="ok" if ok else "error").inc()
        self._duration.observe(max(0.0, duration_s))
        if ok:
            self._last_success.set(time.time() if now is None else now)

    def change(self, action: str) -> None:
        """One applied change; ``noop`` is ignored, an unknown action is a programming error."""
        if action == "noop":
            return
        if action not in ACTIONS:
            raise ValueError(f"unknown change action {action!r} (expected one of {', '.join(ACTIONS)})")
        self._changes.labels(action=action).inc()

    def smoke_case(self, passed: bool) -> None:
        self._smoke.labels(result="passed" if passed else "failed").inc()

    def eval_gate(self, passed: bool) -> None:
        self._evals.labels(result="passed" if passed else "failed").inc()

    def set_managed(self, n: int) -> None:
        self._managed.set(n)

    def set_drifted(self, n: int) -> None:
        self._drifted.set(n)

    def set_revision(self, sha: str | None) -> None:
        """Only the current revision has a series: a stale one would look like a second source."""
        with self._revision_lock:
            if sha == self._revision:
                return
            if self._revision is not None:
                self._source.remove(self._revision)
            if sha is not None:
                self._source.labels(revision=sha).set(1)
            self._revision = sha

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition (format 0.0.4, which every scraper reads): (body, content type)."""
        return generate_latest(self._exposed), CONTENT_TYPE
