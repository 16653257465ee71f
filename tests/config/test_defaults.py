"""The merge of Defaults under an assistant (config/defaults.py), rule by rule, as pure data."""

from __future__ import annotations

from controller.config.defaults import DefaultsDoc, DefaultsSet, merge


def doc(name: str, spec: dict, match: dict | None = None, **kw) -> DefaultsDoc:
    return DefaultsDoc(name, f"defaults/{name}.yaml", f"defaults/{name}.yaml", 0, 1, match or {}, spec,
                       {("config",): 6, ("config", "configurable"): 7, ("config", "configurable", "model"): 8}, **kw)


def test_maps_merge_key_by_key_and_the_assistant_wins():
    merged = merge({"config": {"configurable": {"model": "own", "style": "blog"}}},
                   [doc("a", {"config": {"configurable": {"model": "shared", "temperature": 0}}, "metadata": {"o": "a"}})],
                   "blog")
    assert merged.spec == {"config": {"configurable": {"model": "own", "style": "blog", "temperature": 0}},
                           "metadata": {"o": "a"}}
    assert merged.origins == {("config", "configurable", "temperature"): "defaults/a.yaml:7",
                              ("metadata", "o"): "defaults/a.yaml:1"}
    assert not merged.conflicts


def test_smoke_and_evals_are_appended_and_other_lists_replaced():
    own = {"smoke": [{"name": "own"}], "config": {"tags": ["own"]}}
    a = doc("a", {"smoke": [{"name": "a1"}, {"name": "a2"}], "evals": [{"name": "e"}], "config": {"tags": ["a"]}},
            templates={("smoke", 1, "input"): "${X}"})
    b = doc("b", {"smoke": [{"name": "b1"}]})
    merged = merge(own, [a, b], "x")
    assert [c["name"] for c in merged.spec["smoke"]] == ["own", "a1", "a2", "b1"]
    assert merged.spec["evals"] == [{"name": "e"}] and merged.spec["config"]["tags"] == ["own"]
    assert merged.templates == {("smoke", 2, "input"): "${X}"}  # a's second case is the merged list's third
    assert ("smoke", 3) in merged.origins and ("config", "tags") not in merged.origins


def test_two_defaults_that_disagree_conflict_unless_the_assistant_decides_or_they_agree():
    a = doc("a", {"config": {"configurable": {"model": "m1"}}})
    b = doc("b", {"config": {"configurable": {"model": "m2"}}})
    same = doc("c", {"config": {"configurable": {"model": "m1"}}})
    (conflict,) = merge({}, [a, b], "blog").conflicts
    assert str(conflict) == ("defaults/a.yaml:8: spec.config.configurable.model: set to different values by Defaults "
                             "'a' and 'b' (defaults/b.yaml:8) for assistant 'blog'; set it in the assistant, or in one of them only")
    assert not merge({"config": {"configurable": {"model": "own"}}}, [a, b], "blog").conflicts
    assert not merge({"config": "not a map"}, [a, b], "blog").conflicts  # the assistant decides the whole map
    assert not merge({}, [a, same], "blog").conflicts
    assert merge({}, [a, doc("d", {"config": {"configurable": "flat"}})], "blog").conflicts  # a map against a value


def test_selection_is_by_labels_in_file_order():
    docs = DefaultsSet([doc("z", {}, {"team": "a"}), doc("b", {}), doc("c", {}, {"team": "b"})])
    assert [d.name for d in docs.selecting({"team": "a", "x": "y"})] == ["b", "z"]
    assert [d.name for d in docs.selecting(None)] == ["b"]
    assert docs.fingerprint({"team": "a"}) != docs.fingerprint({"team": "b"}) != DefaultsSet().fingerprint({})
