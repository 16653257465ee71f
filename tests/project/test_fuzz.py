"""Property: whatever is fed to the manifest loader or the plan-file reader, only the
controller's own errors come out (one clear line each), never another exception or a hang."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config.loader import LoadOptions, load_manifests
from controller.core.content import Content
from controller.core.errors import ControllerError
from controller.engine import planfile
from controller.engine.desired import Declaration
from controller.engine.plan import Change, Plan

REAL = sorted([*ROOT.glob("manifests/assistants/*.yaml"), *ROOT.glob("tests/corpus/**/*.yaml")])
TEXTS = [p.read_text(encoding="utf-8") for p in REAL]
BOUNDED = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow],
                   derandomize=True)


def _plan_text() -> str:
    content = Content("writer", "w", "d", {"configurable": {"model": "m", "style": "blog"}}, {}, {"k": "v"})
    change = Change("update", Declaration("w", "6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c", "a.yaml:3",
                                          sensitive=frozenset({("config", "configurable", "model")}),
                                          templates={("config", "configurable", "model"): "${MODEL}"}),
                    seen_version=1, before=content, content=content, reason="content differs")
    return planfile.dumps(Plan("o", "t", (change,)))


PLAN = _plan_text()


def _mutate(text: str, data: st.DataObject) -> str:
    """Cut, splice, duplicate or replace a slice: the edits a hand or a bad merge makes."""
    for _ in range(data.draw(st.integers(1, 4))):
        n = len(text)
        i = data.draw(st.integers(0, n))
        j = data.draw(st.integers(i, min(n, i + 40)))
        how = data.draw(st.sampled_from(["cut", "insert", "replace", "dup", "truncate"]))
        piece = data.draw(st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@` \n\t,?0aZ$")), max_size=8))
        if how == "cut":
            text = text[:i] + text[j:]
        elif how == "insert":
            text = text[:i] + piece + text[i:]
        elif how == "replace":
            text = text[:i] + piece + text[j:]
        elif how == "dup":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i]
    return text


def _load(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.yaml"
        path.write_bytes(raw)
        try:
            load_manifests([str(path)], LoadOptions(environ={"MODEL": "x"}))
        except ControllerError:
            pass


def _read_plan(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tfplan"
        path.write_bytes(raw)
        try:
            planfile.load(str(path), {}, {"MODEL": "m"})
        except ControllerError:
            pass


@BOUNDED
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_manifest(raw):
    _load(raw)


@BOUNDED
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=20),
       st.sampled_from(["Assistant", "Config", "Other"]))
def test_random_yaml_data_as_a_manifest(body, kind):
    doc = {"apiVersion": "assistant-controller/v1", "kind": kind, "metadata": body, "spec": body}
    _load(json.dumps(doc).encode())  # JSON is YAML


@BOUNDED
@given(st.sampled_from(range(len(TEXTS))), st.data())
def test_mutated_real_manifests(index, data):
    _load(_mutate(TEXTS[index], data).encode("utf-8", "surrogatepass"))


@BOUNDED
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_plan_file(raw):
    _read_plan(raw)


@BOUNDED
@given(st.data())
def test_mutated_plan_files(data):
    _read_plan(_mutate(PLAN, data).encode())


@BOUNDED
@given(st.data())
def test_plan_files_with_values_of_the_wrong_shape(data):
    tree = json.loads(PLAN)
    values = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2) \
        | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
    node, key = tree, None
    for _ in range(data.draw(st.integers(1, 4))):  # walk down to a random node, then replace it
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
            node[key] = data.draw(values)
            break
        node = node[key]
    _read_plan(json.dumps(tree).encode())


def test_the_unmutated_plan_reads():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tfplan"
        path.write_text(PLAN)
        assert planfile.load(str(path), {}, {"MODEL": "m"}).changes[0].name == "w"
        with pytest.raises(ControllerError, match="changed since the plan"):
            planfile.load(str(path), {}, {"MODEL": "other"})
