"""Load graphs the way ``langgraph.json`` declares them, as the Agent Server does.

Supported: ``./file.py:attr`` (resolved against the folder of langgraph.json) and
``module:attr`` (with ``dependencies`` put on the import path); the dict form with
``path``/``description``; a compiled graph, an uncompiled ``StateGraph``, or a
factory taking nothing or a config. A graph that fails to load is recorded with a
message naming the graph and the file, so one broken graph does not hide the others.

Importing langgraph and a user's graph modules costs about two seconds, most of a
``plan``; so a graph's schemas are kept in a cache keyed by what they depend on
(schemacache.py), and langgraph is imported here only inside the functions that
load a graph.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.core.environ import apply_graph_env
from controller.core.errors import ControllerError
from controller.core.mask import redact
from controller.targets import envfile, schemacache
from controller.targets.pyfile import import_file

if TYPE_CHECKING:  # langgraph is imported only to run a graph or read a changed one's schemas
    from langgraph.pregel import Pregel


@dataclass
class GraphEntry:
    graph_id: str
    spec: str
    description: str | None
    value: Any = None
    error: str | None = None
    loaded: bool = False
    #: The project files its import depends on, with their hashes (the schema cache's check).
    files: dict[str, str] | None = None


class GraphRegistry:
    def __init__(self, config_path: str | None, cache_file: str | None = None):
        self.config_path = config_path
        self.base = os.path.dirname(os.path.abspath(config_path)) if config_path else os.getcwd()
        self.entries: dict[str, GraphEntry] = {}
        self._lock = threading.Lock()
        self._config_bytes = b""
        self._cache = schemacache.SchemaCache(cache_file)
        #: langgraph.json's ``store`` section (targets/store.py opens it on the first run).
        self.store_config: Any = None
        self._env_spec: Any = None
        self._env: dict[str, str | None] | None = None
        if config_path:
            self._read_config(config_path)

    def _read_config(self, path: str) -> None:
        self._config_bytes, data = _read_langgraph_json(path)
        graphs = data["graphs"]
        self.store_config = data.get("store")
        self._env_spec = data.get("env")
        for dep in data.get("dependencies") or []:
            if isinstance(dep, str) and (dep.startswith(".") or dep.startswith("/")):
                full = os.path.normpath(os.path.join(self.base, dep))
                if os.path.isdir(full) and full not in sys.path:
                    sys.path.insert(0, full)
        for graph_id, value in graphs.items():
            if isinstance(value, dict):
                spec, description = value.get("path"), value.get("description")
            else:
                spec, description = value, None
            if not isinstance(spec, str) or ":" not in spec:
                entry = GraphEntry(graph_id, str(spec), description, loaded=True,
                                   error=f"graph {graph_id!r}: expected \"path/to/file.py:variable\" or \"module:variable\", got {spec!r}")
            else:
                entry = GraphEntry(graph_id, spec, description)
            self.entries[graph_id] = entry

    def apply_env(self) -> frozenset[str]:
        """langgraph.json's ``env`` put into the process environment (once), as ``langgraph dev``
        does before it imports the graphs (targets/envfile.py); its values, to hide in messages."""
        if self._env is None:
            self._env = envfile.read_env(self._env_spec, self.base, self.config_path or "langgraph.json")
            apply_graph_env(self._env)
        return envfile.secret_values(self._env)

    def load(self, graph_id: str) -> GraphEntry:
        """Import the graph once (thread-safe); errors are kept on the entry."""
        entry = self.entries[graph_id]
        with self._lock:
            if not entry.loaded:
                secrets = self.apply_env()
                try:
                    entry.value = self._import(entry)
                except Exception as exc:  # a user's module can raise anything on import
                    entry.error = redact(f"graph {graph_id!r} ({entry.spec}): {type(exc).__name__}: {exc}", secrets)
                entry.loaded = True
        return entry

    def _import(self, entry: GraphEntry) -> Any:
        from langgraph.graph import StateGraph
        from langgraph.pregel import Pregel

        target, _, attr = entry.spec.rpartition(":")
        before = set(sys.modules)
        if target.endswith(".py") or "/" in target:
            path = os.path.normpath(os.path.join(self.base, target))
            module = import_file(path, f"_controller_graph_{entry.graph_id.replace('-', '_')}")
        else:
            module = importlib.import_module(target)
        entry.files = schemacache.project_files(self.base, module, set(sys.modules) - before)
        if not hasattr(module, attr):
            raise AttributeError(f"{target} has no attribute {attr!r}")
        value = getattr(module, attr)
        if isinstance(value, StateGraph):
            value = value.compile()
        if not isinstance(value, Pregel) and not callable(value):
            raise TypeError(f"{attr} is a {type(value).__name__}, not a graph or a graph factory")
        return value

    def compiled(self, graph_id: str, config: dict[str, Any]) -> Pregel:
        """The graph to run: a factory is called with the run's config (as the server does)."""
        from langgraph.graph import StateGraph
        from langgraph.pregel import Pregel

        entry = self.load(graph_id)
        if entry.error:
            raise ControllerError(entry.error)
        value = entry.value
        if not isinstance(value, Pregel):
            import inspect

            params = inspect.signature(value).parameters
            value = value(config) if params else value()
            if inspect.isawaitable(value):
                import asyncio

                value = asyncio.run(value)  # type: ignore[arg-type]  # called from a worker thread with no loop
            if isinstance(value, StateGraph):
                value = value.compile()
            if not isinstance(value, Pregel):
                raise ControllerError(f"graph {graph_id!r}: factory returned {type(value).__name__}, not a graph")
        return value

    def schemas(self, graph_id: str) -> tuple[dict | None, dict | None, str | None]:
        """(config_schema, context_schema, error) of the graph's configurable and context.

        From the cache when the graph's key (langgraph.json, its source file, the
        langgraph version) and every project file its import loaded are unchanged;
        otherwise the graph is loaded and the cache refreshed. Load errors are not cached: installing a missing package changes no key.
        """
        entry = self.entries[graph_id]
        if entry.loaded and entry.error:
            return None, None, entry.error
        key = self._key(entry) if not entry.loaded else None
        hit = self._cache.get(graph_id, key) if key else None
        if hit is not None:
            return hit
        entry = self.load(graph_id)
        if entry.error:
            return None, None, entry.error
        from langgraph.pregel import Pregel

        if not isinstance(entry.value, Pregel):
            found: tuple[dict | None, dict | None] = (None, None)
        else:
            graph: Pregel = entry.value
            found = (_safe(lambda: _configurable_schema(graph)), _safe(graph.get_context_jsonschema))
        self._cache.put(graph_id, key or self._key(entry), entry.files or {}, *found)
        return (*found, None)

    def save_cache(self) -> None:
        """Write the schemas read this run (nothing when all came from the cache)."""
        self._cache.save()

    def _key(self, entry: GraphEntry) -> str | None:
        return schemacache.graph_key(self._config_bytes, entry.spec, self.base)


def _read_langgraph_json(path: str) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its data, which has a ``graphs`` mapping (raises ControllerError, one line)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        data = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ControllerError(f"{path}: cannot read langgraph.json: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ControllerError(f"{path}: langgraph.json is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ControllerError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("graphs"), dict):
        raise ControllerError(f"{path}: langgraph.json has no \"graphs\" mapping")
    return raw, data


def declared_graphs(path: str) -> list[str]:
    """The graph ids langgraph.json declares, read without importing anything (validate's
    check of ``spec.graph`` for a remote target whose project deploys its own graphs)."""
    return sorted(_read_langgraph_json(path)[1]["graphs"])


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _configurable_schema(graph: Pregel) -> dict | None:
    """The JSON Schema of ``config.configurable`` only, as the server's /schemas shows it."""
    from pydantic import TypeAdapter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fields = getattr(graph.config_schema(), "model_fields", None) or {}
    if "configurable" not in fields:
        return None
    schema = TypeAdapter(fields["configurable"].annotation).json_schema()  # type: ignore[maybe-unrecognized-str-typeform]
    return schema or None
