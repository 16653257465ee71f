"""Grading one run: each evaluator of an eval gives a grade (a score 0–1, pass or fail, why).

Every evaluator grades every successful run, also after another failed it, so each one's
mean score means the same thing whatever the others said. A grader never raises for a
bad run or a bad answer from a judge: that is a failed grade with its reason. What cannot
grade at all (a python evaluator that does not import) fails before the first run.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.core.errors import ControllerError
from controller.evals import trajectory
from controller.evals.dataset import Case
from controller.evals.pyfunc import load_function
from controller.smoke.checks import Failure, check, walk

if TYPE_CHECKING:
    from controller.config.manifest import Evaluator, Expect
    from controller.targets.base import Target

#: A python evaluator's or a judge's pass mark when none is given.
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class Grade:
    """One evaluator's verdict on one run; ``reason`` says why it failed (or what a judge said)."""

    evaluator: str
    score: float
    passed: bool
    reason: str = ""


@dataclass
class Grading:
    """What graders need besides the run: where judges run, where python files are, and
    the values no reason may show (it grows with what judge runs say their outputs hold)."""

    target: Target
    #: A judge's name → the assistant id to run it as.
    judges: Mapping[str, str]
    root: str
    timeout: float
    secrets: set[str] = field(default_factory=set)


Grader = Callable[[Case, Any], Awaitable[Grade]]


def graders(evaluators: Sequence[Evaluator], grading: Grading) -> list[Grader]:
    """One grader per evaluator, in order. Python functions are imported here, before any
    run: one that cannot be loaded is an error of the command (ControllerError)."""
    made: list[Grader] = []
    for evaluator in evaluators:
        label = evaluator.label
        if evaluator.expect is not None:
            made.append(_expect_grader(label, list(evaluator.expect)))
        elif evaluator.exact is not None:
            made.append(_exact_grader(label, evaluator.exact))
        elif evaluator.trajectory is not None:
            made.append(_trajectory_grader(label, evaluator.trajectory.match))
        elif evaluator.judge is not None:
            made.append(_judge_grader(label, evaluator.judge.assistant, evaluator.judge.minScore, grading))
        elif evaluator.python is not None:
            minimum = DEFAULT_MIN_SCORE if evaluator.minScore is None else evaluator.minScore
            made.append(_python_grader(label, load_function(evaluator.python, grading.root), minimum))
    return made


async def grade_run(made: Sequence[Grader], evaluators: Sequence[Evaluator], case: Case, output: Any) -> tuple[Grade, ...]:
    """Every grade of one successful run. A case's own ``expect`` joins the eval's expect
    evaluator, or is graded as ``expect`` of its own when the eval has none."""
    grades = [await grader(case, output) for grader in made]
    if case.case.expect and not any(e.expect is not None for e in evaluators):
        grades.append(_expectations("expect", list(case.case.expect), output))
    return tuple(grades)


# -- the kinds ---------------------------------------------------------------------------

def _expect_grader(label: str, expects: list[Expect]) -> Grader:
    async def grade(case: Case, output: Any) -> Grade:
        return _expectations(label, expects + list(case.case.expect), output)

    return grade


def _expectations(label: str, expects: list[Expect], output: Any) -> Grade:
    """The smoke matchers: the score is the share that hold, a pass needs all."""
    failures = [f for e in expects if (f := check(e, output)) is not None]
    if not expects:
        return Grade(label, 1.0, True)
    return Grade(label, 1 - len(failures) / len(expects), not failures, failure_text(failures[0]) if failures else "")


def _exact_grader(label: str, path: str) -> Grader:
    from controller.config.manifest import Expect

    async def grade(case: Case, output: Any) -> Grade:
        found, expected, why = walk(case.case.reference, path)
        if not found:
            return Grade(label, 0.0, False, f"the case's reference has no {path}: {why.replace('the output', 'the reference')}")
        failure = check(Expect.model_validate({"path": path, "equals": expected}), output)
        return Grade(label, 1.0 if failure is None else 0.0, failure is None, failure_text(failure) if failure else "")

    return grade


def _trajectory_grader(label: str, mode: str) -> Grader:
    async def grade(case: Case, output: Any) -> Grade:
        try:
            reference = trajectory.reference_calls(case.case.reference)
        except trajectory.ReferenceError as exc:
            return Grade(label, 0.0, False, str(exc))
        calls = trajectory.tool_calls(output)
        if trajectory.matches(mode, calls, reference):
            return Grade(label, 1.0, True)
        return Grade(label, 0.0, False, f"tool calls {trajectory.describe(calls)}; "
                                        f"expected ({mode}) {trajectory.describe(reference)}")

    return grade


def _judge_grader(label: str, judge: str, minimum: float, grading: Grading) -> Grader:
    async def grade(case: Case, output: Any) -> Grade:
        payload = {"input": case.case.input, "output": output, "reference": case.case.reference}
        try:
            outcome = await grading.target.run(grading.judges[judge], payload, timeout=grading.timeout)
        except ControllerError as exc:
            return Grade(label, 0.0, False, f"the judge's run failed: {exc}")
        grading.secrets.update(outcome.secrets)
        if outcome.status != "success":
            return Grade(label, 0.0, False, f"the judge's run {_ended(outcome.status)}: {outcome.error or outcome.status}")
        answer = outcome.output if isinstance(outcome.output, dict) else {}
        return _scored(label, answer.get("score"), answer.get("comment"), minimum, "the judge")

    return grade


def _python_grader(label: str, function: Callable[..., Any], minimum: float) -> Grader:
    async def grade(case: Case, output: Any) -> Grade:
        args = copy.deepcopy((case.case.input, output, case.case.reference))  # one grader cannot change what the next sees
        try:
            if inspect.iscoroutinefunction(function):
                value = await function(*args)
            else:  # in a thread: a slow function (one that calls a model) must not stall the other runs
                value = await asyncio.to_thread(function, *args)
        except Exception as exc:
            return Grade(label, 0.0, False, f"raised {type(exc).__name__}: {exc}")
        if isinstance(value, dict):
            return _scored(label, value.get("score"), value.get("comment"), minimum, "it")
        return _scored(label, value, None, minimum, "it")

    return grade


def _scored(label: str, score: Any, comment: Any, minimum: float, who: str) -> Grade:
    """A bool passes when true; a number in 0–1 when at least ``minimum``."""
    note = f": {comment}" if isinstance(comment, str) and comment else ""
    if isinstance(score, bool):
        return Grade(label, float(score), score, ("false" + note) if not score else note.removeprefix(": "))
    if not isinstance(score, int | float) or not 0 <= score <= 1:
        return Grade(label, 0.0, False, f"{who} gave no score between 0 and 1 (got {json.dumps(score, default=repr)[:80]})")
    passed = score >= minimum
    reason = f"score {score:.2f} < {minimum:g}{note}" if not passed else note.removeprefix(": ")
    return Grade(label, float(score), passed, reason)


def _ended(status: str) -> str:
    return {"timeout": "timed out", "interrupted": "stopped at an interrupt"}.get(status, "failed")


def failure_text(failure: Failure) -> str:
    """A smoke failure in one line: matcher, path, why, expected and actual."""
    if failure.kind != "assertion":
        return failure.message
    actual = _short(failure.actual) if failure.found else "(missing)"
    return (f"{failure.matcher} {failure.path or '(whole output)'}: {failure.message} "
            f"(expected {_short(failure.expected)}, got {actual})")


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else f"{text[:limit]}…"
