"""The embedded target: assistants with versions in one SQLite file, runs in-process.

It gives open-source LangGraph what the Agent Server has: assistants, every version's
full content, an active pointer, and runs of the graphs declared in langgraph.json.
Unlike the server, setting the active version restores the *whole* version (context
and graph included), so repins here are always faithful.

Durability: WAL journal and a busy timeout, so a second process (``controller
history`` during an apply) reads the last committed state and never a torn one;
the writes of one apply run in one transaction (:meth:`batch`), so a crash mid-apply
leaves the previous state. The file is created on the first write: ``plan`` on a
fresh checkout writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from datetime import UTC, datetime
from typing import Any

from controller.core.content import Content, content_hash, mirrored, system_assistant_id
from controller.core.errors import Conflict, TargetError
from controller.core.mask import redact
from controller.targets.base import AssistantState, GraphInfo, RunOutcome, Version
from controller.targets.graphs import GraphRegistry
from controller.targets.profiles import EMBEDDED
from controller.targets.runconfig import RunRefused, assemble, filter_context

SCHEMA = """
CREATE TABLE IF NOT EXISTS assistants (
    assistant_id TEXT PRIMARY KEY,
    version      INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    assistant_id TEXT NOT NULL REFERENCES assistants(assistant_id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    graph_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    config       TEXT NOT NULL,
    context      TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    content_hash TEXT,
    PRIMARY KEY (assistant_id, version)
);
"""

#: Files made before versions had a content_hash get the column on their first write
#: (a read, such as ``plan``, never changes the file); rows without one are hashed then.
_MIGRATE = "ALTER TABLE versions ADD COLUMN content_hash TEXT"
#: The file's generation: a random id made with it and a counter every write of an assistant
#: bumps (in the write's own transaction), so a reader can tell in one query that nothing was
#: written since it last looked; and the controller's notes on assistants (verdicts), which
#: are no versions. Added, like content_hash, on the first write to an older file.
_META = """
CREATE TABLE IF NOT EXISTS notes (assistant_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                                  PRIMARY KEY (assistant_id, key));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('instance', lower(hex(randomblob(16))));
INSERT OR IGNORE INTO meta VALUES ('writes', '0');
"""
_BUMP = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'writes'"

_COLUMNS = """
SELECT a.assistant_id, a.version, a.created_at, a.updated_at,
       v.graph_id, v.name, v.description, v.config, v.context, v.metadata, {hash}
FROM assistants a JOIN versions v ON v.assistant_id = a.assistant_id AND v.version = a.version
"""
_SELECT = _COLUMNS.format(hash="v.content_hash")
_SELECT_OLD = _COLUMNS.format(hash="NULL")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _content(row: sqlite3.Row | tuple) -> Content:
    graph_id, name, description, config, context, metadata = row
    return _StoredContent(graph_id, name, description, texts=(config, context, metadata))


class _StoredContent(Content):
    """A version's content as the file holds it: config, context and metadata stay JSON
    text until read. A no-op plan of 10,000 assistants compares stored hashes and reads
    only the metadata (owner), so decoding the rest would be most of its time.

    It is a Content in every other way: equal to a Content with the same fields, and
    ``dataclasses.replace`` gives a plain copy with the change."""

    _FIELDS = ("config", "context", "metadata")
    _texts: tuple[str, str, str] | None

    def __init__(self, graph_id: str, name: str, description: str | None = None, config: Any = None,
                 context: Any = None, metadata: Any = None, *, texts: tuple[str, str, str] | None = None):
        for key, value in (("graph_id", graph_id), ("name", name), ("description", description)):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_texts", texts)
        if texts is None:  # made by dataclasses.replace: the values are given
            for key, value in zip(self._FIELDS, (config, context, metadata), strict=True):
                object.__setattr__(self, "_" + key, value if value is not None else {})

    def _decoded(self, index: int) -> Any:
        key = "_" + self._FIELDS[index]
        if key not in self.__dict__:
            assert self._texts is not None
            object.__setattr__(self, key, json.loads(self._texts[index]))
        return self.__dict__[key]

    @property
    def config(self) -> dict[str, Any]:
        return self._decoded(0)

    @property
    def context(self) -> dict[str, Any]:
        return self._decoded(1)

    @property
    def metadata(self) -> dict[str, Any]:
        return self._decoded(2)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Content):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in dataclasses.fields(Content))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return Content.__repr__(self)


#: Metadata keys that can be named in a JSON path as they are (``controller/owner``, ``team``).
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def _contains(haystack: Any, needle: Any) -> bool:
    """The server's metadata filter: nested objects match recursively, the rest by equality."""
    if isinstance(needle, dict):
        return isinstance(haystack, dict) and all(
            k in haystack and _contains(haystack[k], v) for k, v in needle.items()
        )
    return haystack == needle


class EmbeddedTarget:
    """Assistants in SQLite at ``db_path``; graphs from the langgraph.json at ``graphs_file``."""

    def __init__(self, db_path: str, graphs_file: str | None, cache_dir: str | None = None):
        self.db_path = db_path
        self.registry = GraphRegistry(graphs_file, os.path.join(cache_dir, "graphs.json") if cache_dir else None)
        self._db: sqlite3.Connection | None = None
        self._in_batch = False
        self._hashed = True  # does the file have versions.content_hash? (set on connect)
        self._counted = True  # does it have the meta table (its generation)? (set on connect)
        self._lock = threading.RLock()
        self._checkpointer: Any = None  # an InMemorySaver, made by the first run on a thread
        #: thread id → the configurable it pinned at its first run (None before that)
        self._threads: dict[str, dict[str, Any] | None] = {}
        self._store_handle: Any = None  # targets/store.py StoreHandle, opened by the first run

    #: Set-active restores whole versions; no page limits, no unique graph+config rule.
    profile = EMBEDDED

    # -- storage -----------------------------------------------------------------

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            if not create and not os.path.exists(self.db_path):
                return None
            os.makedirs(os.path.dirname(os.path.abspath(self.db_path)), exist_ok=True)
            db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._hashed = any(r[1] == "content_hash" for r in db.execute("PRAGMA table_info(versions)"))
            self._counted = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None
            self._db = db
        if create and not (self._hashed and self._counted):
            self._migrate(self._db)
        return self._db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Add the content_hash column (and fill it) and the meta table, in one transaction."""
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, _META.split(";")):
                db.execute(statement)
            if not any(r[1] == "content_hash" for r in db.execute("PRAGMA table_info(versions)")):
                db.execute(_MIGRATE)
            rows = db.execute("SELECT assistant_id, version, graph_id, name, description, config, context, metadata"
                              " FROM versions WHERE content_hash IS NULL").fetchall()
            db.executemany("UPDATE versions SET content_hash = ? WHERE assistant_id = ? AND version = ?",
                           [(content_hash(_content(r[2:8])), r[0], r[1]) for r in rows])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._hashed = self._counted = True

    @property
    def _select(self) -> str:
        return _SELECT if self._hashed else _SELECT_OLD

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            db = self._connect(create=False)
            sql = sql.replace("{select}", self._select)  # known once connected: the file may predate content_hash
            return db.execute(sql, args).fetchall() if db else []

    @contextlib.contextmanager
    def _write(self):
        """One write; its own transaction unless inside :meth:`batch`."""
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            if self._in_batch:
                yield db
                db.execute(_BUMP)
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute(_BUMP)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            if self._in_batch:
                yield
                return
            db.execute("BEGIN IMMEDIATE")
            self._in_batch = True
        try:
            yield
        except BaseException:
            with self._lock:
                self._in_batch = False
                db.execute("ROLLBACK")
            raise
        with self._lock:
            self._in_batch = False
            db.execute("COMMIT")

    # -- reads -------------------------------------------------------------------

    async def generation(self) -> str | None:
        """``<file id>:<writes>``: changes with every write to this file (and differs for a new
        file), so a caller may reuse what it read at the same generation. ``empty`` for no file
        yet; None for a file from before generations (until its first write adds them)."""
        if not os.path.exists(self.db_path) and self._db is None:
            return "empty"
        with self._lock:
            db = self._connect(create=False)
            if db is None or not self._counted:
                return None
            rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('instance', 'writes')").fetchall())
        return f"{rows.get('instance')}:{rows.get('writes')}"


    async def graphs(self) -> dict[str, GraphInfo]:
        if self.registry.config_path is None:  # every graph would be "unknown": say why, once
            raise TargetError(
                "the embedded target has no langgraph.json: none at or above the project root (the folder of "
                "controller.yaml, else the git top level, else the current directory); run from the project's "
                "folder, pass --config, or set graphs: in controller.yaml")
        out = {}
        for graph_id, entry in self.registry.entries.items():
            config_schema, context_schema, error = self.registry.schemas(graph_id)
            out[graph_id] = GraphInfo(graph_id, config_schema, context_schema, entry.description, error)
        self.registry.save_cache()
        return out

    def _system(self) -> list[AssistantState]:
        """The per-graph default assistants, as the server makes them; never stored, never written."""
        return [
            AssistantState(
                system_assistant_id(graph_id),
                1,
                Content(graph_id, graph_id, entry.description, {}, {}, {"created_by": "system"}),
            )
            for graph_id, entry in self.registry.entries.items()
        ]

    def _state(self, row: tuple) -> AssistantState:
        return AssistantState(row[0], row[1], _content(row[4:10]), row[2], row[3], content_hash=row[10])

    async def list_assistants(self, metadata: dict[str, Any] | None = None) -> list[AssistantState]:
        # Plain string values are matched by SQLite (an owner's listing decodes no other row's
        # metadata); whatever else the filter holds is matched here, as the server matches it.
        plain = {k: v for k, v in (metadata or {}).items() if isinstance(v, str) and _SAFE_KEY.match(k)}
        where = " AND ".join(f"json_extract(v.metadata, '$.\"{k}\"') = ?" for k in plain)
        sql = "{select}" + (f" WHERE {where}" if where else "") + " ORDER BY a.assistant_id"
        rest = {k: v for k, v in (metadata or {}).items() if k not in plain}
        rows = [self._state(r) for r in self._read(sql, tuple(plain.values()))]
        if rest:
            rows = [a for a in rows if _contains(a.content.metadata, rest)]
        system = [a for a in self._system() if _contains(a.content.metadata, metadata or {})]
        return rows + system

    async def get(self, assistant_id: str, *, versions: bool = False) -> AssistantState | None:
        assistant_id = assistant_id.lower()
        rows = self._read("{select} WHERE a.assistant_id = ?", (assistant_id,))
        if not rows:
            return next((s for s in self._system() if s.assistant_id == assistant_id), None)
        state = self._state(rows[0])
        if versions:
            entries = self._read(
                "SELECT version, graph_id, name, description, config, context, metadata, created_at"
                " FROM versions WHERE assistant_id = ? ORDER BY version DESC",
                (assistant_id,),
            )
            state = dataclasses.replace(
                state, versions=tuple(Version(r[0], _content(r[1:7]), r[7]) for r in entries)
            )
        return state

    async def get_many(self, assistant_ids: Collection[str], *, total: int | None = None) -> dict[str, AssistantState]:
        found = [await self.get(i) for i in assistant_ids]
        return {state.assistant_id: state for state in found if state is not None}

    async def count(self) -> int | None:
        return None  # lookups are local: nothing to choose between

    async def history(self, state: AssistantState) -> AssistantState | None:
        return await self.get(state.assistant_id, versions=True)

    # -- writes ------------------------------------------------------------------

    def _check_graph(self, graph_id: str) -> None:
        if graph_id not in self.registry.entries:
            raise TargetError(f"graph {graph_id!r} not found; expected one of: {', '.join(self.registry.entries)}")

    def _insert_version(self, db: sqlite3.Connection, assistant_id: str, number: int, c: Content, now: str) -> None:
        config, context = mirrored(c.config, c.context)
        texts = json.dumps(config), json.dumps(context), json.dumps(c.metadata)
        stored = _content((c.graph_id, c.name, c.description, *texts))  # the hash of what a read gives back
        db.execute(
            "INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?,?)",
            (assistant_id, number, c.graph_id, c.name, c.description, *texts, now, content_hash(stored)),
        )

    async def create(self, assistant_id: str, content: Content) -> AssistantState:
        assistant_id = str(uuid.UUID(assistant_id))
        self._check_graph(content.graph_id)
        now = _now()
        with self._write() as db:
            if db.execute("SELECT 1 FROM assistants WHERE assistant_id = ?", (assistant_id,)).fetchone() or any(
                s.assistant_id == assistant_id for s in self._system()
            ):
                raise Conflict(f"assistant {assistant_id} already exists")
            db.execute("INSERT INTO assistants VALUES (?,?,?,?)", (assistant_id, 1, now, now))
            self._insert_version(db, assistant_id, 1, content, now)
        return await self._must_get(assistant_id)

    async def update(self, assistant_id: str, content: Content) -> AssistantState:
        assistant_id = assistant_id.lower()
        self._check_graph(content.graph_id)
        now = _now()
        with self._write() as db:
            row = db.execute(_SELECT + " WHERE a.assistant_id = ?", (assistant_id,)).fetchone()
            if row is None:
                raise TargetError(f"assistant {assistant_id} not found")
            live = _content(row[4:10])
            merged = dataclasses.replace(content, metadata={**live.metadata, **content.metadata})  # the server merges
            (number,) = db.execute("SELECT MAX(version) + 1 FROM versions WHERE assistant_id = ?", (assistant_id,)).fetchone()
            self._insert_version(db, assistant_id, number, merged, now)
            db.execute("UPDATE assistants SET version = ?, updated_at = ? WHERE assistant_id = ?", (number, now, assistant_id))
        return await self._must_get(assistant_id)

    async def set_active(self, assistant_id: str, version: int) -> AssistantState:
        assistant_id = assistant_id.lower()
        with self._write() as db:
            if not db.execute("SELECT 1 FROM versions WHERE assistant_id = ? AND version = ?", (assistant_id, version)).fetchone():
                raise TargetError(f"version {version} not found for assistant {assistant_id}")
            db.execute("UPDATE assistants SET version = ?, updated_at = ? WHERE assistant_id = ?", (version, _now(), assistant_id))
        return await self._must_get(assistant_id)

    async def delete(self, assistant_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM assistants WHERE assistant_id = ?", (assistant_id.lower(),))
            db.execute("DELETE FROM notes WHERE assistant_id = ?", (assistant_id.lower(),))

    async def notes(self, assistant_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        wanted = {a.lower() for a in assistant_ids}
        if not wanted or not self._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'notes'"):
            return {}
        out: dict[str, dict[str, Any]] = {}
        rows = self._read("SELECT assistant_id, key, value FROM notes") if len(wanted) > 50 else [
            r for a in wanted for r in self._read("SELECT assistant_id, key, value FROM notes WHERE assistant_id = ?", (a,))]
        for assistant_id, key, value in rows:
            if assistant_id in wanted:
                with contextlib.suppress(ValueError):
                    out.setdefault(assistant_id, {})[key] = json.loads(value)
        return out

    async def put_note(self, assistant_id: str, key: str, value: dict[str, Any]) -> None:
        """(A note is not an assistant write: the generation stays.)"""
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            db.execute("INSERT OR REPLACE INTO notes VALUES (?, ?, ?)", (assistant_id.lower(), key, json.dumps(value)))

    async def _must_get(self, assistant_id: str) -> AssistantState:
        state = await self.get(assistant_id)
        assert state is not None
        return state

    # -- runs --------------------------------------------------------------------

    async def create_thread(self) -> str:
        thread_id = str(uuid.uuid4())
        self._threads[thread_id] = None
        return thread_id

    async def delete_thread(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)
        if self._checkpointer is not None:
            self._checkpointer.delete_thread(thread_id)

    async def run(self, assistant_id: str, input: Any, *, thread_id: str | None = None, timeout: float = 60.0,
                  config: dict[str, Any] | None = None, context: dict[str, Any] | None = None) -> RunOutcome:
        state = await self.get(assistant_id)
        if state is None:
            return RunOutcome("error", error=f"NotFound: assistant {assistant_id} not found")
        if thread_id is not None and thread_id not in self._threads:
            return RunOutcome("error", error=f"NotFound: thread {thread_id} not found")
        secrets = self.registry.apply_env()  # before the graph's import, as langgraph dev does
        try:
            job = self._job(state, input, thread_id, config, context)
        except RunRefused as exc:
            return RunOutcome("error", error=f"BadRequest: {exc}")
        try:
            output = await _in_daemon_thread(job, timeout)
        except TimeoutError:
            return RunOutcome("timeout", error=f"run did not finish within {timeout:g}s")
        except Exception as exc:
            return RunOutcome("error", error=redact(f"{type(exc).__name__}: {exc}", secrets),
                              secrets=secrets)
        return RunOutcome("success", output=_plain(output), secrets=secrets)

    def _job(self, state: AssistantState, input: Any, thread_id: str | None,
             run_config: dict[str, Any] | None, run_context: dict[str, Any] | None) -> Callable[[], Any]:
        """The run, as the server makes it (runconfig.py): the assistant's config and context
        with the run's over them, the server's ids, the context filtered by the graph's
        context schema, the shared store, and a checkpointer on a thread."""
        content = state.content
        ids = {"run_id": str(uuid.uuid4()), "thread_id": thread_id or str(uuid.uuid4()),
               "graph_id": content.graph_id, "assistant_id": state.assistant_id}
        setup = assemble(state.assistant_id, content.graph_id, content.config, content.context, content.metadata,
                         run_config=run_config, run_context=run_context, ids=ids,
                         thread_configurable=self._threads.get(thread_id) if thread_id else None)
        if thread_id:
            self._threads[thread_id] = setup.thread_configurable  # threads pin the configurable of their first run
        if thread_id and self._checkpointer is None:
            from langgraph.checkpoint.memory import InMemorySaver  # only a run pays for langgraph

            self._checkpointer = InMemorySaver()
        registry, checkpointer, store = self.registry, self._checkpointer, self._store

        def job() -> Any:
            graph: Any = registry.compiled(content.graph_id, setup.config)  # Any: its context type is the graph's
            graph = graph.copy(update={"checkpointer": checkpointer if thread_id else None, "store": store()})
            run = filter_context(setup, _context_schema(graph) if setup.context else None)
            if _has_async_only_nodes(graph):
                return asyncio.run(graph.ainvoke(input, run.config, context=run.context))
            # Synchronously, in this daemon thread: asyncio would hand sync nodes to a
            # thread pool that the interpreter joins at exit, so a hung graph would hang us.
            return graph.invoke(input, run.config, context=run.context)

        return job

    def _store(self) -> Any:
        """The one long-term store of all assistants and threads, opened by the first run that
        needs it (targets/store.py): beside the state file, from langgraph.json's ``store``."""
        with self._lock:
            if self._store_handle is None:
                from controller.targets.store import StoreHandle

                self._store_handle = StoreHandle(self.registry.store_config, self.registry.base, self.db_path,
                                                 self.registry.config_path or "langgraph.json")
            return self._store_handle.store

    async def aclose(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            handle, self._store_handle = self._store_handle, None
        if handle is not None:
            handle.close()


def _plain(value: Any) -> Any:
    """The output as JSON sees it, as the Agent Server sends it: graphs hand back Python
    objects (LangChain messages, dataclasses), and ``messages[-1].content`` must read the
    same here as on a server."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return _plain(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    return value


def _has_async_only_nodes(graph: Any) -> bool:
    for node in getattr(graph, "nodes", {}).values():
        bound = getattr(node, "bound", None)
        func = getattr(bound, "func", None)
        if bound is not None and func is None and getattr(bound, "afunc", None) is not None:
            return True
    return False


def _context_schema(graph: Any) -> dict[str, Any] | None:
    """The graph's context JSON Schema, as the server reads it to filter a run's context;
    None when it has none or it cannot be made (the server then keeps the context whole)."""
    try:
        schema = graph.get_context_jsonschema()
    except Exception:
        return None
    return schema if isinstance(schema, dict) else None


async def _in_daemon_thread(job: Callable[[], Any], timeout: float) -> Any:
    """Run ``job`` in a daemon thread: a graph that hangs past its timeout is abandoned
    without blocking the process's exit (a thread pool would wait for it)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def target() -> None:
        result, error = None, None
        try:
            result = job()
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=target, daemon=True, name="controller-run").start()
    return await asyncio.wait_for(future, timeout)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():  # timed out or cancelled meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
