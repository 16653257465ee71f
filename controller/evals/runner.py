"""Running an eval: every case ``repeat`` times on each subject, ``concurrency`` runs at once.

With two subjects (a candidate and the version it would replace) the runs are
interleaved: case 1 on the candidate, case 1 on the baseline, and so on. Whatever drifts
while an eval runs (a server warming up, a rate limit, a model provider's bad minute)
then falls on both alike, not on whichever went second.

A run that times out or fails is a failed run, never an error of the command: what an
assistant does under load is part of what is evaluated. Each run is stateless (no
thread to create and delete), as a smoke case's single input would be but cheaper.
Outputs and reasons are redacted once all runs are done, so a secret a later run
revealed (langgraph.json ``env``) is hidden in earlier ones too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from controller.core.errors import ControllerError
from controller.core.mask import redact
from controller.evals.dataset import Case
from controller.evals.evaluators import Grade, Grader, Grading, grade_run

if TYPE_CHECKING:
    from controller.config.manifest import EvalSpec
    from controller.targets.base import Target


@dataclass(frozen=True)
class RunRecord:
    """One run of one case: passed when the run succeeded and every evaluator passed."""

    case: int
    repeat: int
    passed: bool
    duration_s: float
    #: The run's status (success, error, timeout, interrupted).
    status: str
    output: Any = None
    grades: tuple[Grade, ...] = ()
    #: Why the run itself failed (timeout, error), when it did.
    error: str = ""

    @property
    def reasons(self) -> list[str]:
        """Why it failed: the run's error, or each failing evaluator's reason."""
        if self.error:
            return [self.error]
        return [f"{g.evaluator}: {g.reason}" if g.reason else g.evaluator for g in self.grades if not g.passed]


@dataclass(frozen=True)
class _Job:
    subject: int
    case: int
    repeat: int


async def run_eval(target: Target, spec: EvalSpec, cases: Sequence[Case], subjects: Sequence[str],
                   made: Sequence[Grader], grading: Grading, *, secrets: Collection[str] = (),
                   progress: Callable[[], None] | None = None) -> list[list[RunRecord]]:
    """Each subject's records (assistant ids, in the order given), in case and repeat order.
    ``progress`` is called once per finished run. A bug in a run cancels the others and
    propagates."""
    jobs = deque(_Job(s, c, r) for c in range(len(cases)) for r in range(spec.repeat) for s in range(len(subjects)))
    records: list[list[RunRecord | None]] = [[None] * (len(cases) * spec.repeat) for _ in subjects]

    async def work() -> None:
        while jobs:
            job = jobs.popleft()  # (jobs start in order: interleaved across subjects)
            record = await _one(target, spec, cases[job.case], job, subjects[job.subject], made, grading)
            records[job.subject][job.case * spec.repeat + job.repeat] = record
            if progress is not None:
                progress()

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(spec.concurrency, len(jobs))):
                group.create_task(work())
    except BaseExceptionGroup as failed:  # the error itself, for the CLI's one line
        if len(failed.exceptions) == 1:
            raise failed.exceptions[0] from None
        raise
    hidden = set(secrets) | grading.secrets
    return [[_redacted(r, hidden) for r in subject if r is not None] for subject in records]


async def _one(target: Target, spec: EvalSpec, case: Case, job: _Job, assistant_id: str,
               made: Sequence[Grader], grading: Grading) -> RunRecord:
    started = time.perf_counter()
    try:
        outcome = await target.run(assistant_id, case.case.input, timeout=spec.timeout,
                                   config=case.case.config or None, context=case.case.context or None)
    except ControllerError as exc:  # an unreachable server fails the run, as it fails a smoke case
        return RunRecord(job.case, job.repeat, False, time.perf_counter() - started, "error", error=f"run failed: {exc}")
    duration = time.perf_counter() - started
    grading.secrets.update(outcome.secrets)
    if outcome.status == "timeout":
        return RunRecord(job.case, job.repeat, False, duration, "timeout", error=f"timed out after {spec.timeout:g}s")
    if outcome.status != "success":
        return RunRecord(job.case, job.repeat, False, duration, outcome.status,
                         error=f"run failed: {outcome.error or outcome.status}")
    grades = await grade_run(made, spec.evaluators, case, outcome.output)
    return RunRecord(job.case, job.repeat, all(g.passed for g in grades), duration, "success", outcome.output, grades)


def _redacted(record: RunRecord, hidden: set[str]) -> RunRecord:
    if not hidden:
        return record
    return replace(record, output=redact(record.output, hidden), error=redact(record.error, hidden),
                   grades=tuple(replace(g, reason=redact(g.reason, hidden)) for g in record.grades))
