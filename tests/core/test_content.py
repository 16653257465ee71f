"""Normalisation: what the server rewrites must not look like a change."""

import uuid

from controller.core.content import (
    NAMESPACE,
    Content,
    assistant_id_for,
    canonical,
    mirrored,
    same_content,
    system_assistant_id,
)


def test_ids_are_deterministic_and_match_the_server_for_system_assistants():
    assert assistant_id_for("acme", "blog") == assistant_id_for("acme", "blog") != assistant_id_for("acme2", "blog")
    # ids must never change: the fast path is exactly uuid5 over "owner/name"
    for owner, name in (("acme", "blog"), ("demo-agents", "tweet-writer"), ("ü", "ñame")):
        assert assistant_id_for(owner, name) == str(uuid.uuid5(NAMESPACE, f"{owner}/{name}"))
    assert system_assistant_id("writer") == "b4a486dd-d043-5b64-b6e1-20bae3a982fb"  # observed on the server


def test_mirror_rules_follow_the_server():
    assert mirrored({"configurable": {"a": 1}}, {}) == ({"configurable": {"a": 1}}, {"a": 1})
    assert mirrored({"tags": ["x"]}, {"b": 2}) == ({"tags": ["x"], "configurable": {"b": 2}}, {"b": 2})
    assert mirrored({"configurable": {}}, {}) == ({"configurable": {}}, {})


def test_server_rewrites_are_not_differences():
    mine = Content("g", "n", None, {"configurable": {"a": 1}}, {}, {"k": "v"})
    server = Content("g", "n", "", {"configurable": {"a": 1}}, {"a": 1},
                     {"k": "v", "gone": None, "controller/revision": "abc"})
    assert same_content(Content(*[getattr(mine, f) for f in ("graph_id", "name", "description")],
                                 *mirrored(mine.config, mine.context), mine.metadata), server)
    assert same_content(Content("g", "n", None, {"configurable": {}}, {}, {}), Content("g", "n", None, {}, {}, {}))


def test_real_differences_are_kept():
    base = Content("g", "n", None, {"configurable": {"a": 1}}, {"a": 1}, {})
    assert not same_content(base, Content("g", "n", None, {"configurable": {"a": 1}}, {"a": 2}, {}))  # diverged context
    assert not same_content(base, Content("g", "n", None, {"configurable": {"a": 1}}, {}, {}))
    assert not same_content(base, Content("g", "n", None, {"configurable": {"a": 1}, "tags": []}, {"a": 1}, {}))
    assert canonical(base, "context") == {"graph_id": "g", "name": "n", "description": None, "config": {},
                                          "metadata": {}, "context": {"a": 1}}
