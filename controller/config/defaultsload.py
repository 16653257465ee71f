"""Files → their ``kind: Defaults`` documents, validated, before any assistant is loaded.

Every assistant's effective manifest depends on the Defaults that select it, so a load
finds them first, in every file under the PATHs. Only a file whose text says ``Defaults``
is looked at, and a file kept in the load store with the same text, variables and prompt
files is neither parsed nor validated again (a no-op plan of many manifests stays cheap).
A Defaults document is interpolated in its own folder (its prompt files are relative to
it) and validated on its own, so a mistake in it is reported at its own line, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controller.config.defaults import DefaultsDoc, DefaultsSet, duplicate_names
from controller.config.dependencies import dependencies, resolver
from controller.config.files import API_VERSION
from controller.config.interpolate import interpolate, substitute
from controller.config.loaded import FileText, LoadOptions
from controller.config.store import StoredDefaults
from controller.config.yamlio import Document, Path, YamlError, load_documents
from controller.core.errors import Problem
from controller.core.paths import dotted, replaced

#: Text a file must hold for it to have a Defaults document (``kind: Defaults``).
MARK = "Defaults"


class DefaultsLoads:
    """Each file's valid Defaults documents, and the problems (and unset-variable warnings) found."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[DefaultsDoc, ...]] = {}
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []


def load_defaults(texts: Iterable[FileText], options: LoadOptions) -> DefaultsLoads:
    """The Defaults documents of ``texts``, by file path."""
    loads = DefaultsLoads()
    for file in texts:
        if file.text is not None and MARK in file.text:
            loads.files[file.path] = _of_file(file, file.text, options, loads)
    return loads


def defaults_set(files: Mapping[str, tuple[DefaultsDoc, ...]], loads: DefaultsLoads) -> DefaultsSet:
    """The Defaults in force, checked across files (two of one name are an error)."""
    docs = [d for found in files.values() for d in found]
    ordered = sorted(docs, key=lambda d: (d.source, d.index))
    return DefaultsSet(docs, [*loads.problems, *duplicate_names(ordered)], loads.warnings)


def _of_file(file: FileText, text: str, options: LoadOptions, loads: DefaultsLoads) -> tuple[DefaultsDoc, ...]:
    store = options.store
    resolve = resolver(options, file.base)
    kept = store.defaults(text, resolve) if store is not None else None
    if kept is not None:
        try:
            return tuple(_from_store(d, file, options) for d in kept.manifests)
        except Exception:  # a record of the wrong shape: load the file instead
            pass
    try:
        docs = load_documents(text)
    except YamlError:
        return ()  # the manifest load reports it, at its line
    before = (len(loads.problems), len(loads.warnings))
    found = [doc for index, d in enumerate(docs) if _is_defaults(d)
             if (doc := _validate(d, index, file, options, loads)) is not None]
    if store is not None and (len(loads.problems), len(loads.warnings)) == before:
        store.keep_defaults(text, dependencies(docs, text, kinds=()), resolve, tuple(_stored(d) for d in found))
    return tuple(found)


def _is_defaults(doc: Document) -> bool:
    """Ours and of this kind (a wrong apiVersion is the manifest load's to report)."""
    return isinstance(doc.data, dict) and doc.data.get("kind") == MARK and doc.data.get("apiVersion") == API_VERSION


def _validate(doc: Document, index: int, file: FileText, options: LoadOptions, loads: DefaultsLoads) -> DefaultsDoc | None:
    from pydantic import ValidationError

    from controller.config.manifest import DefaultsManifest
    from controller.config.problems import pydantic_problems

    result = interpolate(doc.data, options.values, options.env, options.files, file.base)
    found = [Problem(file.shown, doc.line_of(e.path), dotted(e.path), str(e)) for e in result.unset]
    (loads.warnings if options.unset_is_warning else loads.problems).extend(found)
    loads.problems.extend(Problem(file.shown, doc.line_of(e.path), dotted(e.path), str(e)) for e in result.errors)
    try:
        model = DefaultsManifest.model_validate(result.data)
    except ValidationError as exc:
        loads.problems.extend(pydantic_problems(exc, DefaultsManifest, doc, file.shown))
        return None
    if result.errors or (result.unset and not options.unset_is_warning):
        return None
    spec = result.data.get("spec") or {}
    return DefaultsDoc(model.metadata.name, file.source, file.shown, index, doc.line,
                       dict(model.selector.matchLabels) if model.selector else {}, spec,
                       _in_spec(doc.lines), _in_spec(result.templates),
                       _in_spec({p: tuple(r.shown for r in reads) for p, reads in result.reads.items()}))


def _in_spec(by_path: Mapping[Path, object]) -> dict:
    return {p[1:]: v for p, v in by_path.items() if p[:1] == ("spec",) and len(p) > 1}


def _stored(d: DefaultsDoc) -> StoredDefaults:
    """What the store keeps: values from the environment as their templates."""
    spec = replaced(d.spec, d.templates)
    return StoredDefaults(d.index, d.line, d.name, dict(d.match), spec, dict(d.lines), dict(d.templates), dict(d.reads))


def _from_store(d: StoredDefaults, file: FileText, options: LoadOptions) -> DefaultsDoc:
    spec = replaced(d.spec, {p: substitute(t, options.values, options.env, options.files)[0]
                             for p, t in d.templates.items()})
    return DefaultsDoc(d.name, file.source, file.shown, d.index, d.line, d.match, spec, d.lines, d.templates, d.reads)
