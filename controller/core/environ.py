"""The process environment as the user set it, kept apart from langgraph.json's ``env``.

``langgraph dev`` puts the variables of langgraph.json's ``env`` (a ``.env`` file or a
mapping) into its process environment before it imports the graphs, and so does the
embedded target (targets/envfile.py): graphs read them at import and at run time.
Those values are the graphs' (API keys a template tells users to put in ``.env``); they
must never reach ``${VAR}`` in manifests, the owner or the target choice. So everything
that reads the user's environment reads :func:`process_environ`: ``os.environ`` with
each variable the graph env set (and that still holds that value) shown as it was
before, or absent when it was unset.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping

_lock = threading.Lock()
#: name → (the value the graph env set or None for unset, the user's value before or None)
_applied: dict[str, tuple[str | None, str | None]] = {}


def process_environ() -> Mapping[str, str]:
    """The environment without langgraph.json's ``env`` (``os.environ`` itself while none was applied)."""
    with _lock:
        if not _applied:
            return os.environ
        env = dict(os.environ)
        _put_back(env)
        return env


def apply_graph_env(values: Mapping[str, str | None]) -> None:
    """Set ``values`` in ``os.environ`` for graph imports and runs (None unsets, as
    ``langgraph dev``'s ``patch_environment`` does), remembering what the user had."""
    with _lock:
        for name, value in values.items():
            before = _applied[name][1] if name in _applied else os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
            _applied[name] = (value, before)


def restore() -> None:
    """Put back what the graph env replaced (tests; a process done with graphs)."""
    with _lock:
        _put_back(os.environ)
        _applied.clear()


def _put_back(env: MutableMapping[str, str]) -> None:
    """Each variable the graph env set in ``env`` as the user had it (the lock held)."""
    for name, (ours, before) in _applied.items():
        if env.get(name) != ours:
            continue  # changed since by someone else: theirs, not the graph env's
        if before is None:
            env.pop(name, None)
        else:
            env[name] = before
