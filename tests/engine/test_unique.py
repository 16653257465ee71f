"""engine/unique.py: a server's one-assistant-per-graph-and-config rule, at plan time, and the
order apply writes in. (Against real Aegra, through the CLI: cli/test_remote_unique.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.core.content import NAME_KEY, OWNER_KEY, Content, assistant_id_for, mirrored
from controller.core.errors import InvalidInput
from controller.engine.apply import apply_plan
from controller.engine.desired import Declaration, Desired
from controller.engine.plan import Change, Plan, make_plan
from controller.engine.unique import waves
from controller.targets.base import AssistantState, GraphInfo
from controller.targets.embedded import EmbeddedTarget
from controller.targets.profiles import AEGRA, AGENT_SERVER, EMBEDDED, ServerProfile

OWNER = "acme"
GRAPHS = {"writer": GraphInfo("writer")}


def writer(name: str, style: str, tags: list[str] | None = None) -> Content:
    config, context = mirrored({"configurable": {"style": style}, **({"tags": tags} if tags else {})}, {})
    return Content("writer", name, None, config, context, {OWNER_KEY: OWNER, NAME_KEY: name})


def desired(name: str, style: str) -> Desired:
    return Desired(Declaration(name, assistant_id_for(OWNER, name), source=f"{name}.yaml:1"), writer(name, style))


def live(name: str, style: str) -> AssistantState:
    return AssistantState(assistant_id_for(OWNER, name), 1, writer(name, style))


def plan(wanted: list[Desired], existing: list[AssistantState], profile: ServerProfile = AEGRA, prune: bool = False) -> Plan:
    return make_plan(wanted, {s.assistant_id: s for s in existing}, existing, GRAPHS, owner=OWNER, target="t",
                     profile=profile, prune=prune)


def errors(wanted: list[Desired], existing: list[AssistantState], **kw) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        plan(wanted, existing, **kw)
    return [p.message for p in caught.value.problems]


def test_two_declared_with_one_graph_and_config_are_one_error_naming_both() -> None:
    [message] = errors([desired("a", "x"), desired("b", "x")], [])
    assert message.startswith("b and a (a.yaml:1) have the same graph (writer) and config; Aegra allows one")
    tagged = Desired(Declaration("b", assistant_id_for(OWNER, "b")), writer("b", "x", tags=["t"]))
    assert plan([desired("a", "x"), tagged], []).count("create") == 2  # a tag makes it another config


def test_a_config_handed_over_waits_for_the_change_that_frees_it() -> None:
    p = plan([desired("a", "y"), desired("b", "x")], [live("a", "x")])
    by_name = {c.name: c for c in p.changes}
    assert by_name["b"].after == (assistant_id_for(OWNER, "a"),) and by_name["a"].after == ()
    assert [[c.name for c in wave] for wave in waves(p.changes)] == [["a"], ["b"]]


def test_an_undeclared_holder_needs_prune_and_is_then_deleted_first() -> None:
    [message] = errors([desired("b", "x")], [live("a", "x")])
    assert "as a, which is still on the target but no longer declared" in message and "with --prune" in message
    p = plan([desired("b", "x")], [live("a", "x")], prune=True)
    assert [[(c.action, c.name) for c in wave] for wave in waves(p.changes)] == [[("delete", "a")], [("create", "b")]]


def test_a_swap_is_refused_saying_how() -> None:
    [message] = errors([desired("a", "y"), desired("b", "x")], [live("a", "x"), live("b", "y")])
    assert message.startswith("a and b swap configs (graph writer)") and "first give a a config of its own" in message
    ring = errors([desired("a", "y"), desired("b", "z"), desired("c", "x")], [live("a", "x"), live("b", "y"), live("c", "z")])
    assert ring[0].startswith("a, b and c pass their configs round")


@pytest.mark.parametrize("profile", [AGENT_SERVER, EMBEDDED])
def test_without_the_rule_nothing_waits_and_nothing_is_refused(profile: ServerProfile) -> None:
    p = plan([desired("a", "y"), desired("b", "x"), desired("c", "x")], [live("a", "x"), live("b", "y")], profile)
    assert all(c.after == () for c in p.changes)
    assert [[c.name for c in wave] for wave in waves(p.changes)] == [["a", "b", "c"]]  # all at once, as always


def test_a_change_whose_predecessor_failed_is_not_written(tmp_path: Path, test_project: Path) -> None:
    async def body() -> None:
        target = EmbeddedTarget(str(tmp_path / "s.db"), str(test_project / "langgraph.json"))
        a, b = assistant_id_for(OWNER, "a"), assistant_id_for(OWNER, "b")
        await target.create(a, writer("a", "x"))
        frees = Change("repin", Declaration("a", a), seen_version=1, before=writer("a", "x"), content=writer("a", "y"),
                       to_version=7)  # no version 7: this change fails
        takes = Change("create", Declaration("b", b), content=writer("b", "x"), after=(a,))
        result = await apply_plan(target, Plan(OWNER, "t", (frees, takes)))
        assert await target.get(b) is None
        await target.aclose()
        assert [o.status for o in result.outcomes] == ["error", "error"] and result.exit_code == 1
        assert result.outcomes[1].message == "not written: it takes the graph and config a still has, whose change did not go through"

    asyncio.run(body())


def test_a_saved_plan_keeps_the_order(tmp_path: Path) -> None:
    from controller.engine import planfile

    p = plan([desired("a", "y"), desired("b", "x")], [live("a", "x")])
    path = tmp_path / "p.plan"
    path.write_text(planfile.dumps(p))
    again = planfile.load(str(path), {}, {})
    assert [c.after for c in again.changes] == [c.after for c in p.changes] == [(), (assistant_id_for(OWNER, "a"),)]
