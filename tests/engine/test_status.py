"""`controller status` rows come from a plan: each action reads as one sync state."""

from __future__ import annotations

from controller.core.content import Content, assistant_id_for
from controller.engine.desired import Declaration, Desired
from controller.engine.plan import make_plan
from controller.engine.status import all_synced, status_json, status_rows
from controller.targets.base import AssistantState, GraphInfo, Version
from controller.targets.profiles import EMBEDDED

OWNER = "acme"
GRAPHS = {"echo": GraphInfo("echo")}


def content(name: str, style: str, **meta) -> Content:
    return Content("echo", name, None, {"configurable": {"style": style}}, {"style": style},
                   {"controller/owner": OWNER, "controller/name": name, **meta})


def desired(name: str, style: str) -> Desired:
    return Desired(Declaration(name, assistant_id_for(OWNER, name)), content(name, style))


def live(name: str, style: str, version: int = 1, **meta) -> AssistantState:
    c = content(name, style, **meta)
    return AssistantState(assistant_id_for(OWNER, name), version, c, versions=(Version(version, c),))


def rows_for(declared: list[Desired], on_target: list[AssistantState]):
    plan = make_plan(declared, {a.assistant_id: a for a in on_target}, on_target, GRAPHS, owner=OWNER, target="t",
                     profile=EMBEDDED, prune=True)
    return plan, status_rows(plan)


def test_each_action_is_one_sync_state_with_version_revision_and_smoke_marker():
    plan, rows = rows_for(
        [desired("same", "a"), desired("edited", "b"), desired("new", "c")],
        [live("same", "a", 3, **{"controller/revision": "abc123"}),
         live("edited", "old", 2, **{"controller/failed": "smoke tests failed"}),
         live("gone", "x", 1)],
    )
    table = {r.name: (r.sync, r.version, r.revision, r.smoke_failed) for r in rows}
    assert table == {
        "same": ("Synced", 3, "abc123", False),
        "edited": ("OutOfSync", 2, "", True),
        "new": ("Missing", None, "", False),
        "gone": ("Orphan", 1, "", False),
    }
    assert [r.name for r in rows] == sorted(table)
    assert not all_synced(rows)
    doc = status_json(plan, rows, "abc123")
    assert doc["counts"] == {"Synced": 1, "OutOfSync": 1, "Missing": 1, "Orphan": 1}
    assert doc["synced"] is False and doc["revision"] == "abc123"


def test_everything_synced_and_a_false_marker_is_not_a_failure():
    _, rows = rows_for([desired("same", "a")], [live("same", "a", 1)])
    assert all_synced(rows)
    _, rows = rows_for([desired("same", "a")], [live("same", "a", 1, **{"controller/failed": "false"})])
    assert rows[0].smoke_failed is False
