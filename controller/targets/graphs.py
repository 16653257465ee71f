"""Load graphs the way ``langgraph.json`` declares them, as the Agent Server does.

Supported: ``./file.py:attr`` (resolved against the folder of langgraph.json) and
``module:attr`` (with ``dependencies`` put on the import path); the dict form with
``path``/``description``; a compiled graph, an uncompiled ``StateGraph``, or a
factory taking nothing or a config. A graph that fails to load is recorded with a
message naming the graph and the file, so one broken graph does not hide the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from pydantic import TypeAdapter

from controller.core.errors import ControllerError


@dataclass
class GraphEntry:
    graph_id: str
    spec: str
    description: str | None
    value: Any = None
    error: str | None = None
    loaded: bool = False


class GraphRegistry:
    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self.base = os.path.dirname(os.path.abspath(config_path)) if config_path else os.getcwd()
        self.entries: dict[str, GraphEntry] = {}
        self._lock = threading.Lock()
        if config_path:
            self._read_config(config_path)

    def _read_config(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise ControllerError(f"{path}: cannot read langgraph.json: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ControllerError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        graphs = data.get("graphs") if isinstance(data, dict) else None
        if not isinstance(graphs, dict):
            raise ControllerError(f"{path}: langgraph.json has no \"graphs\" mapping")
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

    def load(self, graph_id: str) -> GraphEntry:
        """Import the graph once (thread-safe); errors are kept on the entry."""
        entry = self.entries[graph_id]
        with self._lock:
            if not entry.loaded:
                try:
                    entry.value = self._import(entry)
                except Exception as exc:  # a user's module can raise anything on import
                    entry.error = f"graph {graph_id!r} ({entry.spec}): {type(exc).__name__}: {exc}"
                entry.loaded = True
        return entry

    def _import(self, entry: GraphEntry) -> Any:
        target, _, attr = entry.spec.rpartition(":")
        if target.endswith(".py") or "/" in target:
            path = os.path.normpath(os.path.join(self.base, target))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such file {path}")
            modname = f"_controller_graph_{entry.graph_id.replace('-', '_')}_{abs(hash(path))}"
            spec = importlib.util.spec_from_file_location(modname, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        else:
            module = importlib.import_module(target)
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
        entry = self.load(graph_id)
        if entry.error:
            raise ControllerError(entry.error)
        value = entry.value
        if not isinstance(value, Pregel):
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

    def schemas(self, graph_id: str) -> tuple[dict | None, dict | None]:
        """(config_schema, context_schema) of the graph's configurable and context, when it declares them."""
        entry = self.load(graph_id)
        if entry.error or not isinstance(entry.value, Pregel):
            return None, None
        graph: Pregel = entry.value
        return _safe(lambda: _configurable_schema(graph)), _safe(graph.get_context_jsonschema)


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _configurable_schema(graph: Pregel) -> dict | None:
    """The JSON Schema of ``config.configurable`` only, as the server's /schemas shows it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fields = getattr(graph.config_schema(), "model_fields", None) or {}
    if "configurable" not in fields:
        return None
    schema = TypeAdapter(fields["configurable"].annotation).json_schema()  # type: ignore[maybe-unrecognized-str-typeform]
    return schema or None
