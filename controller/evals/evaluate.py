"""One eval of one assistant, from its spec to a verdict: the API ``controller eval`` and
apply's gating call.

    prepared = prepare(target, "faq-bot", spec, home, root, judges)   # reads the dataset (home: Declared.eval_homes)
    result = await evaluate(target, prepared, Subject(candidate_id, None, candidate=True),
                            baseline=Subject(live_id, live_version))             # interleaved
    result.ok, result.candidate.sample.pass_rate, result.verdict.reasons

A gate without ``maxRegression`` needs no baseline (:func:`needs_baseline`). When the
baseline has to be evaluated at another time than the candidate (``smoke: after``
evaluates the active version before writing the new one), run each with
:func:`run_subject` and join them with :func:`conclude`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.core.errors import InvalidInput, Problem
from controller.evals.dataset import Case, DatasetMissing, dataset_path, eval_cases
from controller.evals.evaluators import Grader, Grading, graders
from controller.evals.gate import Sample, Verdict, decide
from controller.evals.runner import RunRecord, run_eval

if TYPE_CHECKING:
    from controller.config.manifest import EvalSpec
    from controller.targets.base import Target


@dataclass(frozen=True)
class Subject:
    """What an eval runs on: an assistant id, its active version (None for a candidate)."""

    assistant_id: str
    version: int | None = None
    candidate: bool = False

    @property
    def label(self) -> str:
        return "candidate" if self.candidate else f"v{self.version}" if self.version is not None else self.assistant_id


@dataclass(frozen=True)
class Prepared:
    """An eval ready to run: its spec, its cases (the dataset read), its graders."""

    assistant: str
    spec: EvalSpec
    cases: tuple[Case, ...]
    graders: tuple[Grader, ...]
    grading: Grading

    @property
    def runs_per_subject(self) -> int:
        return len(self.cases) * self.spec.repeat


@dataclass(frozen=True)
class SubjectResult:
    """One subject's runs of an eval, and what they add up to."""

    subject: Subject
    records: tuple[RunRecord, ...]

    @property
    def sample(self) -> Sample:
        return Sample(len(self.records), sum(r.passed for r in self.records), tuple(r.duration_s for r in self.records))

    @property
    def scores(self) -> dict[str, float]:
        """Each evaluator's mean score over the runs it graded (runs that failed to run are not graded)."""
        totals: dict[str, list[float]] = {}
        for record in self.records:
            for grade in record.grades:
                totals.setdefault(grade.evaluator, []).append(grade.score)
        return {label: sum(scores) / len(scores) for label, scores in totals.items()}

    @property
    def errors(self) -> int:
        """Runs that did not finish (timed out or failed): graded by no evaluator."""
        return sum(1 for r in self.records if r.status != "success")


@dataclass(frozen=True)
class EvalResult:
    """An eval of one assistant: the candidate's runs, the baseline's (or None), the verdict."""

    assistant: str
    name: str
    cases: tuple[Case, ...]
    repeat: int
    candidate: SubjectResult
    baseline: SubjectResult | None
    verdict: Verdict
    #: Said with the result, e.g. that the manifest's content equals the active version.
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict.ok


def needs_baseline(spec: EvalSpec) -> bool:
    """Only ``maxRegression`` compares with the version a candidate would replace."""
    return spec.gate.maxRegression is not None


def prepare(target: Target, assistant: str, spec: EvalSpec, home: str, root: str,
            judges: Mapping[str, str]) -> Prepared:
    """Read the eval's cases and load its graders. ``home``: the file that declares the eval
    (its dataset is relative to it: ``Declared.eval_homes``); ``judges``: each judge's name →
    the assistant id to run it as. Raises InvalidInput for a dataset that is missing or
    invalid (file:line), ControllerError for a python evaluator that does not import:
    before any run."""
    try:
        cases, problems = eval_cases(spec, home)
    except DatasetMissing as exc:
        raise InvalidInput([_problem(spec, home, assistant, str(exc))]) from None
    if problems:
        raise InvalidInput(problems)
    grading = Grading(target, judges, root, spec.timeout)
    return Prepared(assistant, spec, tuple(cases), tuple(graders(spec.evaluators, grading)), grading)


def _problem(spec: EvalSpec, home: str, assistant: str, why: str) -> Problem:
    return Problem(home, 0, "", f"{assistant}: eval {spec.name!r}: cannot read the dataset {dataset_path(spec, home)} ({why})")


async def run_subject(target: Target, prepared: Prepared, subject: Subject, *, secrets: Collection[str] = (),
                      progress: Callable[[], None] | None = None) -> SubjectResult:
    """Every case of the eval, ``repeat`` times, on ``subject`` alone."""
    (records,) = await run_eval(target, prepared.spec, prepared.cases, [subject.assistant_id], prepared.graders,
                                prepared.grading, secrets=secrets, progress=progress)
    return SubjectResult(subject, tuple(records))


async def evaluate(target: Target, prepared: Prepared, subject: Subject, baseline: Subject | None = None, *,
                   secrets: Collection[str] = (), progress: Callable[[], None] | None = None, note: str = "") -> EvalResult:
    """The eval on ``subject`` (and ``baseline``, interleaved with it), and its verdict."""
    subjects = [subject] + ([baseline] if baseline is not None else [])
    runs = await run_eval(target, prepared.spec, prepared.cases, [s.assistant_id for s in subjects], prepared.graders,
                          prepared.grading, secrets=secrets, progress=progress)
    results = [SubjectResult(s, tuple(r)) for s, r in zip(subjects, runs, strict=True)]
    return conclude(prepared, results[0], results[1] if baseline is not None else None, note=note)


def conclude(prepared: Prepared, candidate: SubjectResult, baseline: SubjectResult | None, *, note: str = "",
             no_baseline: str | None = None) -> EvalResult:
    """The verdict on ``candidate``'s runs (against ``baseline``'s; ``no_baseline`` says why there is none)."""
    if no_baseline is None:
        no_baseline = "no active version to compare with" if candidate.subject.candidate else "evaluated the active version itself"
    verdict = decide(prepared.spec.gate, candidate.sample, baseline.sample if baseline is not None else None,
                     no_baseline=no_baseline)
    return EvalResult(prepared.assistant, prepared.spec.name, prepared.cases, prepared.spec.repeat, candidate, baseline,
                      verdict, note)


def total_runs(items: Sequence[tuple[Prepared, bool]]) -> int:
    """Runs (without judge runs) of evaluating each prepared eval, with a baseline or not."""
    return sum(p.runs_per_subject * (2 if with_baseline else 1) for p, with_baseline in items)
