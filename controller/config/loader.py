"""Files → validated manifests, with every problem reported at its file and line.

Loading is all-or-nothing: every file is read and every document validated, all
problems are collected, and only a fully valid set is returned. Commands that write
call this before their first write, so invalid input never changes a target.

Data flows one way: the loader returns values (:class:`LoadedManifest`, a
:class:`ManifestView` of each) and keeps what it validated in a :class:`LoadStore`;
nothing downstream writes into either. An unchanged file whose dependencies resolve as
before comes from the store without being parsed, interpolated or validated; pydantic
and the YAML parser are imported only when a file really has to be loaded.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from controller.config.files import API_VERSION, FoundFile, find_files, mentions_us
from controller.config.interpolate import Interpolated, interpolate, is_plain, referenced, substitute
from controller.config.store import Dependency, Kept, LoadStore, Resolver, StoredManifest, text_key
from controller.config.yamlio import Document, Path, YamlError, load_documents, read_text
from controller.core.content import plain_copy
from controller.core.environ import process_environ
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path
from controller.core.paths import dotted

if TYPE_CHECKING:
    from controller.config.manifest import AssistantManifest

_GROUP = API_VERSION.split("/")[0]


@dataclass(frozen=True)
class ManifestView:
    """What the desired state reads of a valid manifest, as plain data: built from the
    validated model, or from a stored load (checked, when stored, to equal the model's)."""

    name: str
    assistant_id: str | None
    labels: dict[str, str]
    graph: str
    display_name: str | None
    description: str | None
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    active_version: str | int
    has_smoke: bool


def view_of(data: Any) -> ManifestView:
    """The view of data that validated (raises on data of another shape: a damaged record)."""
    meta, spec = data["metadata"], data["spec"]
    return ManifestView(meta["name"], meta.get("assistantId"), dict(meta.get("labels") or {}), spec["graph"],
                        spec.get("displayName"), spec.get("description"), spec.get("config", {}), spec.get("context", {}),
                        spec.get("metadata", {}), spec.get("activeVersion", "latest"), bool(spec.get("smoke")))


def _model_view(m: AssistantManifest) -> ManifestView:
    spec = m.spec
    return ManifestView(m.metadata.name, m.metadata.assistantId, dict(m.metadata.labels), spec.graph, spec.displayName,
                        spec.description, spec.config, spec.context, spec.metadata, spec.activeVersion, bool(spec.smoke))


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where it came from. ``data`` is what validated; the pydantic
    model is built from it only when something asks (smoke cases, import)."""

    #: The file as the user sees it (relative to the working directory when inside it).
    file: str
    #: The file's path from the project root: the assistant's ``controller/source``.
    source: str
    document: Document
    view: ManifestView
    data: dict[str, Any] = field(repr=False)
    #: The template (as written) of each document path whose value came from the environment.
    templates: Mapping[Path, str] = field(default_factory=dict)
    #: The file's digest (its text and what its dependencies are now: ``LoadStore.digest``)
    #: and the document's place in it: equal pairs, equal data. None without a store.
    digest: str | None = None
    index: int = 0

    @property
    def sensitive(self) -> frozenset[Path]:
        """Document paths (``("spec", "config", ...)``) whose value came from the environment."""
        return frozenset(self.templates)

    @cached_property
    def manifest(self) -> AssistantManifest:
        from controller.config.manifest import AssistantManifest

        return AssistantManifest.model_validate(self.data)  # the data validated before: no error

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def line(self) -> int:
        return self.document.line

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class LoadOptions:
    """How to load: where ``${VAR}`` values come from, what an unset one is, where results are kept."""

    #: The target's ``values`` (they come before the environment, and are not sensitive).
    values: Mapping[str, str] = field(default_factory=dict)
    #: The environment ``${VAR}`` reads; None: the process's.
    environ: Mapping[str, str] | None = None
    #: The project root: ``.controllerignore`` and ``controller/source`` paths hang off it.
    root: str | None = None
    #: An unset variable is a warning, not an error (``validate`` without secrets); the
    #: manifest is still checked, with the unset templates left as written.
    unset_is_warning: bool = False
    store: LoadStore | None = None

    @property
    def env(self) -> Mapping[str, str]:
        return process_environ() if self.environ is None else self.environ  # never langgraph.json's env


@dataclass(frozen=True)
class FileKey:
    """What identifies a file's load result (with a store): its text's hash, the dependencies
    it has besides its text, and the digest of both as they are now (``LoadStore.digest``)."""

    text_key: str
    dependencies: tuple[Dependency, ...]
    digest: str


@dataclass
class FileLoads:
    """Each file's valid manifests (in the order given), and every problem found."""

    files: dict[str, list[LoadedManifest]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Unset variables, with ``unset_is_warning``.
    warnings: list[Problem] = field(default_factory=list)
    #: Each loaded file's key, when loaded with a store.
    keys: dict[str, FileKey] = field(default_factory=dict)

    @property
    def manifests(self) -> list[LoadedManifest]:
        """Every file's, in order (a new list each time: keep it when using it more than once)."""
        return [m for items in self.files.values() for m in items]


@dataclass(frozen=True)
class FileText:
    """A file as read for loading: where it is, and its text (None: it could not be read
    or decoded, and loading it reports why)."""

    path: str
    explicit: bool
    #: As the user sees it (relative to the working directory when inside it).
    shown: str
    #: From the project root: the assistant's ``controller/source``.
    source: str
    text: str | None


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
    where = _Where(options.root)
    out = []
    for path, explicit in files:
        shown, source = where(path)
        try:
            text: str | None = read_text(path)
        except (OSError, YamlError):
            text = None
        out.append(FileText(path, explicit, shown, source, text))
    return out


def load_texts(texts: Iterable[FileText], options: LoadOptions) -> FileLoads:
    """Each file → its valid manifests, plus every problem found (see :func:`load_files`)."""
    loads = FileLoads()
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


def file_digest(text: str, dependencies: Iterable[Dependency], options: LoadOptions) -> str | None:
    """The digest a file with this text and these dependencies has now (None without a store)."""
    return options.store.digest(text, dependencies, _resolver(options)) if options.store is not None else None


class _Where:
    """A file's path as shown and its path from the root, with one getcwd per load, not
    several per file (relpath's own cost is most of a no-op load of 2,500 files' bookkeeping)."""

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
    path, explicit, shown, source, text = file.path, file.explicit, file.shown, file.source, file.text
    try:
        if text is None:
            text = read_text(path)  # (again: this time for the error)
    except YamlError as exc:
        return _unreadable(path, explicit, shown, Problem(file=shown, line=exc.line, message=str(exc)), loads)
    except OSError as exc:
        loads.problems.append(Problem(file=shown, message=f"cannot read: {exc.strerror}"))
        return []
    store = options.store
    kept = store.manifests(text, _resolver(options)) if store is not None else None
    if kept is not None:
        stored = _from_store(kept, text, shown, source, options)
        if stored is not None:
            loads.keys[path] = FileKey(kept.text_key, kept.dependencies, kept.digest)
            return stored
    try:
        docs = load_documents(text)
    except YamlError as exc:
        return _unreadable(path, explicit, shown, Problem(file=shown, line=exc.line, message=str(exc)), loads)
    dependencies = tuple(Dependency("variable", n) for n in sorted(set().union(*(referenced(d.data) for d in docs)))) \
        if "$" in text else ()
    digest = file_digest(text, dependencies, options)
    before = (len(loads.problems), len(loads.warnings))
    found = _validate_file(docs, explicit, shown, source, text, digest, options, loads)
    if store is not None and digest is not None:
        loads.keys[path] = FileKey(text_key(text), dependencies, digest)
        if (len(loads.problems), len(loads.warnings)) == before:
            _keep(store, text, list(dependencies), found, options)
    return [item for _, item in found]


def _unreadable(path: str, explicit: bool, shown: str, problem: Problem, loads: FileLoads) -> list[LoadedManifest]:
    """A file that cannot be decoded or parsed: an error when it is ours, else other YAML (skipped)."""
    if explicit or mentions_us(path):
        loads.problems.append(problem)
    return []


def _validate_file(docs: list[Document], explicit: bool, shown: str, source: str, text: str, digest: str | None,
                   options: LoadOptions, loads: FileLoads) -> list[tuple[int, LoadedManifest]]:
    ours = 0
    found: list[tuple[int, LoadedManifest]] = []
    for index, doc in enumerate(docs):
        kind = _our_kind(doc, shown, loads.problems)
        if kind is None:
            continue
        ours += 1
        if kind != "Assistant":
            continue
        item = _validate(doc, shown, source, options, loads, plain="$" not in text,
                         digest=digest, index=index)
        if item is not None:
            found.append((index, item))
    if explicit and ours == 0:
        loads.problems.append(Problem(file=shown, message=f"no manifest in this file (expected apiVersion: {API_VERSION})"))
    return found


def _our_kind(doc: Document, file: str, problems: list[Problem]) -> str | None:
    """The document's kind when it is one of ours (possibly with a typo to report); None for other YAML.

    A mistyped ``apiVersion`` must not make a manifest vanish (a later ``--prune`` would delete
    its assistant): ``kind: Assistant``, or an apiVersion that starts with or closely resembles
    ours, makes the document ours. ``kind: Config`` counts only beside such an apiVersion, or
    none: a kubeconfig (``apiVersion: v1``, ``kind: Config``) is someone else's."""
    data = doc.data
    if not isinstance(data, dict):
        return None
    api, kind = data.get("apiVersion"), data.get("kind")
    resembles = isinstance(api, str) and (api.startswith(_GROUP) or _close(api.split("/")[0], _GROUP))
    if not (resembles or kind == "Assistant" or (kind == "Config" and api is None)):
        return None
    if api != API_VERSION:
        line = doc.line_of(("apiVersion",))
        got = "missing" if api is None else f"unsupported {api!r}"
        hint = f"did you mean {API_VERSION!r}?" if resembles or api is None else f"this controller reads {API_VERSION}"
        problems.append(Problem(file, line, "apiVersion", f"{got}: {hint}"))
        return "invalid"
    if kind not in ("Assistant", "Config"):
        problems.append(Problem(file, doc.line_of(("kind",)), "kind", f"must be Assistant or Config, got {kind!r}"))
        return "invalid"
    return kind


def _close(word: str, target: str) -> bool:
    return difflib.SequenceMatcher(None, word.lower(), target).ratio() >= 0.85


def _validate(doc: Document, file: str, source: str, options: LoadOptions, loads: FileLoads,
              plain: bool, digest: str | None, index: int) -> LoadedManifest | None:
    from pydantic import ValidationError

    from controller.config.manifest import AssistantManifest
    from controller.config.problems import pydantic_problems

    # A file without "$" has nothing to interpolate: copy its data (documents are shared
    # by the parse store and must not be changed) without walking every path.
    result = Interpolated(plain_copy(doc.data)) if plain else interpolate(doc.data, options.values, options.env)
    unset = [exc.path for exc in result.unset]
    # Still validated (unset strings left as written), so all of a file's problems show at once.
    found_unset = [Problem(file, doc.line_of(exc.path), dotted(exc.path), str(exc)) for exc in result.unset]
    (loads.warnings if options.unset_is_warning else loads.problems).extend(found_unset)
    try:
        manifest = AssistantManifest.model_validate(result.data)
    except ValidationError as exc:
        found = pydantic_problems(exc, AssistantManifest, doc, file)
        # A value that failed to interpolate was already reported; not again as a bad value.
        loads.problems.extend(p for p in found if not any(_within(p.path, dotted(u)) for u in unset))
        return None
    if unset and not options.unset_is_warning:
        return None
    item = LoadedManifest(file, source, doc, _model_view(manifest), result.data, result.templates, digest, index)
    item.__dict__["manifest"] = manifest  # (the cached_property's slot: validated already)
    return item


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


# -- the store ------------------------------------------------------------------------------

def _resolver(options: LoadOptions) -> Resolver:
    values, environ = options.values, options.env

    def resolve(dep: Dependency) -> str:
        name = dep.name
        if name in values:
            return "values\0" + values[name]
        shown = "plain\0" if is_plain(name, values) else ""  # declaring it plain changes what is masked
        if name in environ:
            return shown + "env\0" + environ[name]
        return shown + "unset"

    return resolve


def _from_store(kept: Kept, text: str, shown: str, source: str, options: LoadOptions) -> list[LoadedManifest] | None:
    """The kept file's manifests, or None for a damaged record (the file is loaded instead)."""
    try:
        out = []
        for entry in kept.manifests:
            data = entry.data
            if entry.templates:
                data = plain_copy(data)  # the store keeps the templates, never the values
                for doc_path, template in entry.templates.items():
                    value, _ = substitute(template, options.values, options.env)
                    node = data
                    for part in doc_path[:-1]:
                        node = node[part]
                    node[doc_path[-1]] = value
            document = _LazyDocument(text, entry.index, entry.line)
            out.append(LoadedManifest(shown, source, document, view_of(data), data, entry.templates,
                                      kept.digest, entry.index))
        return out
    except Exception:  # a record of the wrong shape: load the file instead
        return None


def _keep(store: LoadStore, text: str, dependencies: list[Dependency], found: list[tuple[int, LoadedManifest]],
          options: LoadOptions) -> None:
    """Keep a file that loaded without a problem, when its stored form gives the same result."""
    entries: list[StoredManifest] = []
    for index, item in found:
        data = item.data
        if view_of(data) != item.view:
            return  # validation changed a value the view reads: not stored (always validated)
        if item.templates:
            data = plain_copy(data)
            for doc_path, template in item.templates.items():
                node = data
                for part in doc_path[:-1]:
                    node = node[part]
                node[doc_path[-1]] = template
        entries.append(StoredManifest(index, item.document.line, data, dict(item.templates)))
    store.keep(text, dependencies, _resolver(options), tuple(entries))


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
