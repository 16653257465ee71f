"""Files → validated manifests, with every problem reported at its file and line.

Loading is all-or-nothing: every file is read and every document validated, all
problems are collected, and only a fully valid set is returned. Commands that write
call this before their first write, so invalid input never changes a target.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import pathspec
from pydantic import BaseModel, ValidationError

from controller.config.interpolate import Interpolated, interpolate, referenced, substitute
from controller.config.loadstore import LoadStore
from controller.config.manifest import API_VERSION, AssistantManifest
from controller.config.parsestore import ParseStore, text_key
from controller.config.yamlio import Document, Path, YamlError, load_documents, read_text
from controller.core.content import plain_copy
from controller.core.environ import process_environ
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path
from controller.core.paths import dotted

SKIP_DIRS = {".git", ".controller", ".venv", "venv", "node_modules", "__pycache__", ".langgraph_api"}
YAML_SUFFIXES = (".yaml", ".yml")


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


def view_of(m: AssistantManifest) -> ManifestView:
    spec = m.spec
    return ManifestView(m.metadata.name, m.metadata.assistantId, dict(m.metadata.labels), spec.graph, spec.displayName,
                        spec.description, spec.config, spec.context, spec.metadata, spec.activeVersion, bool(spec.smoke))


def view_from_data(data: Any) -> ManifestView:
    """The view of data that validated (raises on data of another shape: a damaged entry)."""
    meta, spec = data["metadata"], data["spec"]
    return ManifestView(meta["name"], meta.get("assistantId"), dict(meta.get("labels") or {}), spec["graph"],
                        spec.get("displayName"), spec.get("description"), spec.get("config", {}), spec.get("context", {}),
                        spec.get("metadata", {}), spec.get("activeVersion", "latest"), bool(spec.get("smoke")))


class LoadedManifest:
    """A valid manifest and where it came from.

    Loaded from the store (:mod:`loadstore`), it holds the data that validated and a
    view of it; the pydantic model is built from that data only when asked for."""

    def __init__(self, manifest: AssistantManifest | None, file: str, document: Document,
                 sensitive: frozenset[Path] = frozenset(), templates: dict[Path, str] | None = None, *,
                 data: Any = None, view: ManifestView | None = None,
                 stored: list[Any] | None = None, store: LoadStore | None = None):
        if manifest is None and (data is None or view is None):
            raise ValueError("a LoadedManifest needs its manifest, or the data it validated and its view")
        self._manifest = manifest
        self.data = data
        self.file = file
        self.document = document
        #: Document paths (``("spec", "config", ...)``) whose value came from the environment.
        self.sensitive = sensitive
        self.templates = templates if templates is not None else {}
        self.view = view if view is not None else view_of(manifest)  # type: ignore[arg-type]
        self._stored, self._store = stored, store

    @property
    def manifest(self) -> AssistantManifest:
        if self._manifest is None:
            self._manifest = AssistantManifest.model_validate(self.data)  # the data validated before: no error
        return self._manifest

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def line(self) -> int:
        return self.document.line

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def fingerprint(self, owner: str) -> tuple[str, str] | None:
        """(assistant id, content hash) stored for ``owner``, if any."""
        fp = self._stored[5] if self._stored is not None else None
        if isinstance(fp, list) and len(fp) == 3 and fp[0] == owner and all(isinstance(x, str) for x in fp):
            return fp[1], fp[2]
        return None

    def remember(self, owner: str, assistant_id: str, content_hash: str) -> bool:
        """Keep (id, hash) for ``owner`` in the store entry; False when there is none."""
        if self._stored is None or self._store is None:
            return False
        self._stored[5] = [owner, assistant_id, content_hash]
        self._store.touched()
        return True


IGNORE_FILE = ".controllerignore"
#: Text that marks a file as meant for this controller (apiVersion: assistant-controller/...).
MARKER = "assistant-controller/"


def ignore_spec(root: str | None) -> pathspec.PathSpec | None:
    """The project's ``.controllerignore`` (gitignore syntax), if it has one."""
    if not root:
        return None
    try:
        with open(os.path.join(root, IGNORE_FILE), encoding="utf-8") as fh:
            return pathspec.GitIgnoreSpec.from_lines(fh)
    except (OSError, UnicodeDecodeError):
        return None


def find_files(paths: Iterable[str], root: str | None = None) -> list[tuple[str, bool]]:
    """YAML files under ``paths`` as ``(path, named_explicitly)``, in a stable order.

    Files found by walking a folder are left out when the ``.controllerignore`` at
    ``root`` matches them (Helm charts, CI files); a file named explicitly never is.
    """
    found: list[tuple[str, bool]] = []
    seen: set[str] = set()
    spec = ignore_spec(root)

    def ignored(full: str, folder: bool = False) -> bool:
        if spec is None or root is None:
            return False
        rel = os.path.relpath(os.path.abspath(full), os.path.abspath(root))
        if rel.startswith(".."):
            return False
        rel = rel.replace(os.sep, "/")
        return spec.match_file(rel + "/" if folder else rel)

    for given in paths:
        if os.path.isdir(given):
            for dirpath, dirnames, filenames in os.walk(given):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                                     and not ignored(os.path.join(dirpath, d), folder=True))
                for name in sorted(filenames):
                    if name.endswith(YAML_SUFFIXES):
                        full = os.path.join(dirpath, name)
                        if os.path.realpath(full) not in seen and not ignored(full):
                            seen.add(os.path.realpath(full))
                            found.append((full, False))
        elif os.path.exists(given):
            if os.path.realpath(given) not in seen:
                seen.add(os.path.realpath(given))
                found.append((given, True))
        else:
            raise InvalidInput([Problem(file=given, message="no such file or directory")])
    return found


def _mentions_us(path: str) -> bool:
    """Does the file mention this controller at all? Other YAML that fails to parse is not ours to report."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return True
    return any(MARKER.encode(codec) in raw for codec in ("utf-8", "utf-16-le", "utf-16-be"))


#: path → (text, its parsed documents): lets a long-lived caller (watch) skip re-parsing
#: files whose text is unchanged. Documents are never mutated, so sharing them is safe.
ParseCache = dict[str, tuple[str, list[Document]]]


def load_manifests(
    paths: Iterable[str],
    values: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    cache: ParseCache | None = None,
    unset_warnings: list[Problem] | None = None,
    root: str | None = None,
    store: ParseStore | None = None,
    results: LoadStore | None = None,
) -> list[LoadedManifest]:
    """Load, interpolate and validate every manifest under ``paths`` (raises InvalidInput).

    ``unset_warnings``: collect unset variables there instead of failing (``validate``
    in a pre-commit hook or a PR job, where the secrets are not set); such a manifest
    is still checked, with the unset templates left as written. ``store`` keeps parsed
    files between processes (by text hash): only files whose text it has not seen are parsed.
    ``results`` keeps loaded files (by text hash and what their variables resolve to):
    an unchanged file is neither interpolated nor validated again.
    """
    files = find_files(paths, root)
    if cache is not None:  # forget files that are gone
        for stale in cache.keys() - {path for path, _ in files}:
            del cache[stale]
    per_file, problems = load_files(files, values, environ, cache, unset_warnings, store, results)
    loaded = [item for items in per_file.values() for item in items]
    problems.extend(duplicates(loaded))
    if problems:
        raise InvalidInput(problems)
    return loaded


def load_files(
    files: Iterable[tuple[str, bool]],
    values: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    cache: ParseCache | None = None,
    unset_warnings: list[Problem] | None = None,
    store: ParseStore | None = None,
    results: LoadStore | None = None,
) -> tuple[dict[str, list[LoadedManifest]], list[Problem]]:
    """Each of ``files`` (``(path, named_explicitly)``, as :func:`find_files` gives them)
    → its valid manifests, plus every problem found; no check across files.

    Kept apart from :func:`load_manifests` so watch can re-load only the files that
    changed and run the checks across files (:func:`duplicates`) on its merged set.
    ``results``: see :func:`load_manifests` (its caller saves it, after adding fingerprints).
    """
    values = values or {}
    environ = process_environ() if environ is None else environ
    problems: list[Problem] = []
    per_file: dict[str, list[LoadedManifest]] = {}
    for path, explicit in files:
        shown = display_path(path)
        items = per_file.setdefault(path, [])
        text, hit = _from_store(path, shown, values, environ, store, results if cache is None else None)
        if hit is not None:
            items.extend(hit)
            continue
        parsed = _read(path, explicit, shown, cache, store, problems, text)
        if parsed is None:
            continue
        text, docs = parsed
        before = (len(problems), len(unset_warnings) if unset_warnings is not None else 0)
        ours = 0
        found: list[tuple[int, LoadedManifest]] = []
        for index, doc in enumerate(docs):
            kind = _our_kind(doc, shown, problems)
            if kind is None:
                continue
            ours += 1
            if kind != "Assistant":
                continue
            item = _validate(doc, shown, values, environ, problems, unset_warnings, plain="$" not in text)
            if item is not None:
                items.append(item)
                found.append((index, item))
        if explicit and ours == 0:
            problems.append(Problem(file=shown, message=f"no manifest in this file (expected apiVersion: {API_VERSION})"))
        after = (len(problems), len(unset_warnings) if unset_warnings is not None else 0)
        if results is not None and after == before:
            _store_file(text, docs, found, values, environ, results)
    if store is not None:
        store.save()
    return per_file, problems


def _from_store(path: str, shown: str, values: Mapping[str, str], environ: Mapping[str, str],
                store: ParseStore | None, results: LoadStore | None) -> tuple[str | None, list[LoadedManifest] | None]:
    """(the file's text, its manifests from ``results``): the text is read for the key and kept
    for a load on a miss; None when it cannot be read (the full load reports why)."""
    if results is None:
        return None, None
    try:
        text = read_text(path)
    except (OSError, YamlError):
        return None, None
    return text, _stored(text, shown, values, environ, store, results)


def _stored(text: str, shown: str, values: Mapping[str, str], environ: Mapping[str, str],
            store: ParseStore | None, results: LoadStore) -> list[LoadedManifest] | None:
    """The file's manifests from the store, or None (not stored, or a damaged entry)."""
    key = text_key(text)
    names = results.names(key)
    if names is None:
        return None
    entries = results.get(key, results.variables_key(names, values, environ))
    if entries is None:
        return None
    try:
        out = []
        for entry in entries:
            index, line, data, raw_sensitive, raw_templates, _ = entry
            if not (isinstance(index, int) and isinstance(line, int) and isinstance(data, dict)):
                return None
            templates = {tuple(p): t for p, t in raw_templates}
            sensitive = frozenset(tuple(p) for p in raw_sensitive)
            if sensitive:
                data = plain_copy(data)  # the stored entry keeps the templates, never the values
                for doc_path in sensitive:
                    value, _ = substitute(templates[doc_path], values, environ)
                    node = data
                    for part in doc_path[:-1]:
                        node = node[part]
                    node[doc_path[-1]] = value
            document = _LazyDocument(text, index, line, store)
            out.append(LoadedManifest(None, shown, document, sensitive, templates, data=data,
                                      view=view_from_data(data), stored=entry, store=results))
        return out
    except Exception:  # an entry of the wrong shape: load the file instead
        return None


def _store_file(text: str, docs: list[Document], found: list[tuple[int, LoadedManifest]],
                values: Mapping[str, str], environ: Mapping[str, str], results: LoadStore) -> None:
    """Keep a file that loaded without a problem, when its stored form gives the same result."""
    names = sorted(set().union(*(referenced(d.data) for d in docs))) if "$" in text else []
    entries: list[list[Any]] = []
    for index, item in found:
        data = item.data
        if view_from_data(data) != item.view:
            return  # validation changed a value the view reads: not stored (always validated)
        stored = data
        if item.sensitive:
            stored = plain_copy(data)
            for doc_path in item.sensitive:
                node = stored
                for part in doc_path[:-1]:
                    node = node[part]
                node[doc_path[-1]] = item.templates[doc_path]
        try:
            if json.loads(json.dumps(stored)) != stored:
                return  # JSON cannot hold it as it is (NaN, say)
        except (TypeError, ValueError):
            return
        entry = [index, item.document.line, stored,
                 [list(p) for p in item.sensitive], [[list(p), t] for p, t in item.templates.items()], None]
        item._stored, item._store = entry, results
        entries.append(entry)
    results.put(text_key(text), names, results.variables_key(names, values, environ), entries)


class _LazyDocument(Document):
    """A stored manifest's document: parsed from its text only if a line is needed (an error)."""

    def __init__(self, text: str, index: int, line: int, store: ParseStore | None):
        self._text, self._index, self.line, self._store = text, index, line, store
        self._doc: Document | None = None

    def _real(self) -> Document:
        if self._doc is None:
            self._doc = _parse(self._text, self._store)[self._index]
        return self._doc

    @property
    def data(self) -> Any:
        return self._real().data

    @property
    def lines(self) -> dict:  # type: ignore[override]
        return self._real().lines


def _parse(text: str, store: ParseStore | None) -> list[Document]:
    if store is None:
        return load_documents(text)
    key = text_key(text)
    docs = store.get(key)
    if docs is None:
        docs = load_documents(text)  # a YamlError is not stored: the file is parsed again next time
        store.put(key, docs)
    return docs


def _read(path: str, explicit: bool, shown: str, cache: ParseCache | None, store: ParseStore | None,
          problems: list[Problem], text: str | None = None) -> tuple[str, list[Document]] | None:
    """A file's text and documents, from a cache when its text is unchanged; None when it
    cannot be read, or is other YAML that does not parse (skipped: it is not ours).
    ``text``: the file's text, when the caller read it already."""
    try:
        if text is None:
            text = read_text(path)
        hit = cache.get(path) if cache is not None else None
        docs = hit[1] if hit is not None and hit[0] == text else _parse(text, store)
    except YamlError as exc:
        if explicit or _mentions_us(path):
            problems.append(Problem(file=shown, line=exc.line, message=str(exc)))
        return None
    except OSError as exc:
        problems.append(Problem(file=shown, message=f"cannot read: {exc.strerror}"))
        return None
    if cache is not None:
        cache[path] = (text, docs)
    return text, docs


def _our_kind(doc: Document, file: str, problems: list[Problem]) -> str | None:
    """The document's kind when it is one of ours; None for other YAML."""
    data = doc.data
    if not isinstance(data, dict):
        return None
    api = data.get("apiVersion")
    if not (isinstance(api, str) and api.startswith("assistant-controller/")):
        return None
    if api != API_VERSION:
        problems.append(Problem(file, doc.line_of(("apiVersion",)), "apiVersion", f"unsupported {api!r}: this controller reads {API_VERSION}"))
        return "invalid"
    kind = data.get("kind")
    if kind not in ("Assistant", "Config"):
        problems.append(Problem(file, doc.line_of(("kind",)), "kind", f"must be Assistant or Config, got {kind!r}"))
        return "invalid"
    return kind


def _validate(
    doc: Document, file: str, values: Mapping[str, str], environ: Mapping[str, str], problems: list[Problem],
    unset_warnings: list[Problem] | None = None,
    plain: bool = False,
) -> LoadedManifest | None:
    # A file without "$" has nothing to interpolate: copy its data (documents are shared
    # by the parse caches and must not be changed) without walking every path.
    result = Interpolated(plain_copy(doc.data)) if plain else interpolate(doc.data, values, environ)
    unset = [exc.path for exc in result.unset]
    # Still validated (unset strings left as written), so all of a file's problems show at once.
    found_unset = [Problem(file, doc.line_of(exc.path), dotted(exc.path), str(exc)) for exc in result.unset]
    if unset_warnings is not None:
        unset_warnings.extend(found_unset)
    else:
        problems.extend(found_unset)
    try:
        manifest = AssistantManifest.model_validate(result.data)
    except ValidationError as exc:
        found = pydantic_problems(exc, AssistantManifest, doc, file)
        # A value that failed to interpolate was already reported; not again as a bad value.
        problems.extend(p for p in found if not any(_within(p.path, dotted(u)) for u in unset))
        return None
    if unset and unset_warnings is None:
        return None
    return LoadedManifest(manifest, file, doc, frozenset(result.sensitive), result.templates, data=result.data)


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


def pydantic_problems(exc: ValidationError, model: type[BaseModel], doc: Document, file: str) -> list[Problem]:
    """One Problem per pydantic error, at the line of the offending value."""
    problems: dict[tuple[str, str], Problem] = {}
    for err in exc.errors():
        path = _data_path(doc.data, err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            known = _field_names(model, path[:-1])
            close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
            message = "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
            if known and not close:
                message += f"; expected one of: {', '.join(known)}"
        elif kind == "missing":
            message = "required field missing"
        elif kind == "string_pattern_mismatch" and path[-1:] == ("name",):
            message = f"invalid name {err['input']!r}: use lowercase letters, digits and '-', 1-63 characters, starting and ending with a letter or digit"
        elif kind == "string_pattern_mismatch" and path[-1:] == ("assistantId",):
            message = f"invalid assistant id {_short(err['input'])}: expected a UUID such as 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
        elif kind == "string_pattern_mismatch":
            message = f"invalid value {_short(err['input'])}"
        else:
            message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            message = message[0].lower() + message[1:] if message else message
            # pydantic's wording → the manifest's: no class names, no "after validation".
            message = re.sub(r" or instance of \w+", "", message).replace(" after validation", "")
            message = message.replace("a valid dictionary", "a mapping")
            if kind in {"literal_error"} or kind.endswith("_type") or kind.endswith("_parsing"):
                message += f", got {_short(err['input'])}"
            path, message = _narrow(doc.data, path, message)
        key = (dotted(path), message)
        problems.setdefault(key, Problem(file, doc.line_of(path), dotted(path), message))
    return list(problems.values())


def _narrow(data: Any, path: Path, message: str) -> tuple[Path, str]:
    """``spec.config`` + ``"tags: must be ..."`` → ``spec.config.tags`` + ``"must be ..."``.

    A validator of a whole mapping names the key it objects to at the start of its
    message; point at that key (and its line) instead of the mapping.
    """
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return path, message
    while isinstance(node, dict):
        head, sep, rest = message.partition(": ")
        if not sep or head not in node:
            break
        path, message, node = (*path, head), rest, node[head]
    return path, message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Keep the parts of a pydantic ``loc`` that are real keys/indices in ``data``."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif i == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            path.append(part)  # a missing or unknown key: name it
        else:
            continue  # union branch names such as 'literal[...]' or 'int'
    return tuple(path)


def _field_names(model: type[BaseModel], path: Path) -> list[str]:
    """Field names (as written in YAML) of the model found at ``path``, for did-you-mean."""
    current: Any = model
    for part in path:
        keyed = _is_dict(current)
        current = _unwrap(current)
        if isinstance(part, int) or keyed:
            continue  # a list index or a dict key (targets.<name>): the element's model is next
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field_info = next(
            (f for n, f in current.model_fields.items() if (f.alias or n) == part), None
        )
        if field_info is None:
            return []
        current = field_info.annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _is_dict(tp: Any) -> bool:
    """``dict[K, V]``, possibly inside ``Annotated``/``| None``."""
    while (origin := get_origin(tp)) is not None and origin is not dict:
        args = [a for a in get_args(tp) if a is not type(None)]
        if not args:
            return False
        tp = args[0]
    return get_origin(tp) is dict


def _unwrap(tp: Any) -> Any:
    """list[X] / X | None / Annotated[X, ...] → X (the first model among the args)."""
    while get_origin(tp) is not None:
        args = [a for a in get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if models else (args[0] if args else tp)
        if not models and get_origin(tp) is None:
            break
    return tp


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
