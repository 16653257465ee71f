"""What an eval refers to outside its own manifest, checked before anything runs: its
dataset (there, and every case valid), its python evaluators (the file and the function),
and its judges (declared by a manifest). Each problem is one line at its file and line.

Kept out of the manifest's own validation on purpose: the load store keeps a manifest's
validated data by its own text and variables, and none of these live there.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from controller.core.errors import Problem
from controller.core.fs import display_path
from controller.core.paths import dotted

if TYPE_CHECKING:
    from controller.config.loaded import LoadedManifest
    from controller.config.manifest import EvalSpec
    from controller.evals.dataset import Home


def eval_problems(loaded: Sequence[LoadedManifest], root: str, declared: Collection[str] | None = None) -> list[Problem]:
    """Every problem of the evals of ``loaded``. ``declared``: the names judges may be
    (default: the names in ``loaded``). Cheap when no manifest declares evals: the dataset
    and python modules are imported only for one that does."""
    with_evals = [item for item in loaded if item.data.get("spec", {}).get("evals")]
    if not with_evals:
        return []
    names = set(declared) if declared is not None else {m.name for m in loaded}
    problems: list[Problem] = []
    for item in with_evals:
        from controller.evals.dataset import eval_homes

        specs = item.manifest.spec.evals
        for index, (spec, home) in enumerate(zip(specs, eval_homes(len(specs), item.origins, item.file, item.source),
                                                 strict=True)):
            problems += _spec_problems(item, index, spec, home, root, names)
    return problems


def _spec_problems(item: LoadedManifest, index: int, spec: EvalSpec, home: Home, root: str,
                   names: set[str]) -> list[Problem]:
    from controller.evals.dataset import DatasetMissing, dataset_path, eval_cases
    from controller.evals.pyfunc import ref_problem

    base: tuple[str | int, ...] = ("spec", "evals", index)

    def at(*path: str | int, message: str) -> Problem:
        if home.defaults:  # a Defaults document added the eval: point there, and say for whom
            line = home.defaults.rpartition(":")[2]
            return Problem(home.file, int(line) if line.isdigit() else 0, dotted(path), f"{message} (an eval of {item.name})")
        return Problem(item.file, item.document.line_of((*base, *path)), dotted((*base, *path)), message)

    problems: list[Problem] = []
    if spec.dataset is not None:
        try:
            problems += eval_cases(spec, home.file)[1]
        except DatasetMissing as exc:
            where = display_path(dataset_path(spec, home.file) or "")
            problems.append(at("dataset", message=f"cannot read the dataset {where} ({exc}; a dataset is relative to the file that declares its eval)"))
    for number, evaluator in enumerate(spec.evaluators):
        if evaluator.judge is not None and evaluator.judge.assistant not in names:
            known = ", ".join(sorted(names)) or "none"
            problems.append(at("evaluators", number, "judge", "assistant",
                               message=f"judge {evaluator.judge.assistant!r} is not a declared assistant (declared: {known})"))
        if evaluator.python is not None and (why := ref_problem(evaluator.python, root)) is not None:
            problems.append(at("evaluators", number, "python", message=why))
    return problems
