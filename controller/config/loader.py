"""Files → validated manifests, with every problem reported at its file and line.

Loading is all-or-nothing: every file is read and every document validated, all
problems are collected, and only a fully valid set is returned. Commands that write
call this before their first write, so invalid input never changes a target.

A load finds the ``kind: Defaults`` documents first (config/defaultsload.py), then each
assistant's effective manifest: its own values interpolated (``${VAR}``, ``${file:PATH}``),
its Defaults merged under them (config/defaults.py), the whole validated.

Data flows one way: the loader returns values (:class:`LoadedManifest`, a
:class:`ManifestView` of each: config/loaded.py) and keeps what it validated in a :class:`LoadStore`;
nothing downstream writes into either. An unchanged file whose dependencies resolve as
before comes from the store without being parsed, interpolated or validated; pydantic
and the YAML parser are imported only when a file really has to be loaded.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from typing import Any

from controller.config.defaults import DefaultsSet, merge
from controller.config.defaultsload import MARK, defaults_set, load_defaults
from controller.config.dependencies import dependencies, resolver
from controller.config.files import API_VERSION, FoundFile, find_files, mentions_us
from controller.config.interpolate import Interpolated, interpolate, substitute
from controller.config.loaded import (
    FileKey,
    FileLoads,
    FileText,
    LoadedManifest,
    LoadOptions,
    ManifestView,
    model_view,
    view_of,
)
from controller.config.store import Dependency, Kept, LoadStore, StoredManifest, text_key
from controller.config.yamlio import Document, Path, YamlError, load_documents, read_text
from controller.core.content import plain_copy
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path
from controller.core.paths import dotted, replaced

__all__ = ["FileKey", "FileLoads", "FileText", "LoadOptions", "LoadedManifest", "ManifestView", "display_path",
           "duplicates", "file_digest", "load_files", "load_manifests", "load_text", "load_texts", "read_files", "view_of",
           "with_defaults"]

_GROUP = API_VERSION.split("/")[0]


def load_manifests(paths: Iterable[str], options: LoadOptions = LoadOptions()) -> FileLoads:
    """Load, interpolate and validate every manifest under ``paths``, and check them
    across files (duplicates); raises InvalidInput listing every problem."""
    loads = load_files(find_files(paths, options.root), options)
    loads.problems.extend(duplicates(loads.manifests))
    if loads.problems:
        raise InvalidInput(loads.problems)
    return loads


def load_files(files: Iterable[FoundFile], options: LoadOptions) -> FileLoads:
    """Each of ``files`` → its valid manifests, plus every problem found; no check across
    files. Kept apart from :func:`load_manifests` so watch can re-load only the files that
    changed and run the checks across files (:func:`duplicates`) on its merged set.
    The caller saves ``options.store``."""
    return load_texts(read_files(files, options), options)


def read_files(files: Iterable[FoundFile], options: LoadOptions) -> list[FileText]:
    """The files' texts, before anything is parsed: a caller that knows a text's result
    already (by its :class:`FileKey`) loads only the others (:func:`load_texts`)."""
    where = PathNames(options.root)
    out = []
    for path, explicit, _ in files:
        shown, source = where(path)
        try:
            text: str | None = read_text(path)
        except (OSError, YamlError):
            text = None
        out.append(FileText(path, explicit, shown, source, text))
    return out


def load_texts(texts: Iterable[FileText], options: LoadOptions) -> FileLoads:
    """Each file → its valid manifests, plus every problem found (see :func:`load_files`).
    The Defaults merged are ``options.defaults``, else those of ``texts``; their problems are
    this load's."""
    texts = list(texts)
    if options.defaults is None:
        options = with_defaults(texts, options)
    assert options.defaults is not None
    loads = FileLoads(defaults=options.defaults)
    loads.problems.extend(options.defaults.problems)
    loads.warnings.extend(options.defaults.warnings)
    for file in texts:
        loads.files[file.path] = _load_file(file, options, loads)
    return loads


def load_text(text: str, shown: str, options: LoadOptions) -> list[LoadedManifest]:
    """The valid manifests of a text that is not a file here (a manifest as git had it at a
    revision, say); raises InvalidInput listing its problems."""
    loads = load_texts([FileText(shown, True, shown, shown, text)], options)
    if loads.problems:
        raise InvalidInput(loads.problems)
    return loads.manifests


def with_defaults(texts: Iterable[FileText], options: LoadOptions) -> LoadOptions:
    """``options`` with the Defaults of ``texts`` in force (each file's found once, before
    any manifest: every manifest's result depends on them)."""
    import dataclasses

    found = load_defaults(texts, options)
    return dataclasses.replace(options, defaults=defaults_set(found.files, found))


def file_digest(file: FileText, dependencies: Iterable[Dependency], options: LoadOptions) -> str | None:
    """The digest the file with these dependencies has now (None without a store or a text)."""
    if file.text is None:
        return None
    return digest_of_key(text_key(file.text), dependencies, options, file.base)


def digest_of_key(key: str, dependencies: Iterable[Dependency], options: LoadOptions, base: str) -> str | None:
    """The digest of a file in the folder ``base`` (from the root) whose text hashes to ``key``
    (``store.text_key``), with these dependencies, now."""
    return options.store.digest_of_key(key, dependencies, resolver(options, base)) if options.store is not None else None


class PathNames:
    """A file's path as shown (relative to the working directory when inside it) and its path
    from the root: one getcwd per load, not several per file (relpath's own cost is most of
    a no-op load of 2,500 files' bookkeeping)."""

    def __init__(self, root: str | None):
        self.cwd = os.getcwd()
        self.root = os.path.abspath(root) if root else None

    def __call__(self, path: str) -> tuple[str, str]:
        full = os.path.normpath(os.path.join(self.cwd, path))
        shown = full[len(self.cwd) + 1:] if full.startswith(self.cwd + os.sep) else display_path(path)
        if self.root is None:
            return shown, shown
        if self.root == self.cwd:
            return shown, shown if not shown.startswith(os.sep) else os.path.relpath(full, self.root)
        return shown, os.path.relpath(full, self.root)


def _load_file(file: FileText, options: LoadOptions, loads: FileLoads) -> list[LoadedManifest]:
    path, explicit, shown, text = file.path, file.explicit, file.shown, file.text
    try:
        if text is None:
            text = read_text(path)  # (again: this time for the error)
    except YamlError as exc:
        return _unreadable(path, explicit, shown, Problem(file=shown, line=exc.line, message=str(exc)), loads)
    except OSError as exc:
        loads.problems.append(Problem(file=shown, message=f"cannot read: {exc.strerror}"))
        return []
    store = options.store
    resolve = resolver(options, file.base)
    kept = store.manifests(text, resolve) if store is not None else None
    if kept is not None:
        stored = _from_store(kept, text, file, options)
        if stored is not None:
            loads.keys[path] = FileKey(kept.text_key, kept.dependencies, kept.digest)
            return stored
    try:
        docs = load_documents(text)
    except YamlError as exc:
        return _unreadable(path, explicit, shown, Problem(file=shown, line=exc.line, message=str(exc)), loads)
    deps = dependencies(docs, text)
    digest = store.digest(text, deps, resolve) if store is not None else None
    before = (len(loads.problems), len(loads.warnings))
    found = _validate_file(docs, file, text, digest, options, loads)
    if store is not None and digest is not None:
        loads.keys[path] = FileKey(text_key(text), deps, digest)
        if (len(loads.problems), len(loads.warnings)) == before:
            _keep(store, text, deps, resolve, found)
    return [item for _, item in found]


def _unreadable(path: str, explicit: bool, shown: str, problem: Problem, loads: FileLoads) -> list[LoadedManifest]:
    """A file that cannot be decoded or parsed: an error when it is ours, else other YAML (skipped)."""
    if explicit or mentions_us(path):
        loads.problems.append(problem)
    return []


def _validate_file(docs: list[Document], file: FileText, text: str, digest: str | None,
                   options: LoadOptions, loads: FileLoads) -> list[tuple[int, LoadedManifest]]:
    ours = 0
    found: list[tuple[int, LoadedManifest]] = []
    for index, doc in enumerate(docs):
        kind = _our_kind(doc, file.shown, loads.problems)
        if kind is None:
            continue
        ours += 1
        if kind == MARK and MARK not in text:  # (config/defaultsload.py found none: it looks for the word)
            loads.problems.append(Problem(file.shown, doc.line_of(("kind",)), "kind", "write kind: Defaults as plain text"))
        if kind != "Assistant":
            continue
        item = _validate(doc, file, options, loads, plain="$" not in text, digest=digest, index=index)
        if item is not None:
            found.append((index, item))
    if file.explicit and ours == 0:
        loads.problems.append(Problem(file=file.shown, message=f"no manifest in this file (expected apiVersion: {API_VERSION})"))
    return found


def _our_kind(doc: Document, file: str, problems: list[Problem]) -> str | None:
    """The document's kind when it is one of ours (possibly with a typo to report); None for other YAML.

    A mistyped ``apiVersion`` must not make a manifest vanish (a later ``--prune`` would delete
    its assistant): ``kind: Assistant`` or ``kind: Defaults``, or an apiVersion that starts with
    or closely resembles ours, makes the document ours. ``kind: Config`` counts only beside such
    an apiVersion, or none: a kubeconfig (``apiVersion: v1``, ``kind: Config``) is someone else's."""
    data = doc.data
    if not isinstance(data, dict):
        return None
    api, kind = data.get("apiVersion"), data.get("kind")
    resembles = isinstance(api, str) and (api.startswith(_GROUP) or _close(api.split("/")[0], _GROUP))
    if not (resembles or kind in ("Assistant", MARK) or (kind == "Config" and api is None)):
        return None
    if api != API_VERSION:
        line = doc.line_of(("apiVersion",))
        got = "missing" if api is None else f"unsupported {api!r}"
        hint = f"did you mean {API_VERSION!r}?" if resembles or api is None else f"this controller reads {API_VERSION}"
        problems.append(Problem(file, line, "apiVersion", f"{got}: {hint}"))
        return "invalid"
    if kind not in ("Assistant", MARK, "Config"):
        problems.append(Problem(file, doc.line_of(("kind",)), "kind", f"must be Assistant, Defaults or Config, got {kind!r}"))
        return "invalid"
    return str(kind)


def _close(word: str, target: str) -> bool:
    return difflib.SequenceMatcher(None, word.lower(), target).ratio() >= 0.85


def _validate(doc: Document, file: FileText, options: LoadOptions, loads: FileLoads,
              plain: bool, digest: str | None, index: int) -> LoadedManifest | None:
    from pydantic import ValidationError

    from controller.config.manifest import AssistantManifest
    from controller.config.problems import pydantic_problems

    shown = file.shown
    # A file without "$" has nothing to interpolate: copy its data (documents are shared
    # by the parse store and must not be changed) without walking every path.
    result = Interpolated(plain_copy(doc.data)) if plain else \
        interpolate(doc.data, options.values, options.env, options.files, file.base)
    unset = [exc.path for exc in result.unset]
    # Still validated (unset strings left as written), so all of a file's problems show at once.
    found_unset = [Problem(shown, doc.line_of(exc.path), dotted(exc.path), str(exc)) for exc in result.unset]
    (loads.warnings if options.unset_is_warning else loads.problems).extend(found_unset)
    loads.problems.extend(Problem(shown, doc.line_of(e.path), dotted(e.path), str(e)) for e in result.errors)
    effective = _Effective(result)
    if options.defaults is not None and options.defaults.docs:
        effective.merge(options.defaults, loads)
    try:
        manifest = AssistantManifest.model_validate(effective.data)
    except ValidationError as exc:
        found = pydantic_problems(exc, AssistantManifest, doc, shown)
        # A value that failed to interpolate was already reported; not again as a bad value.
        failed = [*unset, *(e.path for e in result.errors)]
        loads.problems.extend(p for p in found if not any(_within(p.path, dotted(u)) for u in failed))
        return None
    if result.errors or effective.conflicts or (unset and not options.unset_is_warning):
        return None
    item = LoadedManifest(shown, file.source, doc, model_view(manifest), effective.data, effective.templates, digest,
                          index, effective.origins, effective.files())
    item.__dict__["manifest"] = manifest  # (the cached_property's slot: validated already)
    return item


class _Effective:
    """A manifest as it will be written: its own values interpolated, then its Defaults merged
    under them; with the template, origin and prompt files of each value."""

    def __init__(self, result: Interpolated):
        self.data: Any = result.data
        self.templates: dict[Path, str] = dict(result.templates)
        self.reads = {p: tuple(r.shown for r in reads) for p, reads in result.reads.items()}
        self.origins: dict[Path, str] = {p: ", ".join(files) for p, files in self.reads.items()}
        self.conflicts = 0

    def merge(self, defaults: DefaultsSet, loads: FileLoads) -> None:
        data = self.data
        if not (isinstance(data, dict) and isinstance(data.get("spec"), dict)):
            return  # not an assistant's shape: validation says why
        meta = data.get("metadata")
        chosen = defaults.selecting(meta.get("labels") if isinstance(meta, dict) else None)
        if not chosen:
            return
        name = meta.get("name") if isinstance(meta, dict) else None
        merged = merge(data["spec"], chosen, str(name))
        self.data = {**data, "spec": merged.spec}
        self.templates.update({("spec", *p): t for p, t in merged.templates.items()})
        self.reads.update({("spec", *p): files for p, files in merged.reads.items()})
        self.origins.update({("spec", *p): o for p, o in merged.origins.items()})
        self.conflicts = len(merged.conflicts)
        loads.problems.extend(merged.conflicts)

    def files(self) -> tuple[str, ...]:
        return tuple(sorted({f for files in self.reads.values() for f in files}))


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


# -- the store ------------------------------------------------------------------------------

def _from_store(kept: Kept[StoredManifest], text: str, file: FileText, options: LoadOptions) -> list[LoadedManifest] | None:
    """The kept file's manifests, or None for a damaged record (the file is loaded instead)."""
    try:
        out = []
        for entry in kept.manifests:
            # The store keeps the templates, never the values.
            data = replaced(entry.data, {p: substitute(t, options.values, options.env, options.files)[0]
                                         for p, t in entry.templates.items()})
            document = _LazyDocument(text, entry.index, entry.line)
            out.append(LoadedManifest(file.shown, file.source, document, view_of(data), data, entry.templates,
                                      kept.digest, entry.index, entry.origins, entry.files))
        return out
    except Exception:  # a record of the wrong shape: load the file instead
        return None


def _keep(store: LoadStore, text: str, deps: Iterable[Dependency], resolve: Any,
          found: list[tuple[int, LoadedManifest]]) -> None:
    """Keep a file that loaded without a problem, when its stored form gives the same result."""
    entries: list[StoredManifest] = []
    for index, item in found:
        if view_of(item.data) != item.view:
            return  # validation changed a value the view reads: not stored (always validated)
        data = replaced(item.data, item.templates)
        entries.append(StoredManifest(index, item.document.line, data, dict(item.templates), dict(item.origins),
                                      item.files))
    store.keep(text, deps, resolve, tuple(entries))


class _LazyDocument(Document):
    """A stored manifest's document: parsed from its text only if a line is needed (an error)."""

    def __init__(self, text: str, index: int, line: int):
        self._text, self._index, self.line = text, index, line
        self._doc: Document | None = None

    def _real(self) -> Document:
        if self._doc is None:
            self._doc = load_documents(self._text)[self._index]
        return self._doc

    @property
    def data(self) -> Any:
        return self._real().data

    @property
    def lines(self) -> dict:  # type: ignore[override]
        return self._real().lines


# -- checks across files --------------------------------------------------------------------

def duplicates(loaded: list[LoadedManifest]) -> list[Problem]:
    """Two manifests with one name, or claiming one assistant id (the later one is reported)."""
    problems = []
    first: dict[str, LoadedManifest] = {}
    first_id: dict[str, LoadedManifest] = {}
    for item in loaded:
        other = first.setdefault(item.name, item)
        if other is not item:
            problems.append(
                Problem(item.file, item.document.line_of(("metadata", "name")), "metadata.name",
                        f"duplicate name {item.name!r} (also in {other.file}:{other.document.line_of(('metadata', 'name'))})")
            )
        aid = item.view.assistant_id
        if aid:
            other = first_id.setdefault(aid.lower(), item)
            if other is not item:
                problems.append(
                    Problem(item.file, item.document.line_of(("metadata", "assistantId")), "metadata.assistantId",
                            f"assistant id {aid} is also claimed by {other.name!r} ({other.location})")
                )
    return problems
