"""Eval cases from the manifest or a dataset file (YAML list or JSON Lines), every problem at its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.config.manifest import EvalSpec
from controller.evals.dataset import DatasetMissing, eval_cases, read_dataset


def spec(**kw) -> EvalSpec:
    return EvalSpec.model_validate({"name": "e", **kw})


def test_a_yaml_list_beside_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assistants" / "data").mkdir(parents=True)
    (tmp_path / "assistants" / "data" / "qa.yaml").write_text(
        "- name: refunds\n  input: {question: refund?}\n  reference: {answer: 30 days}\n"
        "- input: {question: hours?}\n  context: {persona: terse}\n  expect: [{path: answer, exists: true}]\n")
    cases, problems = eval_cases(spec(dataset="data/qa.yaml"), "assistants/bot.yaml")
    assert problems == []
    assert [c.name for c in cases] == ["refunds", "case 2"]
    assert cases[0].case.reference == {"answer": "30 days"} and cases[1].case.context == {"persona": "terse"}
    assert cases[1].case.expect[0].matcher == "exists"


def test_inline_cases_need_no_file():
    cases, problems = eval_cases(spec(cases=[{"input": {"q": 1}}, {"name": "two", "input": 2}]), "nowhere/bot.yaml")
    assert problems == [] and [c.name for c in cases] == ["case 1", "two"]


def test_every_bad_case_of_a_yaml_dataset_is_reported_at_its_line(tmp_path: Path):
    path = tmp_path / "qa.yaml"
    path.write_text("- name: ok\n  input: 1\n- name: typo\n  inptu: {q: 1}\n- 3\n- input: 1\n  expect: [{path: 'a[', equals: 1}]\n")
    cases, problems = read_dataset(str(path))
    assert [c.name for c in cases] == ["ok"]
    lines = [(p.line, p.path, p.message) for p in problems]
    assert (3, "[1].input", "required field missing") in lines
    assert (4, "[1].inptu", "unknown field (did you mean 'input'?)") in lines
    assert (5, "[2]", "a case is a mapping with input (and reference, expect …), got a number") in lines
    assert any(line == 7 and path == "[3].expect[0].path" and "invalid path" in message for line, path, message in lines)


def test_json_lines_one_case_per_line(tmp_path: Path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"input": {"q": "a"}, "reference": "A"}) + "\n\n" + json.dumps({"input": 2, "bad": 1})
                    + "\nnot json\n")
    cases, problems = read_dataset(str(path))
    assert [c.case.reference for c in cases] == ["A"]
    assert [(p.line, p.path) for p in problems] == [(3, "[1].bad"), (4, "")]
    assert problems[1].message.startswith("not JSON")


@pytest.mark.parametrize("text, message", [
    ("{input: 1}\n", "expected a YAML list of cases (or JSON Lines in a .jsonl file), found no list"),
    ("[]\n", "the dataset has no cases"),
    ("- input: [1\n", "YAML syntax"),
])
def test_a_file_that_is_not_a_list_of_cases(tmp_path: Path, text: str, message: str):
    path = tmp_path / "qa.yaml"
    path.write_text(text)
    cases, problems = read_dataset(str(path))
    assert cases == [] and len(problems) == 1 and problems[0].message.startswith(message)


def test_a_missing_dataset_is_for_the_manifest_to_report(tmp_path: Path):
    with pytest.raises(DatasetMissing):
        eval_cases(spec(dataset="absent.yaml"), str(tmp_path / "bot.yaml"))
