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
from controller.engine.plan import schema_problems
from controller.targets import open_target


async def offline_graph_problems(ws: Workspace, loaded: Sequence[LoadedManifest], warnings: list[str]) -> list[Problem]:
    """Schema problems of ``loaded`` against the embedded target's graphs (none for a remote target)."""
    if ws.spec.kind != "embedded" or not ws.spec.graphs or not loaded:
        return []
    async with open_target(ws.spec) as target:
        graphs = await target.graphs()
    problems: list[Problem] = []
    sources: dict[str, str] = {}
    for item in loaded:
        d = desired_state(item, ws.settings.owner, None, ws.settings.root, sources)
        graph = graphs.get(d.content.graph_id)
        if graph is not None and not graph.error:
            problems += schema_problems(d, graph, warnings)
    return problems
