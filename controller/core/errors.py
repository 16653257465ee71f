"""Errors a user can act on.

Every error the controller reports is one line: ``file:line: field.path: message``
where a location is known. Validation collects all problems of a run before
failing, so a user fixes a whole file at once instead of one error per attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, with where it is."""

    file: str = ""
    line: int = 0
    path: str = ""
    message: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.file and self.line:
            where = f"{self.file}:{self.line}"
        parts = [p for p in (where, self.path) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ControllerError(Exception):
    """An error whose message is fit to show a user as it is (exit 1)."""

    exit_code = 1


class InvalidInput(ControllerError):
    """One or more problems in manifests, config or flags; nothing was written."""

    def __init__(self, problems: list[Problem], warnings: Sequence[str] = ()):
        self.problems = sorted(problems)
        #: Warnings found on the way: shown with the errors, never hidden by them.
        self.warnings = tuple(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


class TargetError(ControllerError):
    """The target refused or failed a request (after any retries)."""


class Conflict(ControllerError):
    """The target changed under us (stale plan, someone else's assistant)."""


class UncertainWrite(TargetError):
    """A non-idempotent write (PATCH) failed in a way that may or may not have landed.

    Never retried blindly: the caller re-reads the assistant and decides again. The
    target says how to: ``settle`` is how long (seconds) the write may still take to
    show up, ``in_flight`` whether it may land even later than that (the request timed
    out, so something may still hold it), and ``retries`` how many times a write that
    provably did not land may be sent again.
    """

    def __init__(self, message: str, *, settle: float = 0.0, in_flight: bool = False, retries: int = 1):
        super().__init__(message)
        self.settle, self.in_flight, self.retries = settle, in_flight, retries
