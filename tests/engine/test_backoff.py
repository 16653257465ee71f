"""Capped exponential backoff: the delays a failing step is retried after."""

from __future__ import annotations

import pytest

from controller.engine.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_over_after_a_success():
    backoff = Backoff(cap=5.0)
    assert [backoff.failed() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.succeeded()
    assert backoff.failed() == 1.0


@pytest.mark.parametrize("interval, cap", [(0.2, 1.0), (10.0, 10.0), (600.0, 60.0)])
def test_within_an_interval_a_retry_never_waits_past_the_next_tick(interval, cap):
    assert Backoff.within(interval).cap == cap
