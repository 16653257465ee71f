"""An eval's cases, from the manifest or from a dataset file beside it.

A dataset is read when an eval is checked or run, never kept with the manifest's load:
the load store keys a manifest on its own text and variables, so a stored load would
hide an edited dataset. Reading one costs a file read per eval, not per manifest.

A dataset is a YAML list of cases, or JSON Lines (``.jsonl``/``.ndjson``: one case per
line, for datasets too large for YAML's 1 MiB limit). Every case is validated like an
inline one, and every problem is reported at the dataset's own file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.config.yamlio import Document, Path, YamlError, load_documents, read_text
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path

if TYPE_CHECKING:
    from controller.config.manifest import EvalCase, EvalSpec

JSON_LINES = (".jsonl", ".ndjson")
#: JSON Lines are read whole; past this a dataset is refused rather than read into memory.
MAX_JSONL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """A case as evaluated: the name reports and JUnit use, and the validated case."""

    name: str
    case: EvalCase


class DatasetMissing(Exception):
    """The dataset file is not there (or cannot be read): the manifest's line says where it is named."""


@dataclass(frozen=True)
class Home:
    """Where an eval is written: the file its dataset path is relative to (as the user sees
    it), and its ``file:line`` when a Defaults document added it (else "": the manifest)."""

    file: str
    defaults: str = ""


def eval_homes(count: int, origins: Mapping[Path, str], manifest_file: str, manifest_source: str) -> tuple[Home, ...]:
    """Each of a manifest's ``count`` evals' home. ``origins`` (by document path, from the
    load) names the Defaults document that added an eval (``defaults/shared.yaml:8``, from
    the project root); its dataset is then relative to that file, as its prompt files are."""
    full = os.path.abspath(manifest_file)
    root = full[:-len(manifest_source)] if manifest_source and full.endswith(manifest_source) else ""
    homes = []
    for index in range(count):
        origin = next((o for p, o in origins.items() if p[:3] == ("spec", "evals", index)), "")
        where = origin[origin.rfind("(") + 1:].rstrip(")") if origin.endswith(")") else origin
        source = where.rpartition(":")[0]
        homes.append(Home(display_path(os.path.join(root, source)), where) if root and source else Home(manifest_file))
    return tuple(homes)


def dataset_path(spec: EvalSpec, home: str) -> str | None:
    """Where ``spec.dataset`` is: relative to the folder of ``home``, the file that declares
    the eval (None for inline cases)."""
    if spec.dataset is None:
        return None
    return os.path.normpath(os.path.join(os.path.dirname(home), spec.dataset))


def eval_cases(spec: EvalSpec, home: str) -> tuple[list[Case], list[Problem]]:
    """The eval's cases and the problems of its dataset (raises DatasetMissing). ``home``:
    the file that declares the eval (:func:`eval_homes`)."""
    path = dataset_path(spec, home)
    if path is None:
        return _named(spec.cases or []), []
    return read_dataset(path)


def read_dataset(path: str) -> tuple[list[Case], list[Problem]]:
    """A dataset file's valid cases, and a problem (file:line) for each invalid one."""
    shown = display_path(path)
    try:
        if path.endswith(JSON_LINES):
            documents, problems = _json_lines(path, shown)
        else:
            documents, problems = _yaml_list(path, shown)
    except OSError as exc:
        raise DatasetMissing(exc.strerror or str(exc)) from None
    cases: list[EvalCase] = []
    for index, doc in enumerate(documents):
        case, found = _validate(doc, index, shown)
        problems += found
        if case is not None:
            cases.append(case)
    if not documents and not problems:
        problems.append(Problem(shown, 0, "", "the dataset has no cases"))
    return _named(cases), sorted(problems)


def _named(cases: list[EvalCase]) -> list[Case]:
    return [Case(c.name or f"case {i + 1}", c) for i, c in enumerate(cases)]


def _yaml_list(path: str, shown: str) -> tuple[list[Document], list[Problem]]:
    """Each item of the file's one YAML list, as a document of its own (with its lines)."""
    try:
        docs = load_documents(read_text(path))
    except YamlError as exc:
        return [], [Problem(shown, exc.line, "", str(exc))]
    if len(docs) != 1 or not isinstance(docs[0].data, list):
        what = "several YAML documents" if len(docs) > 1 else "no list" if docs else "nothing"
        return [], [Problem(shown, docs[0].line if docs else 0, "",
                            f"expected a YAML list of cases (or JSON Lines in a .jsonl file), found {what}")]
    doc = docs[0]
    return [Document(item, doc.line_of((i,)), {p[1:]: line for p, line in doc.lines.items() if p[:1] == (i,)})
            for i, item in enumerate(doc.data)], []


def _json_lines(path: str, shown: str) -> tuple[list[Document], list[Problem]]:
    """One JSON object per non-blank line."""
    if os.path.getsize(path) > MAX_JSONL_BYTES:
        return [], [Problem(shown, 0, "", f"larger than {MAX_JSONL_BYTES // (1024 * 1024)} MiB")]
    documents, problems = [], []
    with open(path, encoding="utf-8-sig", errors="strict") as fh:
        try:
            lines = fh.read().splitlines()
        except UnicodeDecodeError as exc:
            return [], [Problem(shown, 0, "", f"not UTF-8 text ({exc.reason})")]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            documents.append(Document(json.loads(line), number))
        except ValueError as exc:
            problems.append(Problem(shown, number, "", f"not JSON: {exc}"))
    return documents, problems


def _validate(doc: Document, index: int, shown: str) -> tuple[EvalCase | None, list[Problem]]:
    from pydantic import ValidationError

    from controller.config.manifest import EvalCase
    from controller.config.problems import pydantic_problems

    if not isinstance(doc.data, dict):
        return None, [Problem(shown, doc.line, f"[{index}]", f"a case is a mapping with input (and reference, expect …), "
                                                            f"got {_kind(doc.data)}")]
    try:
        return EvalCase.model_validate(doc.data), []
    except ValidationError as exc:
        found = pydantic_problems(exc, EvalCase, doc, shown)
        return None, [Problem(p.file, p.line, f"[{index}]" + (f".{p.path}" if p.path else ""), p.message) for p in found]


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean",
            type(None): "nothing"}.get(type(value), f"a {type(value).__name__}")


def inlined(spec: EvalSpec, home: str) -> EvalSpec:
    """``spec`` with its dataset's cases written inline (each named as reports name it): what
    a saved plan carries and a verdict is keyed on, so neither changes meaning when the
    dataset file is edited later. Raises DatasetMissing, or InvalidInput for an invalid dataset."""
    if spec.dataset is None:
        return spec
    cases, problems = eval_cases(spec, home)
    if problems:
        raise InvalidInput(problems)
    named = [c.case.model_copy(update={"name": c.name}) for c in cases]
    return spec.model_copy(update={"dataset": None, "cases": named})
