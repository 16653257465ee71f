"""Read what the planner needs from a target, with as few requests as possible.

A no-op plan of N assistants on a remote target costs ceil(N/1000) listing calls
plus one schema call per graph: versions are fetched only for assistants whose live
content differs (a revert may be a repin) or whose pin moves; ids the owner listing
did not return (new assistants, adoptions) are looked up with ``get_many``, which on a
server costs a GET each or one count plus one listing, whichever is fewer requests.
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
    # Reads are simply gathered: the remote target bounds its own concurrency.
    owned, graphs = await asyncio.gather(target.list_assistants(ownership_filter(owner)), target.graphs())
    by_id = {a.assistant_id: a for a in owned}
    by_id.update(await target.get_many([d.assistant_id for d in desired if d.assistant_id not in by_id]))
    await _add_versions(target, desired, by_id)
    return Observed(by_id, owned, graphs)


async def observe_some(target: Target, desired: list[Desired], removed: list[str], owner: str) -> Observed:
    """Like :func:`observe`, but reads only ``desired`` and the ``removed`` ids (no owner
    listing): a watch pass after an edit costs what the edit touches, not the whole owner.
    ``owned`` holds the removed ids that exist and belong to ``owner``."""
    ids = list(dict.fromkeys([*(d.assistant_id for d in desired), *removed]))
    found, graphs = await asyncio.gather(target.get_many(ids), target.graphs())
    by_id = dict(found)
    owned = [by_id[i] for i in dict.fromkeys(removed) if i in by_id and by_id[i].content.owner == owner]
    await _add_versions(target, desired, by_id)
    return Observed(by_id, owned, graphs)


async def _add_versions(target: Target, desired: list[Desired], by_id: dict[str, AssistantState]) -> None:
    """Fetch the version history of the assistants the planner needs it for (in place)."""

    async def with_versions(assistant_id: str) -> None:
        state = await target.get(assistant_id, versions=True)
        if state is not None:  # None: gone, or (remote) its graph is unregistered: keep what the listing said
            by_id[assistant_id] = state

    await asyncio.gather(*(with_versions(i) for i in needs_versions(desired, by_id)))
