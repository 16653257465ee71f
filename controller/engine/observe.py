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
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

from controller.core.content import CANDIDATE_KEY, NAME_KEY
from controller.core.errors import TargetError
from controller.engine.desired import Desired
from controller.engine.plan import needs_versions, ownership_filter
from controller.targets.base import AssistantState, GraphInfo, Target


@dataclass(frozen=True)
class Observed:
    assistants: Mapping[str, AssistantState]
    owned: list[AssistantState]
    graphs: Mapping[str, GraphInfo]


@dataclass(frozen=True)
class StartupReads:
    """What the target answers before the manifests matter: owned assistants, graphs, count."""

    owned: list[AssistantState]
    graphs: Mapping[str, GraphInfo]
    total: int | None


async def startup_reads(target: Target, owner: str, *, count: bool = True) -> StartupReads:
    """The reads that do not depend on each other, gathered: one round trip, not three.

    The count (which decides how ``get_many`` looks up what the owner listing lacks) is
    asked alongside the listings, at the price of one request a no-op plan ignores.
    """
    owned, graphs, total = await asyncio.gather(
        target.list_assistants(ownership_filter(owner)), target.graphs(), _count(target) if count else _none())
    return StartupReads(owned, graphs, total)


async def _count(target: Target) -> int | None:
    """The count, or None when it fails: it only saves requests, and the listings beside it
    fail with the error that says what is wrong (a 404 there: not an Agent Server URL)."""
    try:
        return await target.count()
    except TargetError:
        return None


async def _none() -> None:
    return None


async def observe(target: Target, desired: list[Desired], owner: str,
                  reads: Awaitable[StartupReads] | None = None) -> Observed:
    """``reads``: :func:`startup_reads` already under way (started before the manifests
    were parsed); else they are made here. Reads are simply gathered: the remote target
    bounds its own concurrency."""
    first = await (reads if reads is not None else startup_reads(target, owner, count=len(desired) > 2))
    by_id = {a.assistant_id: a for a in first.owned}
    missing = [d.assistant_id for d in desired if d.assistant_id not in by_id]
    if missing:
        by_id.update(await target.get_many(missing, total=first.total))
    await _add_versions(target, desired, by_id)
    return Observed(by_id, first.owned, first.graphs)


async def others_named(target: Target, desired: list[Desired], by_id: Mapping[str, AssistantState],
                       owner: str) -> list[AssistantState]:
    """Other owners' assistants named like the ones to create (one listing, only when there are
    creates): a changed owner (a renamed folder, a new ``owner:``) would duplicate them. Read
    for a plan that is shown, not for status or a watch's partial pass."""
    names = {d.name for d in desired if d.assistant_id not in by_id}
    if not names:
        return []
    return [a for a in await target.list_assistants()
            if a.content.metadata.get(NAME_KEY) in names and a.content.owner not in (None, owner)
            and not a.content.is_system and CANDIDATE_KEY not in a.content.metadata]


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
        state = await target.history(by_id[assistant_id])  # the live state is known: only the versions are read
        if state is not None:  # None: gone, or (remote) its graph is unregistered: keep what the listing said
            by_id[assistant_id] = state

    await asyncio.gather(*(with_versions(i) for i in needs_versions(desired, by_id)))
