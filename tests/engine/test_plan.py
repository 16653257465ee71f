"""The planner is a pure function: these tests feed it states and read its decisions."""

from __future__ import annotations

import pytest

from controller.core.content import Content, assistant_id_for, system_assistant_id
from controller.core.errors import InvalidInput
from controller.engine.desired import Declaration, Desired
from controller.engine.plan import make_plan, needs_versions
from controller.targets.base import AssistantState, GraphInfo, Version
from controller.targets.profiles import AGENT_SERVER, EMBEDDED

OWNER = "acme"
GRAPHS = {"writer": GraphInfo("writer", {"type": "object", "properties": {"style": {"type": "string"}}}),
          "echo": GraphInfo("echo")}


def content(style: str = "blog", *, graph: str = "writer", context: dict | None = None, **meta) -> Content:
    config = {"configurable": {"style": style}} if style else {}
    ctx = {"style": style} if style else (context or {})
    return Content(graph, "Writer", None, config, ctx, {"controller/owner": OWNER, "controller/name": "w", **meta})


def desired(c: Content, pin: int | None = None) -> Desired:
    return Desired(Declaration("w", assistant_id_for(OWNER, "w"), source="m.yaml:1"), c, pin=pin)


def live(versions: list[Content], active: int, live_content: Content | None = None) -> AssistantState:
    entries = tuple(Version(i + 1, c) for i, c in reversed(list(enumerate(versions))))
    return AssistantState(assistant_id_for(OWNER, "w"), active, live_content or versions[active - 1], versions=entries)


def plan(d: Desired, state: AssistantState | None, faithful: bool = True, **kw):
    observed = {state.assistant_id: state} if state else {}
    return make_plan([d], observed, [state] if state else [], GRAPHS, owner=OWNER, target="t",
                     profile=EMBEDDED if faithful else AGENT_SERVER, **kw).changes[0]


def test_create_update_noop():
    assert plan(desired(content()), None).action == "create"
    assert plan(desired(content()), live([content()], 1)).action == "noop"
    change = plan(desired(content("tweet")), live([content()], 1))
    assert change.action == "update" and change.seen_version == 1


def test_informational_keys_and_null_metadata_do_not_count():
    on_server = content(**{"controller/revision": "abc", "controller/source": "x.yaml", "gone": None})
    assert plan(desired(content(**{"controller/revision": "def"})), live([on_server], 1)).action == "noop"


def test_removed_metadata_key_is_written_as_null():
    change = plan(desired(content()), live([content(team="a")], 1))
    assert change.action == "update" and change.content.metadata["team"] is None


def test_revert_is_a_repin_on_a_faithful_target():
    change = plan(desired(content("blog")), live([content("blog"), content("tweet")], 2))
    assert (change.action, change.to_version) == ("repin", 1)


def test_revert_is_an_update_when_the_server_would_keep_a_stale_context():
    # The real server's set-latest does not restore context: v1's context differs from the live one.
    change = plan(desired(content("blog")), live([content("blog"), content("tweet")], 2), faithful=False)
    assert change.action == "update"


def test_revert_of_metadata_only_is_a_faithful_repin_even_on_the_server():
    change = plan(desired(content(team="a")), live([content(team="a"), content(team="b")], 2), faithful=False)
    assert (change.action, change.to_version) == ("repin", 1)


def test_diverged_context_is_drift():
    diverged = Content("writer", "Writer", None, {"configurable": {"style": "blog"}}, {}, content().metadata)
    assert plan(desired(content("blog")), live([diverged], 1)).action == "update"


def test_pins():
    state = live([content("blog"), content("tweet")], 2)
    change = plan(desired(content("tweet"), pin=1), state)
    assert (change.action, change.to_version) == ("repin", 1)
    assert any("not applied" in w for w in change.warnings)
    assert plan(desired(content("tweet"), pin=2), state).action == "noop"
    with pytest.raises(InvalidInput, match="version 5 of 'w' does not exist"):
        plan(desired(content(), pin=5), state)


def test_conflicts_and_adopt():
    theirs = Content("writer", "Writer", None, {"configurable": {"style": "blog"}}, {"style": "blog"}, {"controller/owner": "other"})
    state = live([theirs], 1)
    with pytest.raises(InvalidInput, match="exists with owner 'other'; use apply --adopt"):
        plan(desired(content()), state)
    change = plan(desired(content()), state, adopt=True)
    assert change.action == "update" and change.adopt


def test_system_assistant_is_never_managed():
    system = AssistantState(system_assistant_id("writer"), 1, Content("writer", "writer", None, {}, {}, {"created_by": "system"}))
    d = Desired(Declaration("w", system.assistant_id, source="m.yaml:1"), content())
    with pytest.raises(InvalidInput, match="default assistant"):
        make_plan([d], {system.assistant_id: system}, [], GRAPHS, owner=OWNER, target="t", profile=EMBEDDED)


def test_prune_only_owned_and_undeclared():
    mine = AssistantState("11111111-1111-4111-8111-111111111111", 1, content(**{"controller/name": "old"}))
    theirs = AssistantState("22222222-2222-4222-8222-222222222222", 1, content(**{"controller/owner": "other"}))
    p = make_plan([], {}, [mine, theirs], GRAPHS, owner=OWNER, target="t", profile=EMBEDDED, prune=True)
    assert [(c.action, c.name) for c in p.changes] == [("delete", "old")]
    p = make_plan([], {}, [mine], GRAPHS, owner=OWNER, target="t", profile=EMBEDDED, prune=False)
    assert p.changes == ()


def test_graph_checks():
    with pytest.raises(InvalidInput, match="unknown graph 'nope'; the target has: echo, writer"):
        plan(desired(content(graph="nope")), None)
    bad = Content("writer", "W", None, {"configurable": {"style": 3}}, {}, {})
    with pytest.raises(InvalidInput, match="3 is not of type 'string'"):
        plan(desired(bad), None)
    typo = Content("writer", "W", None, {"configurable": {"stlye": "x"}}, {}, {})
    d = desired(typo)
    p = make_plan([d], {}, [], GRAPHS, owner=OWNER, target="t", profile=EMBEDDED)
    assert any("did you mean 'style'" in w for w in p.warnings)


def test_needs_versions_only_for_differences():
    same = live([content()], 1)
    assert needs_versions([desired(content())], {same.assistant_id: same}) == []
    assert needs_versions([desired(content("tweet"))], {same.assistant_id: same}) == [same.assistant_id]
    assert needs_versions([desired(content(), pin=1)], {same.assistant_id: same}) == []
