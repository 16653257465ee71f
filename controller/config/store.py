"""Loaded manifest files kept between runs: a file that has not changed is neither parsed,
interpolated nor validated again.

Two tables, one mechanism (:class:`Table`, a JSON file with a checksum):

- ``parse.json``: text hash → the file's documents with their line maps. Read only when a
  file must be loaded for real, or when a problem needs a line number.
- ``load.json``: text hash → the file's *dependencies* (whatever its result depends on
  besides its own text: the variables it references today; included files and shared
  defaults plug in as more :class:`Dependency` kinds) and, per resolution of those
  dependencies, the manifests it validated to. A resolution is a keyed hash of what each
  dependency is now (:meth:`LoadStore.resolution`), so a changed variable or file is never
  served from here.

Nothing secret is ever written: a value from the environment is only hashed, under a
random key kept beside the store and readable by its owner only (so a copied store alone
does not let anyone test guesses of a secret offline), and a sensitive string is stored
as its template and substituted again on use.

A hit is exactly what validation produced for the same input: only files that loaded
without a problem are kept. Every table is plain data (nothing in it is executed); a
torn, edited or foreign file, or a record of the wrong shape, is ignored and rebuilt.
Deleting the folder changes no result, only the time a run takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from controller.config.yamlio import Document, Path
from controller.core.fs import read_checked_json, write_checked_json

FORMAT = 2
#: Records kept beyond this run's (other branches, other environments) before unused ones go.
SPARE = 2000
#: Resolutions kept per file text (a few environments in turn, say CI and a laptop).
RESOLUTIONS_PER_TEXT = 4

R = TypeVar("R")


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=20).hexdigest()


@dataclass(frozen=True)
class Dependency:
    """Something a file's load result depends on besides its own text.

    ``variable``: a ``${NAME}`` the file references (resolved from the target's values,
    the environment, or unset)."""

    kind: Literal["variable"]
    name: str


#: What a dependency is now, as text to hash (never stored in clear): see LoadStore.resolution.
Resolver = Callable[[Dependency], str]


@dataclass(frozen=True)
class StoredManifest:
    """One ``kind: Assistant`` document of a file, as it validated."""

    index: int
    line: int
    #: The validated data, each sensitive string replaced by its template.
    data: dict[str, Any]
    #: Document paths whose value came from the environment (their template is in ``templates``).
    templates: dict[Path, str]


@dataclass(frozen=True)
class StoredFile:
    """A file's dependencies, and its manifests per resolution of them."""

    dependencies: tuple[Dependency, ...]
    loads: dict[str, tuple[StoredManifest, ...]]


class Table(Generic[R]):
    """Records by key in one checked JSON file, loaded on first use and written back by
    :meth:`save` only when a record was added: a run that changed nothing writes nothing."""

    def __init__(self, path: str | None, fmt: str, decode: Callable[[Any], R], encode: Callable[[R], Any]):
        self.path, self._fmt, self._decode, self._encode = path, fmt, decode, encode
        self._raw: dict[str, Any] | None = None
        self._used: set[str] = set()
        self._changed = False

    def _entries(self) -> dict[str, Any]:
        if self._raw is None:
            self._raw = read_checked_json(self.path, self._fmt)
        return self._raw

    def get(self, key: str) -> R | None:
        raw = self._entries().get(key)
        if raw is None:
            return None
        try:
            record = self._decode(raw)
        except Exception:  # a record of the wrong shape: as if absent (it is rebuilt)
            return None
        self._used.add(key)
        return record

    def put(self, key: str, record: R) -> None:
        self._entries()[key] = self._encode(record)
        self._used.add(key)
        self._changed = True

    def save(self) -> None:
        if not (self.path and self._changed and self._raw is not None):
            return
        entries = self._raw
        if len(entries) > len(self._used) + SPARE:
            entries = {k: v for k, v in entries.items() if k in self._used}
        if write_checked_json(self.path, self._fmt, entries):
            self._changed = False


# -- encoding (plain JSON, checked on the way in) ------------------------------------------

def _path(raw: Any) -> Path:
    if not isinstance(raw, list) or not all(isinstance(p, str | int) and not isinstance(p, bool) for p in raw):
        raise ValueError("not a path")
    return tuple(raw)


def _encode_document(doc: Document) -> list[Any]:
    return [doc.data, doc.line, [[list(p), n] for p, n in doc.lines.items()]]


class StoredDocument(Document):
    """A parsed document from the store; its line map (needed only to report a problem) is
    built on first use: building 10,000 of them costs more than reading the store."""

    def __init__(self, data: Any, line: int, raw_lines: list[Any]):
        if not isinstance(line, int) or not isinstance(raw_lines, list):
            raise ValueError("not a stored document")
        self.data, self.line, self._raw_lines = data, line, raw_lines
        self._lines: dict[Path, int] | None = None

    @property
    def lines(self) -> dict[Path, int]:  # type: ignore[override]
        if self._lines is None:
            try:
                self._lines = {tuple(p): n for p, n in self._raw_lines}
            except (TypeError, ValueError):  # a damaged record: problems point at the document's first line
                self._lines = {}
        return self._lines


def _decode_documents(raw: Any) -> list[Document]:
    return [StoredDocument(data, line, lines) for data, line, lines in raw]


def _encode_file(record: StoredFile) -> dict[str, Any]:
    return {"dependencies": [[d.kind, d.name] for d in record.dependencies],
            "loads": {key: [{"index": m.index, "line": m.line, "data": m.data,
                             "templates": [[list(p), t] for p, t in m.templates.items()]} for m in manifests]
                      for key, manifests in record.loads.items()}}


def _decode_dependency(raw: Any) -> Dependency:
    kind, name = raw
    if kind != "variable" or not isinstance(name, str):
        raise ValueError("not a dependency")
    return Dependency(kind, name)


def _decode_manifest(raw: Any) -> StoredManifest:
    index, line, data = raw["index"], raw["line"], raw["data"]
    if not (isinstance(index, int) and isinstance(line, int) and isinstance(data, dict)):
        raise ValueError("not a stored manifest")
    templates = {_path(p): t for p, t in raw["templates"]}
    if not all(isinstance(t, str) for t in templates.values()):
        raise ValueError("not a template")
    return StoredManifest(index, line, data, templates)


def _decode_config(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("targets"), dict):
        raise ValueError("not a validated controller.yaml")
    return raw


def _decode_file(raw: Any) -> StoredFile:
    dependencies = tuple(_decode_dependency(d) for d in raw["dependencies"])
    loads = {key: tuple(_decode_manifest(m) for m in manifests) for key, manifests in raw["loads"].items()
             if isinstance(key, str)}
    return StoredFile(dependencies, loads)


class LoadStore:
    """The parse and load tables of one project (``folder``: ``<root>/.controller/cache``;
    None keeps them for this process only, as a long-running watch's memory)."""

    def __init__(self, folder: str | None):
        self.folder = folder
        self._parsed: Table[list[Document]] = Table(self._file("parse.json"), f"parse-{FORMAT}",
                                                    _decode_documents, lambda docs: [_encode_document(d) for d in docs])
        self._loaded: Table[StoredFile] = Table(self._file("load.json"), f"load-{FORMAT}", _decode_file, _encode_file)
        #: controller.yaml apart: every command reads it, before (and often without) any manifest.
        self._config: Table[dict[str, Any]] = Table(self._file("config.json"), f"config-{FORMAT}", _decode_config, dict)
        self._memos: dict[str, Table[Any]] = {}
        self._key: bytes | None = None

    def _file(self, name: str) -> str | None:
        return os.path.join(self.folder, name) if self.folder else None

    # -- parsing ---------------------------------------------------------------------

    def documents(self, text: str, parse: Callable[[str], list[Document]]) -> list[Document]:
        """``text``'s documents: stored, or ``parse(text)`` and stored (a YamlError is not)."""
        key = text_key(text)
        docs = self._parsed.get(key)
        if docs is None:
            docs = parse(text)
            self._parsed.put(key, docs)
        return docs

    # -- loading ---------------------------------------------------------------------

    def dependencies(self, text: str) -> tuple[Dependency, ...] | None:
        """The dependencies recorded for a file with this text (None: never kept)."""
        record = self._loaded.get(text_key(text))
        return record.dependencies if record is not None else None

    def manifests(self, text: str, resolve: Resolver) -> tuple[str, tuple[StoredManifest, ...]] | None:
        """(the file's digest, its manifests) when it was kept with its dependencies
        resolving as they do now; see :meth:`digest`."""
        key = text_key(text)
        record = self._loaded.get(key)
        if record is None:
            return None
        digest = self._digest(key, record.dependencies, resolve)
        found = record.loads.get(digest)
        return (digest, found) if found is not None else None

    def digest(self, text: str, dependencies: Iterable[Dependency], resolve: Resolver) -> str:
        """What identifies a file's load result: a keyed hash of its text and of what each of its
        dependencies is now. Equal digests, equal results; a caller may key values it derives
        from a file's manifests on it (:meth:`memo`)."""
        return self._digest(text_key(text), dependencies, resolve)

    def keep(self, text: str, dependencies: Iterable[Dependency], resolve: Resolver,
             manifests: tuple[StoredManifest, ...]) -> None:
        """Remember what a file that loaded without a problem validated to."""
        deps = tuple(dependencies)
        key = text_key(text)
        old = self._loaded.get(key)
        loads = dict(old.loads) if old is not None and old.dependencies == deps else {}
        digest = self._digest(key, deps, resolve)
        loads.pop(digest, None)
        while len(loads) >= RESOLUTIONS_PER_TEXT:
            del loads[next(iter(loads))]  # the oldest resolution
        loads[digest] = manifests
        self._loaded.put(key, StoredFile(deps, loads))

    def memo(self, name: str) -> Table[Any]:
        """A table of values a caller derives from loaded manifests (keyed by their digests),
        kept and saved with the store. The loader never reads it: data still flows one way."""
        if name not in self._memos:
            self._memos[name] = Table(self._file(f"{name}.json"), f"{name}-{FORMAT}", lambda raw: raw, lambda value: value)
        return self._memos[name]

    def _digest(self, key: str, dependencies: Iterable[Dependency], resolve: Resolver) -> str:
        """A keyed hash of a text key and what each dependency is now: values are only hashed
        (one from the environment must not be written in clear), under this store's private key."""
        parts = [key, *([d.kind, d.name, resolve(d)] for d in dependencies)]
        text = json.dumps(parts, separators=(",", ":"))
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16, key=self._secret()[:64]).hexdigest()

    # -- controller.yaml -------------------------------------------------------------

    def config(self, text: str) -> dict[str, Any] | None:
        """The validated controller.yaml with this text, if kept (it depends on nothing else)."""
        return self._config.get(text_key(text))

    def keep_config(self, text: str, data: dict[str, Any]) -> None:
        self._config.put(text_key(text), data)

    def save(self) -> None:
        """Write what this run added (a no-op run writes nothing)."""
        tables: list[Table[Any]] = [self._parsed, self._loaded, self._config, *self._memos.values()]
        for table in tables:
            table.save()

    def _secret(self) -> bytes:
        """A random key beside the store, made on first use, mode 0600 (b"" when it cannot be kept)."""
        if self._key is None:
            self._key = b""
            path = self._file("load.key")
            if path:
                try:
                    with open(path, "rb") as fh:
                        self._key = fh.read(64)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "wb") as fh:
                            fh.write(secrets.token_bytes(32))
                    with contextlib.suppress(OSError), open(path, "rb") as fh:
                        self._key = fh.read(64)
        return self._key
