"""Graph schemas kept between runs, so a plan need not import langgraph and the graphs.

A graph's config/context JSON Schemas depend on langgraph.json, the graph's source
file, the installed langgraph, and every project file the graph's module imports (a
template keeps its context dataclass in ``context.py``). The key is a hash of the first
three; beside it the entry records the project files that were loaded when the graph
was imported, with a hash of each, and is used only while every one is unchanged. The
file (``<root>/.controller/cache/graphs.json``) is a cache: any entry that cannot be
read or does not match is ignored and rebuilt, and deleting it changes no result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from types import ModuleType
from typing import Any

from controller.core.fs import atomic_write_text

FORMAT = 2


def langgraph_version() -> str:
    """The installed langgraph's version, from its dist-info folder's name: neither langgraph
    nor importlib.metadata is imported (the latter alone costs a no-op plan a tenth of its
    start-up)."""
    spec = importlib.util.find_spec("langgraph")
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not folders:
        return "none"
    site = os.path.dirname(folders[0])
    try:
        names = os.listdir(site)
    except OSError:
        return "unknown"
    found = [n for n in names if n.startswith("langgraph-") and n.endswith((".dist-info", ".egg-info"))]
    return found[0].removeprefix("langgraph-").rsplit(".", 1)[0] if found else "unknown"


def source_file(spec: str, base: str) -> str | None:
    """The file a ``path.py:attr`` or ``module:attr`` spec names, when it can be found
    without importing anything (a package's ``__init__.py`` for a package)."""
    target = spec.rpartition(":")[0]
    if target.endswith(".py") or "/" in target:
        path = os.path.normpath(os.path.join(base, target))
        return path if os.path.isfile(path) else None
    parts = target.split(".")
    for folder in sys.path:
        candidate = os.path.join(folder or ".", *parts)
        for path in (candidate + ".py", os.path.join(candidate, "__init__.py")):
            if os.path.isfile(path):
                return path
    return None


def graph_key(config_bytes: bytes, spec: str, base: str) -> str | None:
    """The key of one graph's schemas; None when its source cannot be read (never cached)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(config_bytes)
    digest.update(b"\0" + spec.encode() + b"\0" + langgraph_version().encode() + b"\0")
    path = source_file(spec, base)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            digest.update(fh.read())
    except OSError:
        return None
    return digest.hexdigest()


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.blake2b(fh.read(), digest_size=16).hexdigest()
    except OSError:
        return None


def _outside_project(path: str) -> bool:
    """Installed code (a virtualenv may live inside the project folder) is not the project's."""
    parts = path.split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


def _project_file(module: Any, root: str) -> str | None:
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return None
    path = os.path.abspath(path)
    return path if path.startswith(root) and not _outside_project(path[len(root):]) else None


def project_files(base: str, graph_module: Any, imported: set[str]) -> dict[str, str]:
    """The project's source files (under ``base``, the folder of langgraph.json) that the
    graph's import depends on, each with its hash: the modules its import loaded
    (``imported``, names new in ``sys.modules``), and, transitively, the project modules
    its namespace refers to (a ``context.py`` another graph imported first)."""
    root = os.path.abspath(base) + os.sep
    todo = [graph_module, *(sys.modules[name] for name in imported if name in sys.modules)]
    seen: set[int] = set()
    found: dict[str, str] = {}
    while todo:
        module = todo.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        path = _project_file(module, root)
        if path is None:
            continue
        digest = _digest(path)
        if digest:
            found[path] = digest
        for value in list(vars(module).values()):
            ref = value if isinstance(value, ModuleType) else sys.modules.get(getattr(value, "__module__", None) or "")
            if ref is not None and id(ref) not in seen:
                todo.append(ref)
    return found


class SchemaCache:
    """graph_id → (key, config_schema, context_schema), loaded lazily, saved when changed."""

    def __init__(self, path: str | None):
        self.path = path
        self._entries: dict[str, Any] | None = None
        self._dirty = False

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = {}
            if self.path:
                try:
                    with open(self.path, encoding="utf-8") as fh:
                        data = json.load(fh)
                    if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("graphs"), dict):
                        self._entries = data["graphs"]
                except Exception:  # a cache: unreadable means empty, never an error
                    pass
        return self._entries

    def get(self, graph_id: str, key: str) -> tuple[dict | None, dict | None, None] | None:
        entry = self._load().get(graph_id)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        files = entry.get("files")
        if not isinstance(files, dict) or any(_digest(path) != digest for path, digest in files.items()):
            return None
        config_schema, context_schema = entry.get("config_schema"), entry.get("context_schema")
        if not all(s is None or isinstance(s, dict) for s in (config_schema, context_schema)):
            return None
        return config_schema, context_schema, None

    def put(self, graph_id: str, key: str | None, files: dict[str, str], config_schema: dict | None,
            context_schema: dict | None) -> None:
        if key is None:
            return
        entries = self._load()
        new = {"key": key, "files": files, "config_schema": config_schema, "context_schema": context_schema}
        if entries.get(graph_id) != new:
            entries[graph_id] = new
            self._dirty = True

    def save(self) -> None:
        if not (self.path and self._dirty):
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write_text(self.path, json.dumps({"format": FORMAT, "graphs": self._entries}, sort_keys=True))
            self._dirty = False
        except (OSError, TypeError, ValueError):  # a cache that cannot be written is only slower
            pass
