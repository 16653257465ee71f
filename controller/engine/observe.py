"""Read what the planner needs from a target, with as few requests as possible.

A no-op plan of N assistants on a remote target costs ceil(N/1000) owner listing
calls, one listing of the system assistants, one count and one schema call per
graph, all in parallel: versions are fetched (alone: the listing gave the live
state) only for assistants whose live content differs (a revert may be a repin) or
whose pin moves; ids the owner listing did not return (new assistants, adoptions)
are looked up with ``get_many``, which on a server costs a GET each or one listing,
whichever is fewer requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from controller.engine.desired import Desired
from controller.engine.plan import needs_versions, ownership_filter
from controller.targets.base import AssistantState, GraphInfo, Target


@dataclass(frozen=True)
class Observed:
    assistants: Mapping[str, AssistantState]
    owned: list[AssistantState]
    graphs: Mapping[str, GraphInfo]


async def observe(target: Target, desired: list[Desired], owner: str) -> Observed:
    # Reads are simply gathered: the remote target bounds its own concurrency. The
    # start-up reads do not depend on each other, so they cost one round trip, not three:
    # the count (which decides how ``get_many`` looks up what the owner listing lacks)
    # is asked alongside the listings, at the price of one request a no-op plan ignores.
    lookups = len(desired) > 2
    owned, graphs, total = await asyncio.gather(
        target.list_assistants(ownership_filter(owner)), target.graphs(), target.count() if lookups else _none())
    by_id = {a.assistant_id: a for a in owned}
    missing = [d.assistant_id for d in desired if d.assistant_id not in by_id]
    if missing:
        by_id.update(await target.get_many(missing, total=total))

    async def with_versions(assistant_id: str) -> None:
        state = await target.history(by_id[assistant_id])  # the live state is known: only the versions are read
        if state is not None:  # None: gone, or (remote) its graph is unregistered: keep what the listing said
            by_id[assistant_id] = state

    await asyncio.gather(*(with_versions(i) for i in needs_versions(desired, by_id)))
    return Observed(by_id, owned, graphs)


async def _none() -> None:
    return None
