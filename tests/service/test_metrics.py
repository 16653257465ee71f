"""Prometheus metrics of a long-running watch (service/metrics.py), read as a scraper reads them."""

from __future__ import annotations

import re

import pytest
from helpers import Service

from controller.service.metrics import Metrics

METRIC_NAMES = (
    "assistant_controller_reconciles_total",
    "assistant_controller_changes_total",
    "assistant_controller_smoke_cases_total",
    "assistant_controller_eval_gates_total",
    "assistant_controller_managed_assistants",
    "assistant_controller_drifted_assistants",
    "assistant_controller_last_success_timestamp_seconds",
    "assistant_controller_reconcile_duration_seconds",
    "assistant_controller_source_info",
)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        assert m, line
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if m.group(1) == name and got == labels:
            return float(m.group(3))
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_every_metric_is_exposed_from_the_start(service: Service) -> None:
    status, headers, body = service.request("/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name
    for trigger in ("start", "change", "interval", "git", "webhook"):
        for result in ("ok", "error"):
            assert sample(text, "assistant_controller_reconciles_total", trigger=trigger, result=result) == 0
    for action in ("create", "update", "repin", "delete", "rollback"):
        assert sample(text, "assistant_controller_changes_total", action=action) == 0
    for result in ("passed", "failed"):
        assert sample(text, "assistant_controller_smoke_cases_total", result=result) == 0
        assert sample(text, "assistant_controller_eval_gates_total", result=result) == 0
    assert "_created" not in text


def test_metrics_move_after_calls(service: Service) -> None:
    m = service.metrics
    m.reconcile_finished("start", True, 0.3, now=1_700_000_000)
    m.reconcile_finished("interval", False, 12.0)
    m.change("create")
    m.change("create")
    m.change("rollback")
    m.change("noop")  # not a change: not counted, not an error
    m.smoke_case(True)
    m.smoke_case(False)
    m.smoke_case(False)
    m.eval_gate(False)
    m.set_managed(7)
    m.set_drifted(2)
    m.set_revision("aaa111")
    text = service.request("/metrics")[2].decode()
    assert sample(text, "assistant_controller_reconciles_total", trigger="start", result="ok") == 1
    assert sample(text, "assistant_controller_reconciles_total", trigger="interval", result="error") == 1
    assert sample(text, "assistant_controller_reconciles_total", trigger="interval", result="ok") == 0
    assert sample(text, "assistant_controller_changes_total", action="create") == 2
    assert sample(text, "assistant_controller_changes_total", action="rollback") == 1
    assert sample(text, "assistant_controller_smoke_cases_total", result="passed") == 1
    assert sample(text, "assistant_controller_smoke_cases_total", result="failed") == 2
    assert sample(text, "assistant_controller_eval_gates_total", result="failed") == 1
    assert sample(text, "assistant_controller_eval_gates_total", result="passed") == 0
    assert sample(text, "assistant_controller_managed_assistants") == 7
    assert sample(text, "assistant_controller_drifted_assistants") == 2
    # the failed pass did not move the last success
    assert sample(text, "assistant_controller_last_success_timestamp_seconds") == 1_700_000_000
    assert sample(text, "assistant_controller_reconcile_duration_seconds_count") == 2
    assert sample(text, "assistant_controller_reconcile_duration_seconds_sum") == pytest.approx(12.3)
    assert sample(text, "assistant_controller_reconcile_duration_seconds_bucket", le="0.5") == 1
    assert sample(text, "assistant_controller_source_info", revision="aaa111") == 1


def test_only_the_current_revision_has_a_source_series(service: Service) -> None:
    service.metrics.set_revision("aaa111")
    service.metrics.set_revision("bbb222")
    text = service.request("/metrics")[2].decode()
    assert sample(text, "assistant_controller_source_info", revision="bbb222") == 1
    assert "aaa111" not in text
    service.metrics.set_revision(None)
    assert 'revision="' not in service.request("/metrics")[2].decode()


def test_an_unknown_change_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown change action 'frobnicate'"):
        Metrics().change("frobnicate")


def test_two_metrics_objects_do_not_share_series() -> None:
    a, b = Metrics(), Metrics()
    a.set_managed(5)
    assert sample(b.render()[0].decode(), "assistant_controller_managed_assistants") == 0
