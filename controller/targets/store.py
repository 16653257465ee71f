"""The long-term store of the embedded target, configured from langgraph.json's ``store``.

The Agent Server gives every run one store shared by all assistants and threads
(``langgraph_api.store.get_store``): under ``langgraph dev`` an ``InMemoryStore`` with
langgraph.json's ``store.index`` (``langgraph_runtime_inmem.store.set_store_config``,
embeddings resolved by ``langgraph_api.graph.resolve_embeddings``), pickled into
``.langgraph_api/``; or a custom store named by ``store.path``
(``langgraph_api.store._load_store`` / ``_yield_store``) in its place.

The embedded target uses that same ``InMemoryStore`` (so gets, filters and semantic
search score and order exactly as there) and keeps its contents in a SQLite file beside
the state file (``state.db`` → ``state.store.db``): every write is committed at once,
and a process re-reads the file when another one has committed since
(``PRAGMA data_version``), so ``apply``, ``test`` and ``watch`` share one store.
(langgraph's SqliteStore needs the sqlite-vec extension for an index, which Pythons
built without loadable extensions cannot load.) ``store.ttl`` is not applied:
``langgraph dev`` ignores it too; a hosted deployment honours it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from langgraph.store.base import BaseStore, Item, Op, PutOp, Result
from langgraph.store.memory import InMemoryStore

from controller.core.errors import ControllerError
from controller.targets.pyfile import import_file


class _NoNumpyNotice(logging.Filter):
    """InMemoryStore logs a warning on its first vector search when NumPy is absent; a CLI
    run is no place for it (search works, in pure Python)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("NumPy not found")


logging.getLogger("langgraph.store.memory").addFilter(_NoNumpyNotice())

_TABLES = """
CREATE TABLE IF NOT EXISTS store_items (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace, key));
CREATE TABLE IF NOT EXISTS store_vectors (
    namespace TEXT NOT NULL, key TEXT NOT NULL, path TEXT NOT NULL, vector TEXT NOT NULL,
    PRIMARY KEY (namespace, key, path));
"""


class PersistedInMemoryStore(InMemoryStore):
    """``InMemoryStore`` whose contents live in SQLite: loaded (again) when another
    connection committed, written through on every put or delete."""

    def __init__(self, conn: sqlite3.Connection, *, index: Any = None):
        super().__init__(index=index)
        self._conn = conn
        self._guard = threading.RLock()
        self._seen: int | None = None
        conn.executescript(_TABLES)

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        with self._guard:
            self._refresh()
            results = super().batch(ops)
            self._persist({(op.namespace, op.key) for op in ops if isinstance(op, PutOp)})
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """The same operations, in a worker thread (the guard is a thread lock)."""
        return await asyncio.to_thread(self.batch, list(ops))

    def _refresh(self) -> None:
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        if version == self._seen:
            return
        self._data.clear()
        self._vectors.clear()
        for ns, key, value, created, updated in self._conn.execute("SELECT * FROM store_items"):
            namespace = tuple(json.loads(ns))
            self._data[namespace][key] = Item(value=json.loads(value), key=key, namespace=namespace,
                                              created_at=datetime.fromisoformat(created),
                                              updated_at=datetime.fromisoformat(updated))
        for ns, key, path, vector in self._conn.execute("SELECT * FROM store_vectors"):
            self._vectors[tuple(json.loads(ns))][key][path] = json.loads(vector)
        self._seen = version

    def _persist(self, keys: set[tuple[tuple[str, ...], str]]) -> None:
        if not keys:
            return
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            for namespace, key in keys:
                ns = json.dumps(list(namespace))
                db.execute("DELETE FROM store_vectors WHERE namespace = ? AND key = ?", (ns, key))
                item = self._data.get(namespace, {}).get(key)
                if item is None:
                    db.execute("DELETE FROM store_items WHERE namespace = ? AND key = ?", (ns, key))
                    continue
                db.execute("INSERT OR REPLACE INTO store_items VALUES (?,?,?,?,?)",
                           (ns, key, json.dumps(item.value), item.created_at.isoformat(), item.updated_at.isoformat()))
                db.executemany("INSERT INTO store_vectors VALUES (?,?,?,?)",
                               [(ns, key, path, json.dumps(vector))
                                for path, vector in self._vectors.get(namespace, {}).get(key, {}).items()])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def store_file(db_path: str) -> str:
    """``.controller/state.db`` → ``.controller/state.store.db``."""
    root, _ = os.path.splitext(db_path)
    return root + ".store.db"


class StoreHandle:
    """One store for the whole target; closed with it."""

    def __init__(self, section: Any, base: str, db_path: str, config_path: str):
        self._stack = contextlib.ExitStack()
        self.store: BaseStore = self._open(section if isinstance(section, dict) else {}, base, db_path, config_path)

    def _open(self, section: dict[str, Any], base: str, db_path: str, config_path: str) -> BaseStore:
        if section.get("path"):
            return self._custom(str(section["path"]), base, config_path)
        index = section.get("index") or None
        if index is not None:
            index = {**index, "embed": resolve_embeddings(index.get("embed"), base)}
        path = store_file(db_path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._stack.callback(conn.close)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return PersistedInMemoryStore(conn, index=index)

    def _custom(self, store_path: str, base: str, config_path: str) -> BaseStore:
        """``store.path``, loaded as ``langgraph_api.store._load_store`` loads it."""
        if "/" in store_path or ".py:" in store_path:
            file, attr = store_path.rsplit(":", 1)
            module = _import_file(os.path.normpath(os.path.join(base, file.rstrip(":"))), "_controller_store")
        else:
            name, attr = store_path.rsplit(".", 1)
            module = importlib.import_module(name)
        if attr not in module.__dict__:
            raise ControllerError(f"{config_path}: store.path: {store_path!r} has no {attr!r}")
        return self._enter(module.__dict__[attr], store_path)

    def _enter(self, value: Any, store_path: str) -> BaseStore:
        """A store, a context manager giving one, or a callable returning either (``_yield_store``)."""
        if isinstance(value, BaseStore):
            return value
        if hasattr(value, "__enter__"):
            return self._enter(self._stack.enter_context(value), store_path)
        if hasattr(value, "__aenter__") or asyncio.iscoroutine(value):
            raise ControllerError(f"store.path {store_path!r} gives an async store; the embedded target runs each "
                                  "run on its own event loop and supports a store, a sync context manager or a callable")
        if callable(value):
            return self._enter(value(), store_path)
        raise ControllerError(f"store.path {store_path!r}: unsupported store type {type(value).__name__}")

    def close(self) -> None:
        self._stack.close()


def resolve_embeddings(embed: Any, base: str) -> Any:
    """``store.index.embed`` as an Embeddings object, as ``langgraph_api.graph.resolve_embeddings``:
    ``./file.py:fn`` or ``module.py:fn`` (a function or an Embeddings), else
    ``provider:model`` through LangChain's ``init_embeddings``."""
    from langchain_core.embeddings import Embeddings
    from langgraph.store.base import ensure_embeddings

    if isinstance(embed, Embeddings):
        return embed
    if callable(embed):
        return ensure_embeddings(embed)
    if not isinstance(embed, str):
        raise ControllerError(f"store.index.embed must be a string, got {type(embed).__name__}")
    if ".py:" in embed:
        module_name, function = embed.rsplit(":", 1)
        module_name = module_name.rstrip(":")
        if "/" in module_name:
            module = _import_file(os.path.normpath(os.path.join(base, module_name)), "_controller_embed")
        else:
            module = importlib.import_module(module_name)
        fn = getattr(module, function, None)
        if fn is None:
            raise ControllerError(f"store.index.embed: no {function!r} in {module_name}")
        return fn if isinstance(fn, Embeddings) else ensure_embeddings(fn)
    try:
        from langchain.embeddings import init_embeddings
    except ImportError:
        raise ControllerError(f"store.index.embed {embed!r}: loading embeddings by provider:identifier needs the "
                              "langchain package (pip install 'langchain>=0.3.9'), or name a function in a Python file") from None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The function `init_embeddings` is in beta.")
        return init_embeddings(embed)




def _import_file(path: str, prefix: str) -> Any:
    try:
        return import_file(path, prefix)
    except (FileNotFoundError, ImportError) as exc:
        raise ControllerError(str(exc)) from None
