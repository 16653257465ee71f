"""A project's Python file imported by path, as langgraph.json names graphs, stores and
embeddings (``./graphs/writer.py:graph``): one way for every such import, under a module
name of its own so two files of one name never collide, and gone from ``sys.modules`` when
the import fails (a fix is then imported afresh)."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType


def import_file(path: str, prefix: str) -> ModuleType:
    """The module in ``path`` (raises FileNotFoundError, ImportError, or what the file raises)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file {path}")
    name = f"{prefix}_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
