"""What a file's load result depends on besides its text, and what each of those is now.

A manifest's result depends on the variables it references, the prompt files it reads and
the Defaults that select its assistants. Each is a :class:`Dependency` in one list per file,
found when the file is parsed; the load store keys the result on the digest of what they
resolve to now (:func:`resolver`), so an edit of any of them is a miss there, in every memo
keyed on the digest, and in the record of what a plan found in sync.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from controller.config.defaults import DefaultsSet
from controller.config.interpolate import InterpolationError, expand, file_refs, is_plain, referenced, substitute
from controller.config.loaded import LoadOptions
from controller.config.promptfiles import PromptFileError
from controller.config.store import Dependency, Resolver
from controller.config.yamlio import Document


def dependencies(docs: Iterable[Document], text: str, *, kinds: tuple[str, ...] = ("Assistant",)) -> tuple[Dependency, ...]:
    """The file's variables and prompt files, and the labels (as written) of each of its
    documents of ``kinds`` (their Defaults: none for a file of Defaults alone)."""
    docs = list(docs)
    out: list[Dependency] = []
    if "$" in text:
        data = [d.data for d in docs]
        out += [Dependency("variable", n) for n in sorted(referenced(data))]
        out += [Dependency("file", p) for p in sorted(file_refs(data))]
    labels = {json.dumps(_labels(d.data), sort_keys=True) for d in docs
              if isinstance(d.data, dict) and d.data.get("kind") in kinds}
    out += [Dependency("defaults", name) for name in sorted(labels)]
    return tuple(out)


def _labels(data: dict) -> object:
    meta = data.get("metadata")
    return meta.get("labels") if isinstance(meta, dict) else None


def resolver(options: LoadOptions, base: str, defaults: DefaultsSet | None = None) -> Resolver:
    """What each dependency of a file in the folder ``base`` (from the root) is now, as text to
    hash (it is only ever hashed: values from the environment are in it)."""
    values, environ, files = options.values, options.env, options.files
    defaults = defaults if defaults is not None else options.defaults

    def resolve(dep: Dependency) -> str:
        name = dep.name
        if dep.kind == "variable":
            if name in values:
                return "values\0" + values[name]
            shown = "plain\0" if is_plain(name, values) else ""  # declaring it plain changes what is masked
            if name in environ:
                return shown + "env\0" + environ[name]
            return shown + "unset"
        if dep.kind == "file":
            try:
                path = expand(name, values, environ, None, base).text
            except InterpolationError as exc:
                return f"error\0{exc}"
            return files.fingerprint(base, path)
        if defaults is None or not defaults.docs:
            return "none"
        if "$" not in name:  # labels as written: the same for every file that has them
            return defaults.fingerprint_written(name)
        return defaults.fingerprint(_resolved_labels(json.loads(name), options))

    return resolve


def _resolved_labels(labels: object, options: LoadOptions) -> object:
    """Labels as the selection sees them: interpolated (as written where that fails)."""
    if not isinstance(labels, dict):
        return labels
    out = {}
    for key, value in labels.items():
        if isinstance(value, str) and "$" in value:
            try:
                value = substitute(value, options.values, options.env)[0]
            except InterpolationError:
                pass
        out[key] = value
    return out


def selection_changed(before: DefaultsSet, after: DefaultsSet, labels: str, options: LoadOptions) -> bool:
    """Does an assistant with these labels (a ``defaults`` dependency's name) take something
    else from ``after`` than it took from ``before``?"""
    resolved = _resolved_labels(json.loads(labels), options)
    return before.fingerprint(resolved) != after.fingerprint(resolved)


def prompt_paths(deps: Iterable[Dependency], base: str, options: LoadOptions) -> list[str]:
    """The prompt files (paths from the root) that a file in ``base`` reads, as they resolve now;
    one that cannot be resolved is left out (the load reports it)."""
    out = []
    for dep in deps:
        if dep.kind == "file":
            try:
                out.append(options.files.locate(base, expand(dep.name, options.values, options.env, None, base).text))
            except (InterpolationError, PromptFileError):
                continue
    return out
