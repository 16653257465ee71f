"""Shared defaults (``kind: Defaults``): what twenty assistants would otherwise each repeat.

A Defaults document selects assistants by label and is merged *under* each one it selects:
maps merge key by key and the assistant's own value wins; the ``smoke`` and ``evals`` lists
are appended to the assistant's own cases (shared checks add to an assistant's, they do not
replace them); any other list is replaced by the assistant's. Two Defaults that give one
assistant's field different values, where the assistant does not decide it itself, are an
error naming both: which one wins must never depend on file order.

This module is pure: documents as loaded in, the effective spec and where each of its
values came from out (a plan names it: ``from defaults/support.yaml:6``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from controller.config.yamlio import Path, line_of
from controller.core.content import plain_copy
from controller.core.errors import Problem
from controller.core.paths import dotted

#: Lists of a spec that Defaults append to rather than replace (checks add up).
APPENDED = frozenset({"smoke", "evals"})


@dataclass(frozen=True)
class DefaultsDoc:
    """One valid Defaults document, interpolated in its own folder (its prompt files are
    relative to it). Paths in ``lines``, ``templates`` and ``reads`` are within ``spec``."""

    name: str
    #: The file from the project root, and as the user sees it.
    source: str
    file: str
    index: int
    line: int
    match: Mapping[str, str]
    spec: dict[str, Any]
    lines: Mapping[Path, int] = field(default_factory=dict)
    #: The template of each value that came from the environment.
    templates: Mapping[Path, str] = field(default_factory=dict)
    #: The prompt files each value read (as output names them).
    reads: Mapping[Path, tuple[str, ...]] = field(default_factory=dict)

    def selects(self, labels: Mapping[str, Any]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())

    def line_of(self, path: Path) -> int:
        return line_of(self.lines, path, self.line)

    def at(self, path: Path) -> str:
        return f"{self.source}:{self.line_of(path)}"

    @cached_property
    def fingerprint(self) -> str:
        """Everything an assistant it selects takes from it (values, their places and lines), and
        whom it selects, as a hash: in memory only, since values from the environment are in it."""
        text = json.dumps([self.name, self.source, self.index, sorted(self.match.items()), self.spec,
                           sorted(map(list, self.lines.items())),
                           sorted((list(p), t) for p, t in self.templates.items()),
                           sorted((list(p), list(r)) for p, r in self.reads.items())],
                          sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class DefaultsSet:
    """Every valid Defaults document of a load, in a fixed order (by file, then place in it),
    and the problems found loading them."""

    def __init__(self, docs: Iterable[DefaultsDoc] = (), problems: Iterable[Problem] = (),
                 warnings: Iterable[Problem] = ()):
        self.docs = tuple(sorted(docs, key=lambda d: (d.source, d.index)))
        self.problems = list(problems)
        #: Unset variables, where they are warnings (``validate`` without secrets).
        self.warnings = list(warnings)
        self._prints: dict[str, str] = {}
        self._written: dict[str, str] = {}

    def same_as(self, other: DefaultsSet) -> bool:
        return [d.fingerprint for d in self.docs] == [d.fingerprint for d in other.docs]

    def selecting(self, labels: Any) -> list[DefaultsDoc]:
        labels = labels if isinstance(labels, dict) else {}
        return [d for d in self.docs if d.selects(labels)]

    def fingerprint_written(self, labels: str) -> str:
        """:meth:`fingerprint` of labels as JSON text with no variables in them (by that text:
        10,000 manifests share a handful of label sets)."""
        found = self._written.get(labels)
        if found is None:
            found = self._written[labels] = self.fingerprint(json.loads(labels))
        return found

    def fingerprint(self, labels: Any) -> str:
        """What an assistant with these labels takes from the Defaults: their fingerprints."""
        key = json.dumps(labels, sort_keys=True, default=str)
        found = self._prints.get(key)
        if found is None:
            found = self._prints[key] = ",".join(d.fingerprint for d in self.selecting(labels)) or "none"
        return found


def duplicate_names(docs: Sequence[DefaultsDoc]) -> list[Problem]:
    """Two Defaults with one name: which one a message means would be unclear."""
    first: dict[str, DefaultsDoc] = {}
    problems = []
    for doc in docs:
        other = first.setdefault(doc.name, doc)
        if other is not doc:
            problems.append(Problem(doc.file, doc.line, "metadata.name",
                                    f"duplicate Defaults name {doc.name!r} (also in {other.file}:{other.line})"))
    return problems


@dataclass
class Merged:
    """An assistant's spec with its Defaults merged in. Paths are within ``spec``."""

    spec: dict[str, Any]
    #: Where each value a Defaults gave came from: ``defaults/support.yaml:6``, or the prompt
    #: file and that place.
    origins: dict[Path, str] = field(default_factory=dict)
    templates: dict[Path, str] = field(default_factory=dict)
    reads: dict[Path, tuple[str, ...]] = field(default_factory=dict)
    conflicts: list[Problem] = field(default_factory=list)


def merge(own: dict[str, Any], docs: Sequence[DefaultsDoc], name: str) -> Merged:
    """``own`` (an assistant's spec, interpolated) over the ``docs`` that select it."""
    combined: dict[str, Any] = {}
    given = _Given(own, name)
    for doc in docs:
        given.combine(combined, doc.spec, (), doc)
    out = Merged(_over(combined, own, ()), conflicts=given.conflicts)
    for path, doc in given.taken.items():
        if _overridden(own, path):
            continue
        place = given.relocate(path, doc)
        files = doc.reads.get(path)
        out.origins[place] = f"{', '.join(files)} ({doc.at(path)})" if files else doc.at(path)
    for doc in docs:
        for path, template in doc.templates.items():
            if not _overridden(own, path):
                out.templates[given.relocate(path, doc)] = template
        for path, files in doc.reads.items():
            if not _overridden(own, path):
                out.reads[given.relocate(path, doc)] = files
    return out


class _Given:
    """The Defaults of one assistant combined, remembering which document gave each value."""

    def __init__(self, own: dict[str, Any], name: str):
        self.own, self.name = own, name
        self.taken: dict[Path, DefaultsDoc] = {}
        #: (document, appended list) → where that document's items start in the combined list.
        self.starts: dict[tuple[int, str], int] = {}
        self.conflicts: list[Problem] = []

    def combine(self, into: dict[str, Any], given: dict[str, Any], path: Path, doc: DefaultsDoc) -> None:
        for key, value in given.items():
            here = (*path, key)
            if not path and key in APPENDED and isinstance(value, list):
                items = into.setdefault(key, [])
                self.starts[(id(doc), key)] = len(items)
                items.extend(plain_copy(value))
                self.taken.update({(key, i): doc for i in range(len(value))})
            elif key not in into:
                into[key] = plain_copy(value)
                self._mark(here, value, doc)
            elif isinstance(into[key], dict) and isinstance(value, dict):
                self.combine(into[key], value, here, doc)
            elif into[key] != value and not _overridden(self.own, here):
                self._conflict(here, doc)

    def _mark(self, path: Path, value: Any, doc: DefaultsDoc) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                self._mark((*path, key), item, doc)
        else:
            self.taken[path] = doc

    def _conflict(self, path: Path, doc: DefaultsDoc) -> None:
        other = next((self.taken[path[:n]] for n in range(len(path), 0, -1) if path[:n] in self.taken), None)
        if other is None:  # a map the first one gave, a value the second: the map's first leaf's giver
            other = next(d for p, d in self.taken.items() if p[:len(path)] == path)
        field_path = dotted(("spec", *path))
        self.conflicts.append(Problem(
            other.file, other.line_of(path), field_path,
            f"set to different values by Defaults {other.name!r} and {doc.name!r} ({doc.file}:{doc.line_of(path)}) "
            f"for assistant {self.name!r}; set it in the assistant, or in one of them only"))

    def relocate(self, path: Path, doc: DefaultsDoc) -> Path:
        """A path within ``doc``'s spec → its place in the merged spec (appended items move)."""
        if path and path[0] in APPENDED and len(path) > 1 and isinstance(path[1], int):
            own = self.own.get(path[0])
            start = self.starts.get((id(doc), str(path[0])), 0) + (len(own) if isinstance(own, list) else 0)
            return (path[0], start + path[1], *path[2:])
        return path


def _over(base: dict[str, Any], own: dict[str, Any], path: Path) -> dict[str, Any]:
    """``own`` merged over ``base``: maps key by key, appended lists appended, the rest ``own``'s
    (its keys first, in its order: a rendered manifest reads like the one written)."""
    out: dict[str, Any] = {}
    for key, value in own.items():
        below = base.get(key)
        if not path and key in APPENDED and isinstance(value, list) and isinstance(below, list):
            out[key] = [*value, *below]
        elif isinstance(value, dict) and isinstance(below, dict):
            out[key] = _over(below, value, (*path, key))
        else:
            out[key] = value
    out.update((k, v) for k, v in base.items() if k not in own)
    return out


def _overridden(own: Any, path: Path) -> bool:
    """Does the assistant decide the value at ``path`` itself (there, or by a non-map above it)?
    Appended lists never are: their items add up."""
    if path and path[0] in APPENDED and isinstance(own, dict) and isinstance(own.get(path[0]), list):
        return False
    node = own
    for part in path:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True
