"""``validate``'s look at the graphs: offline, against the project's own langgraph.json.

Pre-commit hooks and pull-request jobs run ``validate``, not ``plan``, so a typo in
``spec.graph`` or a ``context`` key the graph does not have must be caught there when the
graphs are local: the embedded target's langgraph.json, or, for a remote target, the
project's own (the file a deployment of the project is built from). ``--offline`` leaves
every graph alone (a hook without the graphs' dependencies).

- ``spec.graph`` is checked by name. On the embedded target that is the target's own list;
  for a remote target it is the project's langgraph.json, read without importing anything,
  and a server may serve more graphs than the project declares, so the message says how
  to skip the check.
- ``config.configurable``/``context`` are checked against the graph's schemas on the
  embedded target only, as ``plan`` checks them (plan.py ``schema_problems``: a context key
  the schema lacks is an error, since the server drops it from every run; a configurable
  one a warning), from the same schema cache ``plan`` fills. A remote target's schemas are
  the server's, so ``plan`` checks those. A graph that cannot be loaded is left to ``plan``
  too: ``validate`` runs without secrets.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

from controller.config.loader import LoadedManifest
from controller.core.errors import Problem
from controller.core.fs import display_path
from controller.core.suggest import did_you_mean
from controller.engine.desired import desired_state
from controller.engine.pipeline import Workspace
from controller.engine.plan import schema_findings, schema_problems
from controller.targets import open_target
from controller.targets.base import GraphInfo
from controller.targets.graphs import declared_graphs


def _plainly_fine(item: LoadedManifest, graph: GraphInfo) -> bool:
    """No finding for the manifest's own configurable/context, whichever schema applies."""
    view = item.view
    values = view.config.get("configurable") or view.context
    return not values or not any(schema_findings(values, schema) != ([], [])
                                 for schema in (graph.config_schema, graph.context_schema) if schema)


def project_graphs(ws: Workspace) -> str | None:
    """The langgraph.json whose graphs ``spec.graph`` must name: the embedded target's, else the
    project's (at its root), else None (nothing local to check against)."""
    if ws.spec.kind == "embedded":
        return ws.spec.graphs
    path = os.path.join(ws.settings.root, "langgraph.json")
    return path if os.path.isfile(path) else None


async def offline_graph_problems(ws: Workspace, loaded: Sequence[LoadedManifest], warnings: list[str]) -> list[Problem]:
    """Unknown graphs and schema problems of ``loaded`` against the local graphs (see above)."""
    source = project_graphs(ws)
    if source is None or not loaded:
        return []
    if ws.spec.kind != "embedded":
        return unknown_graphs(loaded, declared_graphs(source), source, remote=True)
    async with open_target(ws.spec) as target:
        graphs = await target.graphs()
    problems = unknown_graphs(loaded, graphs, source, remote=False)
    for item in loaded:
        graph = graphs.get(item.view.graph)
        if graph is None or graph.error or not (graph.config_schema or graph.context_schema):
            continue  # reported above, or nothing to check here (plan reports graphs that cannot load)
        if not item.view.has_smoke and _plainly_fine(item, graph):
            continue  # the common case, without building the desired state (10,000 manifests)
        d = desired_state(item, ws.settings.owner)
        problems += schema_problems(d, graph, warnings)
    return problems


def unknown_graphs(loaded: Sequence[LoadedManifest], known: Collection[str], source: str, *, remote: bool) -> list[Problem]:
    """One problem per manifest whose ``spec.graph`` is not among ``known`` (declared in ``source``)."""
    problems = []
    listed = ", ".join(sorted(known)) or "none"
    skip = "; if the server serves graphs of its own, validate --offline skips this check" if remote else ""
    for item in loaded:
        graph = item.view.graph
        if graph not in known:
            problems.append(Problem(item.file, item.document.line_of(("spec", "graph")), "spec.graph",
                                    f"unknown graph {graph!r}{did_you_mean(graph, known)}; "
                                    f"{display_path(source)} declares: {listed}{skip}"))
    return problems
