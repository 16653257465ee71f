"""One assistant per graph and config, on a server whose profile says so (Aegra): at plan time.

Aegra refuses a second assistant of one graph with an identical config: 409 "already
exists" to a create (for an id that does not exist), 500 to an update or a set-latest,
and a refused update still leaves a version behind. Found only when writing, that is an
apply failing halfway, so where the target's profile has the rule the planner:

- reports two assistants that would end with the same graph and config as an error
  naming both and the rule (also against an owned assistant that is no longer declared
  but stays, since ``--prune`` was not given);
- makes a change that takes a config another change gives up wait for that one
  (``Change.after``, which apply follows): a config handed from one assistant to another
  in one commit converges in one apply;
- refuses a ring of such changes (two assistants swapping configs), which no order of
  writes can apply, saying how to do it in two applies.

Without the rule (the official Agent Server, the embedded target) nothing here applies:
no change waits and nothing is refused. Pure functions, like the planner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.core.content import NAME_KEY
from controller.core.errors import Problem
from controller.targets.base import AssistantState
from controller.targets.profiles import ServerProfile

if TYPE_CHECKING:
    from controller.engine.desired import Desired
    from controller.engine.plan import Change

#: The actions apply writes in waves (deletes join them only when a change waits for one).
SYNCING = ("create", "update", "repin")


@dataclass(frozen=True)
class _Hold:
    """One assistant's hold on a (graph, config): live now, and after the plan."""

    name: str
    graph: str
    now: str | None
    then: str | None
    change: Change | None = None  # None: an owned assistant the plan leaves alone
    desired: Desired | None = None


def check_unique_configs(desired: Sequence[Desired], changes: list[Change], kept: Sequence[AssistantState],
                         profile: ServerProfile) -> tuple[list[Change], list[Problem]]:
    """``changes`` with ``after`` set where a change waits for another, and the problems found.

    ``kept``: owned assistants that are not declared and not deleted (they keep their config).
    """
    if not profile.unique_graph_config:
        return changes, []
    by_id = {d.assistant_id: d for d in desired}
    holds = [_Hold(c.name, _graph(c), profile.config_key(c.before),
                   None if c.action == "delete" else profile.config_key(c.content), c, by_id.get(c.assistant_id))
             for c in changes]
    holds += [_Hold(s.content.metadata.get(NAME_KEY) or s.assistant_id, s.content.graph_id,
                    profile.config_key(s.content), profile.config_key(s.content)) for s in kept]
    problems = _duplicates(holds, profile)
    waits = _waits(holds)
    problems += _rings(holds, waits, profile)
    if problems:
        return changes, problems
    return [dataclasses.replace(c, after=waits[c.assistant_id]) if c.assistant_id in waits else c
            for c in changes], []


def _graph(change: Change) -> str:
    content = change.content or change.before
    return content.graph_id if content is not None else ""


def _where(d: Desired | None) -> tuple[str, int]:
    if d is None:
        return "", 0
    return d.location(("spec", "context") if d.declared.mirror_as == "context" else ("spec", "config"))


def _duplicates(holds: list[_Hold], profile: ServerProfile) -> list[Problem]:
    """Two assistants that would end with one graph and config: an error naming both."""
    first: dict[str, _Hold] = {}
    problems = []
    for hold in holds:
        if hold.then is None:
            continue
        other = first.setdefault(hold.then, hold)
        if other is hold:
            continue
        if hold.change is None:  # an owned, undeclared assistant that stays
            file, line = _where(other.desired)
            message = (f"{other.name} has the same graph ({hold.graph}) and config as {hold.name}, which is still on "
                       f"the target but no longer declared; {profile.rule}: delete {hold.name} with --prune, or give "
                       f"{other.name} a config of its own")
        else:
            file, line = _where(hold.desired)
            there = ":".join(map(str, _where(other.desired))) or "declared"
            message = (f"{hold.name} and {other.name} ({there}) have the same graph ({hold.graph}) and config; "
                       f"{profile.rule}: give one of them a config of its own")
        problems.append(Problem(file, line, "spec.config", message))
    return problems


def _waits(holds: list[_Hold]) -> dict[str, tuple[str, ...]]:
    """For each change that takes a config another change gives up: the id of that change."""
    holders = {h.now: h for h in holds if h.now is not None}  # live configs are unique on such a server
    waits: dict[str, tuple[str, ...]] = {}
    for hold in holds:
        if hold.change is None or hold.then is None or hold.then == hold.now:
            continue
        holder = holders.get(hold.then)
        if holder is not None and holder is not hold and holder.change is not None and holder.then != hold.then:
            waits[hold.change.assistant_id] = (holder.change.assistant_id,)
    return waits


def _rings(holds: list[_Hold], waits: dict[str, tuple[str, ...]], profile: ServerProfile) -> list[Problem]:
    """Changes that wait for each other in a ring (a swap): no order of writes applies them."""
    by_id = {h.change.assistant_id: h for h in holds if h.change is not None}
    problems: list[Problem] = []
    reported: set[str] = set()
    for start in waits:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in path and node not in reported:
            path.append(node)
            node = (waits.get(node) or (None,))[0]
        if node is None or node in reported:
            reported.update(path)
            continue
        ring = path[path.index(node):]
        reported.update(path)
        names = sorted(by_id[i].name for i in ring)
        who = " and ".join(names) if len(names) == 2 else ", ".join(names[:-1]) + f" and {names[-1]}"
        verb = "swap configs" if len(names) == 2 else "pass their configs round"
        first = min((by_id[i] for i in ring), key=lambda h: h.name)
        file, line = _where(first.desired)
        problems.append(Problem(file, line, "spec.config", (
            f"{who} {verb} (graph {first.graph}); {profile.rule} at every moment, so no order of writes applies "
            f"this in one step: first give {first.name} a config of its own and apply, then apply the swap")))
    return problems


def waves(changes: Sequence[Change]) -> list[list[Change]]:
    """The writes of a plan's sync phase in the order they must go: each wave after the
    changes it waits for (``Change.after``). Deletes join only when a change waits for one;
    the others stay in the prune phase. One wave when nothing waits (every target without
    a unique graph+config rule): all writes go at once, as they always did."""
    needed = {i for c in changes for i in c.after}
    todo = [c for c in changes if c.action in SYNCING or (c.action == "delete" and c.assistant_id in needed)]
    planned = {c.assistant_id for c in todo}
    done: set[str] = set()
    out: list[list[Change]] = []
    while todo:
        wave = [c for c in todo if all(i in done or i not in planned for i in c.after)] or todo  # (a ring: never stall)
        out.append(wave)
        done.update(c.assistant_id for c in wave)
        todo = [c for c in todo if c.assistant_id not in done]
    return out
