"""Loaded manifest files kept between runs: a file that has not changed is neither parsed,
interpolated nor validated again.

One cache file (``<root>/.controller/cache/cache.db``, SQLite: a record is read or written
alone, so an edit of one file among thousands rewrites one record) holds tables of JSON
records, each read and written through :class:`Table`:

- ``load``: text hash → the file's *dependencies* (whatever its result depends on besides
  its own text: the variables it references, the prompt files it reads, the Defaults that
  select its assistants; each a :class:`Dependency`) and, per digest of those dependencies
  as they are now, the manifests it validated to. A changed variable, prompt file or
  Defaults document is never served from here.
- ``defaults``: the same for the ``kind: Defaults`` documents of a file (they depend on
  their variables and prompt files, not on other Defaults).
- ``config``: controller.yaml's validated data, by text hash.
- memos (:meth:`LoadStore.memo`): values callers derive from loaded files, by digest.

Nothing secret is ever written: a value from the environment is only hashed, under a
random key kept beside the store and readable by its owner only (so a copied store alone
does not let anyone test guesses of a secret offline), and a sensitive string is stored
as its template and substituted again on use.

A hit is exactly what validation produced for the same input: only files that loaded
without a problem are kept. Records are plain data (nothing in them is executed); a file
that is not a database, or a record of the wrong shape, is ignored and rebuilt. Deleting
the folder changes no result, only the time a run takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_args

from controller.config.yamlio import Path

FORMAT = 5
#: Records kept beyond this run's (other branches, other environments) before unused ones go.
SPARE = 2000
#: Resolutions kept per file text (a few environments in turn, say CI and a laptop).
RESOLUTIONS_PER_TEXT = 4

R = TypeVar("R")
V = TypeVar("V")
DependencyKind = Literal["variable", "file", "defaults"]


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=20).hexdigest()


@dataclass(frozen=True)
class Dependency:
    """Something a file's load result depends on besides its own text.

    ``variable``: a ``${NAME}`` the file references (resolved from the target's values,
    the environment, or unset). ``file``: a ``${file:PATH}`` it reads (the path as written,
    relative to the file; resolved to the file's place and a hash of its bytes).
    ``defaults``: the labels (as written) of one of its assistants (resolved to what the
    Defaults that select those labels give)."""

    kind: DependencyKind
    name: str


#: What a dependency is now, as text to hash (never stored in clear): see LoadStore.digest.
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
    #: Where values not written in the manifest came from (prompt files, Defaults), by document path.
    origins: dict[Path, str]
    #: The prompt files the manifest read, as output names them.
    files: tuple[str, ...]


@dataclass(frozen=True)
class StoredDefaults:
    """One ``kind: Defaults`` document of a file, as it validated (paths are within its spec)."""

    index: int
    line: int
    name: str
    match: dict[str, str]
    #: The validated spec, each sensitive string replaced by its template.
    spec: dict[str, Any]
    lines: dict[Path, int]
    templates: dict[Path, str]
    reads: dict[Path, tuple[str, ...]]


@dataclass(frozen=True)
class StoredFile(Generic[V]):
    """A file's dependencies, and its results per resolution of them."""

    dependencies: tuple[Dependency, ...]
    loads: dict[str, tuple[V, ...]]


@dataclass(frozen=True)
class Kept(Generic[V]):
    """A kept file's result as found: its text's hash, its dependencies, their digest now
    (:meth:`LoadStore.digest`), and what it validated to."""

    text_key: str
    dependencies: tuple[Dependency, ...]
    digest: str
    manifests: tuple[V, ...]


class CacheFile:
    """The SQLite file every table lives in, opened on first use. Any failure (no room, a
    locked or damaged file) leaves the run without a cache, never with an error: a damaged
    file is removed, so the next run starts a new one."""

    def __init__(self, path: str | None):
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._off = path is None

    def _open(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None and not self._off and self.path and (create or os.path.exists(self.path)):
            try:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                db = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, key TEXT NOT NULL,"
                           " value TEXT NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID")
                self._db = db
            except sqlite3.Error as exc:
                self._fail(exc)
        return self._db

    def _fail(self, exc: sqlite3.Error) -> None:
        self._off, self._db = True, None
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) and self.path:
            with contextlib.suppress(OSError):  # not a database (any more): the next run makes a new one
                os.unlink(self.path)

    def get(self, table: str, key: str) -> str | None:
        db = self._open(create=False)
        if db is None:
            return None
        try:
            row = db.execute("SELECT value FROM records WHERE tbl = ? AND key = ?", (table, key)).fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        return row[0] if row else None

    def prefixed(self, table: str, prefix: str) -> list[tuple[str, str]]:
        """Every (key, value) of ``table`` whose key starts with ``prefix``, in one query."""
        db = self._open(create=False)
        if db is None:
            return []
        try:
            return db.execute("SELECT key, value FROM records WHERE tbl = ? AND key >= ? AND key < ?",
                              (table, prefix, prefix + "\U0010ffff")).fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
            return []

    def write(self, table: str, rows: dict[str, str], keep: set[str]) -> None:
        """Write ``rows``; when the table has grown past ``keep`` plus SPARE, drop what is not in ``keep``."""
        db = self._open(create=True)
        if db is None:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", [(table, k, v) for k, v in rows.items()])
                (count,) = db.execute("SELECT COUNT(*) FROM records WHERE tbl = ?", (table,)).fetchone()
                if count > len(keep) + SPARE:
                    db.execute("CREATE TEMP TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY)")
                    db.execute("DELETE FROM kept")
                    db.executemany("INSERT OR IGNORE INTO kept VALUES (?)", [(k,) for k in keep])
                    db.execute("DELETE FROM records WHERE tbl = ? AND key NOT IN (SELECT key FROM kept)", (table,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:  # busy past the timeout, no room: the next run is only slower
            self._fail(exc)


class Table(Generic[R]):
    """Records of one kind, by key, read one at a time (and kept in memory once read) and
    written by :meth:`save` only when one was added: a run that changed nothing writes nothing."""

    def __init__(self, file: CacheFile, name: str, decode: Callable[[Any], R], encode: Callable[[R], Any]):
        self._file, self._name, self._decode, self._encode = file, name, decode, encode
        self._read: dict[str, Any] = {}
        self._pending: dict[str, str] = {}
        self._used: set[str] = set()

    def get(self, key: str) -> R | None:
        raw = self._read.get(key)
        if raw is None:
            text = self._file.get(self._name, key)
            if text is None:
                return None
            try:
                raw = self._read[key] = json.loads(text)
            except ValueError:
                return None
        try:
            record = self._decode(raw)
        except Exception:  # a record of the wrong shape: as if absent (it is rebuilt)
            return None
        self._used.add(key)
        return record

    def prefixed(self, prefix: str) -> dict[str, Any]:
        """The raw records whose keys start with ``prefix``, read at once (kept in memory, as used)."""
        found = {}
        for key, text in self._file.prefixed(self._name, prefix):
            try:
                found[key] = self._read[key] = json.loads(text)
            except ValueError:
                continue
        found.update({k: v for k, v in self._read.items() if k.startswith(prefix)})
        self._used.update(found)
        return found

    def put(self, key: str, record: R) -> None:
        raw = self._encode(record)
        self._read[key] = raw
        self._pending[key] = json.dumps(raw, separators=(",", ":"))
        self._used.add(key)

    def save(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, {}
            self._file.write(self._name, pending, self._used)


# -- encoding (plain JSON, checked on the way in) ------------------------------------------

def _path(raw: Any) -> Path:
    if not isinstance(raw, list) or not all(isinstance(p, str | int) and not isinstance(p, bool) for p in raw):
        raise ValueError("not a path")
    return tuple(raw)


def _paths(raw: Any, value: Callable[[Any], Any]) -> dict[Path, Any]:
    return {_path(p): value(v) for p, v in raw}


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("not text")
    return raw


def _int(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError("not a number")
    return raw


def _texts(raw: Any) -> tuple[str, ...]:
    return tuple(_text(t) for t in raw)


def _encode_manifest(m: StoredManifest) -> dict[str, Any]:
    return {"index": m.index, "line": m.line, "data": m.data,
            "templates": [[list(p), t] for p, t in m.templates.items()],
            "origins": [[list(p), o] for p, o in m.origins.items()], "files": list(m.files)}


def _decode_manifest(raw: Any) -> StoredManifest:
    data = raw["data"]
    if not isinstance(data, dict):
        raise ValueError("not a stored manifest")
    return StoredManifest(_int(raw["index"]), _int(raw["line"]), data, _paths(raw["templates"], _text),
                          _paths(raw["origins"], _text), _texts(raw["files"]))


def _encode_defaults(d: StoredDefaults) -> dict[str, Any]:
    return {"index": d.index, "line": d.line, "name": d.name, "match": d.match, "spec": d.spec,
            "lines": [[list(p), n] for p, n in d.lines.items()],
            "templates": [[list(p), t] for p, t in d.templates.items()],
            "reads": [[list(p), list(r)] for p, r in d.reads.items()]}


def _decode_defaults(raw: Any) -> StoredDefaults:
    match, spec = raw["match"], raw["spec"]
    if not (isinstance(match, dict) and all(isinstance(v, str) for v in match.values()) and isinstance(spec, dict)):
        raise ValueError("not stored defaults")
    return StoredDefaults(_int(raw["index"]), _int(raw["line"]), _text(raw["name"]), match, spec,
                          _paths(raw["lines"], _int), _paths(raw["templates"], _text), _paths(raw["reads"], _texts))


def _decode_dependency(raw: Any) -> Dependency:
    kind, name = raw
    if kind not in get_args(DependencyKind) or not isinstance(name, str):
        raise ValueError("not a dependency")
    return Dependency(kind, name)


def _decode_config(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("targets"), dict):
        raise ValueError("not a validated controller.yaml")
    return raw


def _file_codec(encode: Callable[[V], Any], decode: Callable[[Any], V]) -> tuple[Callable[[Any], StoredFile[V]],
                                                                               Callable[[StoredFile[V]], Any]]:
    """How a :class:`StoredFile` of ``V`` records is read and written."""

    def read(raw: Any) -> StoredFile[V]:
        dependencies = tuple(_decode_dependency(d) for d in raw["dependencies"])
        loads = {key: tuple(decode(m) for m in items) for key, items in raw["loads"].items() if isinstance(key, str)}
        return StoredFile(dependencies, loads)

    def write(record: StoredFile[V]) -> Any:
        return {"dependencies": [[d.kind, d.name] for d in record.dependencies],
                "loads": {key: [encode(m) for m in items] for key, items in record.loads.items()}}

    return read, write


class _ByDependencies(Generic[V]):
    """A table of files' results, by text and then by the digest of their dependencies."""

    def __init__(self, table: Table[StoredFile[V]], digest: Callable[[str, Iterable[Dependency], Resolver], str]):
        self._table, self._digest = table, digest

    def get(self, text: str, resolve: Resolver) -> Kept[V] | None:
        key = text_key(text)
        record = self._table.get(key)
        if record is None:
            return None
        digest = self._digest(key, record.dependencies, resolve)
        found = record.loads.get(digest)
        return Kept(key, record.dependencies, digest, found) if found is not None else None

    def keep(self, text: str, dependencies: Iterable[Dependency], resolve: Resolver, results: tuple[V, ...]) -> None:
        deps = tuple(dependencies)
        key = text_key(text)
        old = self._table.get(key)
        loads = dict(old.loads) if old is not None and old.dependencies == deps else {}
        digest = self._digest(key, deps, resolve)
        loads.pop(digest, None)
        while len(loads) >= RESOLUTIONS_PER_TEXT:
            del loads[next(iter(loads))]  # the oldest resolution
        loads[digest] = results
        self._table.put(key, StoredFile(deps, loads))


class LoadStore:
    """The cache tables of one project (``folder``: ``<root>/.controller/cache``; None keeps
    them for this process only)."""

    def __init__(self, folder: str | None):
        self.folder = folder
        self._cache = CacheFile(os.path.join(folder, "cache.db") if folder else None)
        decode, encode = _file_codec(_encode_manifest, _decode_manifest)
        self._loaded: Table[StoredFile[StoredManifest]] = Table(self._cache, f"load-{FORMAT}", decode, encode)
        decode_d, encode_d = _file_codec(_encode_defaults, _decode_defaults)
        self._defaults: Table[StoredFile[StoredDefaults]] = Table(self._cache, f"defaults-{FORMAT}", decode_d, encode_d)
        self._config: Table[dict[str, Any]] = Table(self._cache, f"config-{FORMAT}", _decode_config, dict)
        self._memos: dict[str, Table[Any]] = {}
        self._key: bytes | None = None

    # -- loading ---------------------------------------------------------------------

    def manifests(self, text: str, resolve: Resolver) -> Kept[StoredManifest] | None:
        """The file's manifests when it was kept with its dependencies resolving as they do now."""
        return _ByDependencies(self._loaded, self._digest).get(text, resolve)

    def defaults(self, text: str, resolve: Resolver) -> Kept[StoredDefaults] | None:
        """The file's Defaults documents, likewise."""
        return _ByDependencies(self._defaults, self._digest).get(text, resolve)

    def digest(self, text: str, dependencies: Iterable[Dependency], resolve: Resolver) -> str:
        """What identifies a file's load result: a keyed hash of its text and of what each of its
        dependencies is now. Equal digests, equal results; a caller may key values it derives
        from a file's manifests on it (:meth:`memo`)."""
        return self._digest(text_key(text), dependencies, resolve)

    def digest_of_key(self, key: str, dependencies: Iterable[Dependency], resolve: Resolver) -> str:
        """:meth:`digest` of a text known only by its ``text_key`` (a caller that did not read it again)."""
        return self._digest(key, dependencies, resolve)

    def keep(self, text: str, dependencies: Iterable[Dependency], resolve: Resolver,
             manifests: tuple[StoredManifest, ...]) -> None:
        """Remember what a file that loaded without a problem validated to."""
        _ByDependencies(self._loaded, self._digest).keep(text, dependencies, resolve, manifests)

    def keep_defaults(self, text: str, dependencies: Iterable[Dependency], resolve: Resolver,
                      docs: tuple[StoredDefaults, ...]) -> None:
        """Remember a file's valid Defaults documents."""
        _ByDependencies(self._defaults, self._digest).keep(text, dependencies, resolve, docs)

    def memo(self, name: str) -> Table[Any]:
        """A table of values a caller derives from loaded manifests (keyed by their digests),
        kept and saved with the store. The loader never reads it: data still flows one way."""
        if name not in self._memos:
            self._memos[name] = Table(self._cache, f"{name}-{FORMAT}", lambda raw: raw, lambda value: value)
        return self._memos[name]

    def _digest(self, key: str, dependencies: Iterable[Dependency], resolve: Resolver) -> str:
        """A keyed hash of a text key and what each dependency is now: values are only hashed
        (one from the environment must not be written in clear), under this store's private key."""
        parts = [key]
        for d in dependencies:
            parts += (d.kind, d.name, resolve(d))
        text = "".join(f"{len(p)}:{p}" for p in parts)  # length-prefixed: no two lists give one text
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16, key=self._secret()[:64]).hexdigest()

    # -- controller.yaml -------------------------------------------------------------

    def config(self, text: str) -> dict[str, Any] | None:
        """The validated controller.yaml with this text, if kept (it depends on nothing else)."""
        return self._config.get(text_key(text))

    def keep_config(self, text: str, data: dict[str, Any]) -> None:
        self._config.put(text_key(text), data)

    def save(self) -> None:
        """Write what this run added (a no-op run writes nothing)."""
        tables: list[Table[Any]] = [self._loaded, self._defaults, self._config, *self._memos.values()]
        for table in tables:
            table.save()

    def _secret(self) -> bytes:
        """A random key beside the store, made on first use, mode 0600 (b"" when it cannot be kept)."""
        if self._key is None:
            self._key = b""
            path = os.path.join(self.folder, "load.key") if self.folder else None
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
