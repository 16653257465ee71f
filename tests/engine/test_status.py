"""`controller status` rows come from a plan: each action reads as one sync state."""

from __future__ import annotations

from controller.core.content import Content, assistant_id_for, content_hash
from controller.engine.desired import Declaration, Desired
from controller.engine.plan import make_plan
from controller.engine.status import Status, all_synced, status_json, status_rows
from controller.engine.verdicts import Known, Rollback, Verdict
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


def rows_for(declared: list[Desired], on_target: list[AssistantState], known=None):
    plan = make_plan(declared, {a.assistant_id: a for a in on_target}, on_target, GRAPHS, owner=OWNER, target="t",
                     profile=EMBEDDED, prune=True)
    return plan, status_rows(plan, known, {d.assistant_id: d for d in declared})


def verdict(result: str, c: Content) -> Verdict:
    return Verdict(result, content_hash(c), "")  # type: ignore[arg-type]


def test_each_action_is_one_sync_state_with_version_revision_and_the_active_verdict():
    edited = live("edited", "old", 2)
    plan, rows = rows_for(
        [desired("same", "a"), desired("edited", "b"), desired("new", "c")],
        [live("same", "a", 3, **{"controller/revision": "abc123"}), edited, live("gone", "x", 1)],
        {edited.assistant_id: Known({2: verdict("failed", edited.content)})},
    )
    table = {r.name: (r.sync, r.version, r.revision, r.smoke, r.smoke_failed) for r in rows}
    assert table == {
        "same": ("Synced", 3, "abc123", "-", False),
        "edited": ("OutOfSync", 2, "", "failed", True),
        "new": ("Missing", None, "", "-", False),
        "gone": ("Orphan", 1, "", "-", False),
    }
    assert [r.name for r in rows] == sorted(table)
    assert not all_synced(rows)
    doc = status_json(Status(plan.owner, plan.target, tuple(rows)), "abc123")
    assert doc["counts"] == {"Synced": 1, "OutOfSync": 1, "Missing": 1, "Orphan": 1}
    assert doc["synced"] is False and doc["revision"] == "abc123"


def test_a_verdict_of_other_content_or_an_old_failed_mark_is_not_the_active_versions():
    """An assistant made again with the same id restarts at v1: the old v1's verdict is not
    its; and a ``controller/failed`` mark on the active content named the versions that
    failed, never the one carrying it."""
    now = live("same", "a", 1, **{"controller/failed": [1]})
    old = Known({1: verdict("failed", content("same", "other"))})
    _, rows = rows_for([desired("same", "a")], [now], {now.assistant_id: old})
    assert all_synced(rows) and rows[0].smoke == "-" and rows[0].smoke_failed is False


def test_a_rollback_holds_while_the_manifest_asks_for_what_was_rolled_back():
    state = live("bot", "v1", 1)
    note = Known({}, {}, Rollback(2, 1, content_hash(content("bot", "v2"))))
    _, rows = rows_for([desired("bot", "v2")], [state], {state.assistant_id: note})
    assert rows[0].held == "rollback v2 → v1" and rows[0].sync == "OutOfSync"
    _, rows = rows_for([desired("bot", "v3")], [state], {state.assistant_id: note})  # edited since: no longer held
    assert rows[0].held == ""
