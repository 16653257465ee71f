"""How the Agent Server builds a run's configuration and context, in one place.

The embedded target runs graphs in-process, so it must hand a graph exactly what the
server would. Mirrored from langgraph-api 0.16.7 and langgraph-runtime-inmem 0.36.7:

1. :func:`run_request` — ``langgraph_api.models.run.create_valid_run``: a run's own
   ``config.configurable`` and ``context`` may not both be non-empty (400); a run's
   context is also its configurable (and is marked as given), else its configurable
   is also its context.
2. :func:`assemble` — ``langgraph_runtime_inmem.ops.Runs.put``: top-level config is the
   assistant's shallowly overridden by the run's; ``configurable`` is assistant ⊕ thread
   ⊕ run ⊕ the server's ids; ``context`` is assistant ⊕ run; metadata is assistant ⊕
   thread ⊕ run with ``assistant_id`` forced.
3. :func:`filter_context` — ``langgraph_api.stream.astream_state`` with
   ``_filter_context_by_schema``: a non-empty context keeps only the keys its graph's
   context JSON Schema lists (an empty schema, or one without properties, keeps all); a
   key dropped from a context the run gave is removed from configurable too when equal.

The context is then handed to langgraph as a dict, which builds the schema from it
(``langgraph.pregel.main._coerce_context``): an empty context gives a dataclass its
defaults. Smoke cases (and later evaluation cases) give their ``config``/``context``
overrides to ``Target.run``: a server merges them itself, the embedded target here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

#: The server's 400 for a run that gives both (models/run.py).
BOTH_GIVEN = ("Cannot specify both configurable and context. Prefer setting context alone. Context was introduced in "
              "LangGraph 0.6.0 and is the long term planned replacement for configurable.")


class RunRefused(ValueError):
    """The run is refused before it starts, as the server refuses it (HTTP 400)."""


@dataclass(frozen=True)
class RunSetup:
    """What the graph is invoked with."""

    config: dict[str, Any]
    context: dict[str, Any]
    #: The run itself gave a context (the server's ``__context_provided__`` marker).
    context_given: bool = False
    #: The thread's configurable after this run (threads pin the first run's values).
    thread_configurable: dict[str, Any] = field(default_factory=dict)


def run_request(config: dict[str, Any] | None, context: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(config, context, context_given) of the run request, as ``create_valid_run`` makes them."""
    config = copy.deepcopy(config or {})
    context = copy.deepcopy(context or {})
    configurable = config.setdefault("configurable", {})
    if configurable and context:
        raise RunRefused(BOTH_GIVEN)
    if context:
        config["configurable"] = copy.deepcopy(context)
        return config, context, True
    return config, copy.deepcopy(configurable), False


def assemble(assistant_id: str, graph_id: str, assistant_config: dict[str, Any], assistant_context: dict[str, Any],
             assistant_metadata: dict[str, Any], *, run_config: dict[str, Any] | None = None,
             run_context: dict[str, Any] | None = None, ids: dict[str, Any],
             thread_configurable: dict[str, Any] | None = None) -> RunSetup:
    """The run's config and context over the assistant's, as ``Runs.put`` merges them.

    ``thread_configurable``: the configurable a thread kept from its earlier runs (None:
    a new thread). ``ids`` are the server's own keys (run_id, thread_id, …), set last.
    """
    config, context, given = run_request(run_config, run_context)
    own = assistant_config.get("configurable") or {}
    configurable = {**own, **(thread_configurable or {}), **config.get("configurable", {}), **ids}
    metadata = {**assistant_metadata, "graph_id": graph_id, **(config.get("metadata") or {}), "assistant_id": assistant_id}
    merged = copy.deepcopy({**assistant_config, **config})
    merged["configurable"] = configurable
    merged["metadata"] = metadata
    pinned = {**own, **(thread_configurable or {})}
    return RunSetup(merged, {**copy.deepcopy(assistant_context), **context}, given, pinned)


def filter_context(setup: RunSetup, context_schema: dict[str, Any] | None) -> RunSetup:
    """Keys the graph's context schema does not list dropped, as ``_filter_context_by_schema``."""
    properties = (context_schema or {}).get("properties") or {}
    if not setup.context or not properties:
        return setup
    kept = {k: v for k, v in setup.context.items() if k in properties}
    config = setup.config
    if setup.context_given:
        configurable = dict(config["configurable"])
        for key in setup.context.keys() - kept.keys():
            if configurable.get(key) == setup.context[key]:
                configurable.pop(key, None)
        config = {**config, "configurable": configurable}
    return RunSetup(config, kept, setup.context_given, setup.thread_configurable)
