"""Field-level differences (engine/diff.py): added, removed and changed keys, masked on both sides,
and context manifests shown as context."""

from __future__ import annotations

from helpers import writer_content as c

from controller.core.content import Content
from controller.engine.diff import field_diff


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
    assert {"op": "+", "path": "config.configurable.model", "before": None, "after": "(sensitive)"} in created
    assert "secret" not in repr(created)


def test_context_manifests_are_shown_as_context():
    ctx = Content("chat", "C", None, {"configurable": {"persona": "a"}}, {"persona": "a"}, {})
    shown = field_diff(None, ctx, mirror_as="context")
    assert {"op": "+", "path": "context.persona", "before": None, "after": "a"} in shown
    assert not any(e["path"].startswith("config") for e in shown)
