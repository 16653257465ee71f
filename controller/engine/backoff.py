"""Capped exponential backoff for a step that keeps failing: 1s, 2s, 4s … up to a cap.

Why each failing step keeps its own: a watch retries an unreachable target and a git
fetch that fails for different reasons, and a streak of one says nothing about the other.
"""

from __future__ import annotations

BACKOFF_FIRST_S, BACKOFF_CAP_S = 1.0, 60.0


class Backoff:
    """How long to wait before the next try, given how many tries failed in a row."""

    def __init__(self, cap: float = BACKOFF_CAP_S):
        self.cap = cap
        self.failures = 0

    @classmethod
    def within(cls, interval: float) -> Backoff:
        """Never waiting longer than the watch interval: a retry must not come after the next tick."""
        return cls(max(BACKOFF_FIRST_S, min(BACKOFF_CAP_S, interval)))

    def failed(self) -> float:
        """One more failure: the delay before the next try."""
        delay = min(BACKOFF_FIRST_S * 2 ** self.failures, self.cap)
        self.failures += 1
        return delay

    def succeeded(self) -> None:
        self.failures = 0
