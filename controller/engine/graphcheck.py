"""``validate``'s look at the graphs: offline, against the project's own langgraph.json.

A ``context`` key the graph's context schema lacks is dropped by the Agent Server from
every run (plan.py ``schema_problems``), so a pre-commit ``validate`` should catch it as
``plan`` does. That needs the graph's schemas, which the embedded target has locally
(from its schema cache, else by importing the graph); a remote target's would need the
server, so ``validate`` leaves those to ``plan``. A graph that is unknown or cannot be
loaded is left to ``plan`` too: ``validate`` runs without secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.config.loader import LoadedManifest
from controller.core.errors import Problem
from controller.engine.desired import desired_state
from controller.engine.pipeline import Workspace
from controller.engine.plan import schema_findings, schema_problems
from controller.targets import open_target
from controller.targets.base import GraphInfo


def _plainly_fine(item: LoadedManifest, graph: GraphInfo) -> bool:
    """No finding for the manifest's own configurable/context, whichever schema applies."""
    view = item.view
    values = view.config.get("configurable") or view.context
    return not values or not any(schema_findings(values, schema) != ([], [])
                                 for schema in (graph.config_schema, graph.context_schema) if schema)


async def offline_graph_problems(ws: Workspace, loaded: Sequence[LoadedManifest], warnings: list[str]) -> list[Problem]:
    """Schema problems of ``loaded`` against the embedded target's graphs (none for a remote target)."""
    if ws.spec.kind != "embedded" or not ws.spec.graphs or not loaded:
        return []
    async with open_target(ws.spec) as target:
        graphs = await target.graphs()
    problems: list[Problem] = []
    for item in loaded:
        graph = graphs.get(item.view.graph)
        if graph is None or graph.error or not (graph.config_schema or graph.context_schema):
            continue  # nothing to check here (plan reports unknown and broken graphs)
        if not item.view.has_smoke and _plainly_fine(item, graph):
            continue  # the common case, without building the desired state (10,000 manifests)
        d = desired_state(item, ws.settings.owner)
        problems += schema_problems(d, graph, warnings)
    return problems
