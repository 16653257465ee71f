"""Whether a version is good enough to stay: its smoke cases and its evals, one judgement.

Apply's phases call this module (engine/apply.py); it owns what judging a change takes:

- Before the first write, every eval of the changes to judge is prepared: datasets read,
  python evaluators imported, judges found. A bad one stops the apply with nothing written.
- ``smoke: after``: the active version is evaluated first (the baseline), and only for a
  gate with ``maxRegression``: it is what the new version will replace. Once the new
  version is written, its cases run, then its evals; a change whose cases failed fails
  without spending its evals' runs.
- ``smoke: before``: a candidate's cases run, then its evals, interleaved with the active
  version's runs when the gate compares with it (evals/runner.py).

A verdict is recorded with what judged it (:func:`verdict_key`): the smoke cases and the
evals, their datasets inline, so an edited dataset is a new test of the same content, and
a saved plan (which carries its evals inline) means the same test as the manifests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.config.settings import SMOKE_CONCURRENCY
from controller.core.content import CANDIDATE_KEY, NAME_KEY, OWNER_KEY
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.engine import verdicts
from controller.engine.events import EvalFinished, Event, SmokeResult
from controller.smoke.runner import CaseResult, run_suite

if TYPE_CHECKING:
    from controller.config.manifest import EvalSpec
    from controller.engine.desired import Declared
    from controller.engine.plan import Change
    from controller.evals.evaluate import EvalResult, Prepared, SubjectResult
    from controller.targets.base import Target

Emit = Callable[[Event], None]
#: Why a version written by ``smoke: after`` has no baseline: it is the assistant's first.
_NO_BASELINE = "no earlier version to compare with"


@dataclass(frozen=True)
class Judgement:
    """What a version's cases and evals said of it."""

    cases: tuple[CaseResult, ...] = ()
    evals: tuple[EvalResult, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases) and all(e.ok for e in self.evals)

    @property
    def pass_rate(self) -> float | None:
        """The share of the version's eval runs that passed, over all its evals (None without evals)."""
        runs = sum(e.candidate.sample.runs for e in self.evals)
        return sum(e.candidate.sample.passed for e in self.evals) / runs if runs else None

    @property
    def why(self) -> str:
        """What failed, said in a rollback's or a refusal's message."""
        if not all(c.passed for c in self.cases):
            return "smoke tests failed"
        failed = [f"{e.name}: {'; '.join(e.verdict.reasons)}" for e in self.evals if not e.ok]
        return f"eval gate failed ({' / '.join(failed)})" if failed else "passed"


def verdict_key(declared: Declared) -> str:
    """The key of what judges ``declared``'s versions (engine/verdicts.py ``cases_key``): its
    smoke cases, and its evals with their datasets' cases inline. A dataset that cannot be
    read keys as its path: it judges nothing until it is fixed."""
    if not declared.evals:
        return verdicts.cases_key(declared.smoke)
    return verdicts.cases_key(declared.smoke, [_inline(spec, home.file)
                                               for spec, home in zip(declared.evals, declared.eval_homes, strict=True)])


def _inline(spec: EvalSpec, home: str) -> EvalSpec:
    from controller.evals.dataset import DatasetMissing, inlined

    try:
        return inlined(spec, home)
    except (DatasetMissing, InvalidInput):
        return spec


def judge_names(declared: Iterable[Declared]) -> set[str]:
    """The assistants that grade these changes' (or manifests') evals."""
    return {e.judge.assistant for d in declared for spec in d.evals for e in spec.evaluators if e.judge is not None}


def judges_first(changes: Sequence[Change], judges: Collection[str]) -> list[list[Change]]:
    """The plan's changes in stages: the judges' writes (and the writes they wait for) first, so
    a judge is written and judged before the assistants it grades; then the rest."""
    first_ids = {c.assistant_id for c in changes if c.name in judges and c.writes and c.action != "delete"}
    if not first_ids:
        return [list(changes)]
    by_id = {c.assistant_id: c for c in changes}
    todo = list(first_ids)
    while todo:  # (the writes a judge's write waits for: engine/unique.py)
        for waited in by_id[todo.pop()].after:
            if waited in by_id and waited not in first_ids:
                first_ids.add(waited)
                todo.append(waited)
    return [[c for c in changes if c.assistant_id in first_ids], [c for c in changes if c.assistant_id not in first_ids]]


class Gating:
    """The judging of one apply's changes: their prepared evals, and the baselines measured
    before the writes (``smoke: after``)."""

    def __init__(self, target: Target, emit: Emit, *, root: str, concurrency: int):
        self.target, self.emit, self.root, self.concurrency = target, emit, root, concurrency
        self.prepared: dict[str, list[Prepared]] = {}
        self.baselines: dict[tuple[str, int], SubjectResult] = {}
        self.judge_secrets: set[str] = set()

    async def prepare(self, changes: Sequence[Change], every: Sequence[Change], owner: str) -> None:
        """Read the datasets and load the graders of ``changes``' evals, before anything is
        written. A judge is found among ``every`` change of the plan, else on the target."""
        from controller.evals.evaluate import prepare

        with_evals = [c for c in changes if c.evals]
        if not with_evals:
            return
        judges = await self._judges(judge_names(with_evals), every, owner)
        self.judge_secrets = {s for c in every if c.name in judges for s in c.secrets}
        problems: list[Problem] = []
        for c in with_evals:
            try:
                self.prepared[c.assistant_id] = [prepare(self.target, c.name, spec, home.file, self.root, judges)
                                                 for spec, home in zip(c.evals, c.eval_homes, strict=True)]
            except InvalidInput as exc:
                problems += exc.problems
        if problems:
            raise InvalidInput(problems)

    async def _judges(self, names: set[str], every: Sequence[Change], owner: str) -> dict[str, str]:
        found = {c.name: c.assistant_id for c in every if c.name in names and c.action != "delete"}
        missing = names - found.keys()
        if missing:  # declared and unchanged, but not in this plan (apply NAME, a watch pass's few files)
            for state in await self.target.list_assistants({OWNER_KEY: owner}):
                name = state.content.metadata.get(NAME_KEY)
                if name in missing and CANDIDATE_KEY not in state.content.metadata:
                    found[str(name)] = state.assistant_id
        if names - found.keys():
            raise ControllerError(f"the judge{'s' if len(names - found.keys()) > 1 else ''} "
                                  f"{', '.join(sorted(names - found.keys()))} not on the target nor in the plan")
        return found

    def gates(self, change: Change) -> bool:
        """Does anything judge ``change`` (cases, or evals prepared for it)?"""
        return bool(change.smoke or self.prepared.get(change.assistant_id))

    async def measure_baselines(self, changes: Iterable[Change]) -> None:
        """``smoke: after``: evaluate what each change will replace, before it is written (only
        the evals whose gate compares with it)."""
        from controller.evals.evaluate import Subject, needs_baseline, run_subject

        for c in changes:
            if c.seen_version is None:
                continue
            for index, prepared in enumerate(self.prepared.get(c.assistant_id, ())):
                if needs_baseline(prepared.spec):
                    self.baselines[(c.assistant_id, index)] = await run_subject(
                        self.target, prepared, Subject(c.assistant_id, c.seen_version), secrets=self._secrets(c))

    async def after(self, changes: Sequence[Change], versions: Mapping[str, int]) -> dict[str, Judgement]:
        """Judge the versions just written (``versions``: by assistant id): cases, then evals."""
        from controller.evals.evaluate import Subject, conclude, run_subject

        suite = await run_suite(self.target, [(c.name, c.assistant_id, list(c.smoke)) for c in changes if c.smoke],
                                concurrency=min(self.concurrency, SMOKE_CONCURRENCY),
                                secrets={c.name: c.secrets for c in changes})
        out = {}
        for c in changes:
            cases = tuple(r for r in suite.results if r.assistant == c.name)
            for r in cases:
                self.emit(SmokeResult(c.name, r))
            evals = []
            if all(r.passed for r in cases):
                subject = Subject(c.assistant_id, versions[c.assistant_id])
                for index, prepared in enumerate(self.prepared.get(c.assistant_id, ())):
                    runs = await run_subject(self.target, prepared, subject, secrets=self._secrets(c))
                    baseline = self.baselines.get((c.assistant_id, index))
                    evals.append(self._finished(conclude(prepared, runs, baseline, no_baseline=_NO_BASELINE), False))
            out[c.assistant_id] = Judgement(cases, tuple(evals))
        return out

    async def before(self, change: Change) -> Judgement:
        """Judge ``change``'s content on a temporary candidate (always deleted): cases, then
        evals beside the active version when a gate compares with it."""
        from controller.evals.candidate import candidate
        from controller.evals.evaluate import Subject, evaluate, needs_baseline

        assert change.content is not None
        async with candidate(self.target, change.content, change.assistant_id) as candidate_id:
            suite = await run_suite(self.target, [(change.name, candidate_id, list(change.smoke))],
                                    secrets={change.name: change.secrets})
            for r in suite.results:
                self.emit(SmokeResult(change.name, r, candidate=True))
            evals = []
            if suite.ok:
                live = Subject(change.assistant_id, change.seen_version) if change.seen_version is not None else None
                for prepared in self.prepared.get(change.assistant_id, ()):
                    result = await evaluate(self.target, prepared, Subject(candidate_id, None, candidate=True),
                                            live if needs_baseline(prepared.spec) else None,
                                            secrets=self._secrets(change))
                    evals.append(self._finished(result, True))
        return Judgement(tuple(suite.results), tuple(evals))

    def _secrets(self, change: Change) -> set[str]:
        return change.secrets | self.judge_secrets

    def _finished(self, result: EvalResult, candidate: bool) -> EvalResult:
        self.emit(EvalFinished(result.assistant, result, candidate))
        return result
