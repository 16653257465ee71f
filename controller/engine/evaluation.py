"""``controller eval``: the declared evals of the chosen assistants, on their active
versions, or (``candidate``) on temporary candidates made from the manifests and compared
with the active versions.

Everything that can be wrong is found before the first write or run: an unknown name, an
assistant or judge not on the target, a dataset or python evaluator that does not load.
Candidates (the assistant's, and a judge's whose manifest differs from its active
version) are deleted when their evals end, whatever happens; content equal to the active
version is not copied: the active version is evaluated, and the result says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from controller.core.content import same_content
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.core.suggest import named
from controller.engine.desired import Desired, secrets_of
from controller.engine.gating import judge_names
from controller.evals.candidate import candidate
from controller.evals.evaluate import EvalResult, Prepared, Subject, evaluate, needs_baseline, prepare, total_runs
from controller.targets.base import AssistantState, Target

#: Called with (runs done, runs in all) as runs finish.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EvalOptions:
    names: Sequence[str] = ()
    #: Evaluate the manifests' content as candidates, against the active versions.
    candidate: bool = False


@dataclass
class _Planned:
    """One assistant's evals, ready to run: on what, and against what."""

    desired: Desired
    live: AssistantState | None
    use_candidate: bool
    note: str
    prepared: list[Prepared] = field(default_factory=list)

    def baseline(self, prepared: Prepared) -> Subject | None:
        if self.use_candidate and self.live is not None and needs_baseline(prepared.spec):
            return Subject(self.live.assistant_id, self.live.version)
        return None


def choose(desired: Sequence[Desired], names: Sequence[str]) -> list[Desired]:
    """The assistants to evaluate: those named (each must exist and declare evals), else every one with evals."""
    if not names:
        return [d for d in desired if d.evals]
    by_name = {d.name: d for d in named(desired, names)}
    if problems := [Problem(by_name[n].file, 0, "", f"{n}: declares no evals (spec.evals)")
                    for n in names if not by_name[n].evals]:
        raise InvalidInput(problems)
    return [by_name[n] for n in dict.fromkeys(names)]


async def evaluate_declared(target: Target, desired: Sequence[Desired], root: str, where: str,
                            options: EvalOptions = EvalOptions(), progress: Progress | None = None) -> list[EvalResult]:
    """Every eval of the chosen assistants, in manifest order, one eval after another (each
    with its own concurrency). ``where`` names the target in errors."""
    chosen = choose(desired, options.names)
    if not chosen:
        return []
    by_name = {d.name: d for d in desired}
    judged_by = sorted(judge_names(chosen))
    live = await target.get_many({d.assistant_id for d in chosen} | {by_name[n].assistant_id for n in judged_by})
    plans = [_plan(d, live.get(d.assistant_id), options.candidate) for d in chosen]
    missing = [p.desired.name for p in plans if p.live is None and not p.use_candidate]
    if missing:
        raise ControllerError(f"not on {where}: {', '.join(missing)} (run controller apply first, or eval --candidate)")
    judges, judge_candidates = _judges(judged_by, by_name, live, options.candidate, where)
    for plan in plans:  # every dataset and python evaluator loads before anything is written or run
        plan.prepared = [prepare(target, plan.desired.name, spec, home.file, root, judges)
                         for spec, home in zip(plan.desired.evals, plan.desired.eval_homes, strict=True)]
    secrets = _secrets([*chosen, *(by_name[n] for n in judged_by)], live)
    tick = _counter(total_runs([(p, plan.baseline(p) is not None) for plan in plans for p in plan.prepared]), progress)
    results: list[EvalResult] = []
    async with AsyncExitStack() as stack:
        for name in judge_candidates:
            judge = by_name[name]
            judges[name] = await stack.enter_async_context(candidate(target, judge.content, judge.assistant_id))
        for plan in plans:
            results += await _run(target, plan, secrets, tick)
    return results


def _plan(d: Desired, live: AssistantState | None, use_manifests: bool) -> _Planned:
    if not use_manifests:
        return _Planned(d, live, False, "")
    if live is None:
        return _Planned(d, None, True, f"a candidate from the manifests ({d.name} is not on the target yet: "
                                       "no active version to compare with)")
    if same_content(d.content, live.content):
        return _Planned(d, live, False, f"the manifests' content equals the active version v{live.version}: "
                                        f"evaluated v{live.version}")
    return _Planned(d, live, True, f"a candidate from the manifests, against the active version v{live.version}")


def _judges(names: Sequence[str], by_name: Mapping[str, Desired], live: Mapping[str, AssistantState],
            use_manifests: bool, where: str) -> tuple[dict[str, str], list[str]]:
    """Each judge's assistant id, and the judges that need a candidate: with ``use_manifests``,
    those whose manifest differs from their active version (or that are not on the target)."""
    ids: dict[str, str] = {}
    candidates: list[str] = []
    for name in names:
        state = live.get(by_name[name].assistant_id)
        if use_manifests and (state is None or not same_content(by_name[name].content, state.content)):
            candidates.append(name)
        elif state is None:
            raise ControllerError(f"the judge {name!r} is not on {where} (run controller apply first, or eval --candidate)")
        else:
            ids[name] = state.assistant_id
    return ids, candidates


def _secrets(declared: Sequence[Desired], live: Mapping[str, AssistantState]) -> set[str]:
    """Values from the environment, in the manifests' content and in what runs now."""
    found: set[str] = set()
    for d in declared:
        state = live.get(d.assistant_id)
        found |= secrets_of(d.sensitive, d.content, state.content if state is not None else None)
    return found


def _counter(total: int, progress: Progress | None) -> Callable[[], None] | None:
    if progress is None:
        return None
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    return tick


async def _run(target: Target, plan: _Planned, secrets: set[str], tick: Callable[[], None] | None) -> list[EvalResult]:
    """The assistant's evals, on its candidate (made here, deleted at the end) or its active version."""
    d = plan.desired
    async with AsyncExitStack() as stack:
        if plan.use_candidate:
            subject = Subject(await stack.enter_async_context(candidate(target, d.content, d.assistant_id)), None, True)
        else:
            assert plan.live is not None
            subject = Subject(plan.live.assistant_id, plan.live.version)
        return [await evaluate(target, p, subject, plan.baseline(p), secrets=secrets, progress=tick, note=plan.note)
                for p in plan.prepared]
