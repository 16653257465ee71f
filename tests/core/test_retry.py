"""core/retry.py: the one rule both HTTP clients (the remote target, the notifier) wait by."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from controller.core.retry import backoff, delay, retry_after


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("0.5", 0.5), ("-3", 0.0), (formatdate(1_000_030, usegmt=True), 30.0),
    (formatdate(999_000, usegmt=True), 0.0),  # a date in the past: now
    ("soon", None), ("", None), (None, None), ("nan", None),
])
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=1_000_000) == seconds


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (200, 3.0)]:
        waits = [backoff(attempt, 0.5, 3.0) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)


def test_the_servers_word_wins_up_to_a_ceiling() -> None:
    assert delay(5, 30.0, 60.0, asked=2.0, ceiling=60.0) == 2.0  # not 60 s of backoff
    assert delay(0, 0.1, 1.0, asked=3600.0, ceiling=60.0) == 60.0  # "in an hour" is not obeyed
    assert delay(0, 0.1, 1.0, asked=None, ceiling=60.0) <= 0.1
