"""What people and machines read: diffs, masking, colour, the JSON shape."""

from __future__ import annotations

from controller.cli.planview import render_json, render_text
from controller.core.content import Content
from controller.engine.desired import Declaration
from controller.engine.diff import field_diff
from controller.engine.plan import Change, Plan


def c(**kw) -> Content:
    base = dict(graph_id="writer", name="W", description=None, config={"configurable": {"style": "blog", "model": "m1"}},
                context={"style": "blog", "model": "m1"}, metadata={"team": "a"})
    base.update(kw)
    return Content(**base)


def test_field_level_diff_with_added_removed_and_changed_keys():
    after = c(config={"configurable": {"style": "tweet", "model": "m1"}, "tags": ["x"]},
              context={"style": "tweet", "model": "m1"}, metadata={"owner": "b"})
    diff = {(e["op"], e["path"]): (e["before"], e["after"]) for e in field_diff(c(), after)}
    assert diff == {
        ("~", "config.configurable.style"): ("blog", "tweet"),
        ("+", "config.tags"): (None, ["x"]),
        ("-", "metadata.team"): ("a", None),
        ("+", "metadata.owner"): (None, "b"),
    }


def test_sensitive_paths_are_masked_on_both_sides_and_inside_added_subtrees():
    after = c(config={"configurable": {"style": "blog", "model": "secret-2"}}, context={"style": "blog", "model": "secret-2"})
    before = c(config={"configurable": {"style": "blog", "model": "secret-1"}}, context={"style": "blog", "model": "secret-1"})
    entries = field_diff(before, after, frozenset({("config", "configurable", "model")}))
    assert entries == [{"op": "~", "path": "config.configurable.model", "before": "(sensitive)", "after": "(sensitive)"}]
    created = field_diff(None, after, frozenset({("config", "configurable", "model")}))
    assert "secret" not in repr(created)


def test_multiline_strings_render_as_unified_diffs_and_colour_only_when_asked():
    before = c(config={"configurable": {"p": "one\ntwo\nthree\n"}}, context={"p": "one\ntwo\nthree\n"})
    after = c(config={"configurable": {"p": "one\n2\nthree\n"}}, context={"p": "one\n2\nthree\n"})
    plan = Plan("o", "t", (Change("update", Declaration("w", "id"), seen_version=1, before=before, content=after),))
    text = render_text(plan)
    assert "~ config.configurable.p:" in text and "\n        -two\n        +2" in text
    assert "\x1b[" not in text
    assert "\x1b[33m" in render_text(plan, color=True)
    assert text.endswith("Plan: 0 to create, 1 to update, 0 to repin, 0 to delete.")


def test_no_changes_message_and_json_shape():
    plan = Plan("o", "t", (Change("noop", Declaration("w", "id"), seen_version=3, before=c(), content=c()),),
                owner_source="controller.yaml")
    assert render_text(plan) == "Plan for owner o on t (owner from controller.yaml)\n\nNo changes. The target matches the manifests."
    data = render_json(plan)
    assert (data["owner"], data["owner_source"], data["target"]) == ("o", "controller.yaml", "t")
    assert data["summary"] == {"create": 0, "update": 0, "repin": 0, "delete": 0, "noop": 1}
    assert data["changes"][0] == {"action": "noop", "name": "w", "assistant_id": "id", "source": "", "seen_version": 3,
                                  "to_version": None, "adopt": False, "reason": "", "warnings": [], "diff": []}


def test_the_header_says_how_a_default_owner_was_chosen():
    plan = Plan("repo", "embedded .controller/state.db", (), owner_source="default: name of the project root folder")
    assert render_text(plan).splitlines()[0] == (
        "Plan for owner repo on embedded .controller/state.db (default: name of the project root folder)")


def test_context_manifests_are_shown_as_context():
    ctx = Content("chat", "C", None, {"configurable": {"persona": "a"}}, {"persona": "a"}, {})
    shown = field_diff(None, ctx, mirror_as="context")
    assert {"op": "+", "path": "context.persona", "before": None, "after": "a"} in shown
    assert not any(e["path"].startswith("config") for e in shown)
