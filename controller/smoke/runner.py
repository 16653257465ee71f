"""Running smoke cases on a target.

A case gates a change, so its verdict must be trustworthy: a run is judged by its status
(the server answers 200 when a graph raises), each case gets a fresh thread that is deleted
whatever happens, and values from the environment are redacted from a failure before
anyone sees it. Results keep the input order, so reports are stable across CI runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from controller.core.errors import ControllerError
from controller.core.mask import redact
from controller.smoke.checks import Failure, check, hidden_difference

if TYPE_CHECKING:
    from controller.config.manifest import SmokeCase
    from controller.targets.base import Target


@dataclass(frozen=True)
class CaseResult:
    """One case's verdict. ``step`` is the 0-based index of the failing step; ``steps`` the total."""
    assistant: str
    case: str
    passed: bool
    duration_s: float
    failure: Failure | None = None
    step: int | None = None
    steps: int = 1


@dataclass
class SuiteResult:
    """A run's case results, in input order."""
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> list[CaseResult]:
        return [r for r in self.results if r.passed]

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failed


async def run_case(target: Target, assistant_id: str, case: SmokeCase, *, assistant: str = "",
                   secrets: Collection[str] = ()) -> CaseResult:
    """Run ``case`` on a fresh thread, step by step, stopping at the first failure. Every
    step's run carries the case's ``config``/``context`` overrides.

    A target error (unreachable server) fails the case rather than aborting the suite,
    so an apply still rolls the change back. The thread is deleted in ``finally``, also
    on cancellation; a failed delete is ignored (it must not hide the verdict). Values in
    ``secrets`` (from the environment) are redacted from the failure before anyone sees it.
    """
    steps, started = case.runs(), time.perf_counter()

    hidden = set(secrets)  # grows with what a target says its runs' outputs may hold (langgraph.json env)

    def result(failure: Failure | None = None, step: int | None = None) -> CaseResult:
        if failure is not None and hidden:
            expected, actual = redact(failure.expected, hidden), redact(failure.actual, hidden)
            message = redact(failure.message, hidden)
            if hidden_difference(failure, expected, actual):  # two equal masked values must not look like a bug
                message += " (it differs inside a sensitive value, which is masked)"
            failure = replace(failure, message=message, expected=expected, actual=actual)
        return CaseResult(assistant or assistant_id, case.name, failure is None, time.perf_counter() - started,
                          failure, step, len(steps))

    try:
        thread_id = await target.create_thread()
    except ControllerError as exc:
        return result(Failure("error", f"could not create a thread: {exc}"), 0)
    try:
        for index, step in enumerate(steps):
            try:
                outcome = await target.run(assistant_id, step.input, thread_id=thread_id, timeout=case.timeout,
                                           config=case.config or None, context=case.context or None)
            except ControllerError as exc:
                return result(Failure("error", f"run failed: {exc}"), index)
            hidden.update(outcome.secrets)
            if outcome.status == "timeout":
                return result(Failure("timeout", f"timed out after {case.timeout:g}s"), index)
            if outcome.status == "interrupted":
                return result(Failure("interrupted", "the run stopped at an interrupt (waiting for input)"), index)
            if outcome.status != "success":
                return result(Failure("error", f"run failed: {outcome.error or outcome.status}"), index)
            for expect in step.expect:
                if (failure := check(expect, outcome.output)) is not None:
                    return result(failure, index)
        return result()
    finally:
        with contextlib.suppress(ControllerError):
            await target.delete_thread(thread_id)


async def run_suite(target: Target, items: Sequence[tuple[str, str, Sequence[SmokeCase]]],
                    concurrency: int = 4, secrets: Mapping[str, Collection[str]] | None = None) -> SuiteResult:
    """Run each ``(name, assistant_id, cases)``: assistants concurrently (``concurrency`` at
    most), one assistant's cases in order; results in input order, whatever finished first.
    A bug in one cancels the rest (their threads are still deleted) and propagates.
    ``secrets`` maps an assistant's name to the values its failures must not show."""
    limit = asyncio.Semaphore(max(1, concurrency))
    per_item: list[list[CaseResult]] = [[] for _ in items]

    async def run_item(index: int, name: str, assistant_id: str, cases: Sequence[SmokeCase]) -> None:
        async with limit:
            for case in cases:
                per_item[index].append(await run_case(target, assistant_id, case, assistant=name,
                                                      secrets=(secrets or {}).get(name, ())))

    try:
        async with asyncio.TaskGroup() as group:
            for index, (name, assistant_id, cases) in enumerate(items):
                group.create_task(run_item(index, name, assistant_id, cases))
    except BaseExceptionGroup as group_error:  # callers (and the CLI's one-line errors) want the error itself
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
    return SuiteResult([r for results in per_item for r in results])
