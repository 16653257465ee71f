"""Graph schemas kept between runs, so a plan need not import langgraph and the graphs.

A graph's config/context JSON Schemas depend only on langgraph.json, the graph's
source file and the installed langgraph; the key is a hash of the three. The file
(``<root>/.controller/cache/graphs.json``) is a cache: any entry that cannot be read
or does not match is ignored and rebuilt, and deleting it changes no result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from typing import Any

from controller.core.fs import atomic_write_text

FORMAT = 1


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
        config_schema, context_schema = entry.get("config_schema"), entry.get("context_schema")
        if not all(s is None or isinstance(s, dict) for s in (config_schema, context_schema)):
            return None
        return config_schema, context_schema, None

    def put(self, graph_id: str, key: str | None, config_schema: dict | None, context_schema: dict | None) -> None:
        if key is None:
            return
        entries = self._load()
        new = {"key": key, "config_schema": config_schema, "context_schema": context_schema}
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
