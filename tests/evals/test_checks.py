"""spec.evals is validated before anything runs: the fields (manifest models), and what an eval
refers to outside its manifest (datasets, judges, python files), each problem at its file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from controller.config.loader import LoadOptions, load_manifests
from controller.core.errors import InvalidInput
from controller.evals.checks import eval_problems

HEAD = """\
apiVersion: assistant-controller/v1
kind: Assistant
metadata: {name: bot}
spec:
  graph: faq
  evals:
"""


def write(root: Path, evals: str, extra: str = "") -> Path:
    (root / "assistants").mkdir(exist_ok=True)
    path = root / "assistants" / "bot.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(evals), "    ") + extra)
    return path


def problems(root: Path) -> list[str]:
    """Every problem, as the CLI prints it: the manifests' own first, then the evals' references."""
    try:
        loads = load_manifests([str(root)], LoadOptions(root=str(root)))
    except InvalidInput as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in eval_problems(loads.manifests, str(root))]


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.yaml").write_text("- input: {question: hi}\n")
    return tmp_path


def test_a_valid_eval(root: Path):
    write(root, """\
        - name: answers
          dataset: ../data.yaml
          repeat: 5
          evaluators:
            - expect: [{path: answer, exists: true}]
            - exact: answer
            - trajectory: {match: unordered}
            - python: score.py:ok
              minScore: 0.8
          gate: {passRate: 0.8, maxRegression: 0.05, p95Latency: 20s}
          concurrency: 4
          timeout: 30s
        """)
    (root / "score.py").write_text("def ok(input, output, reference):\n    return True\n")
    assert problems(root) == []


@pytest.mark.parametrize("evals, expected", [
    ("- {name: e, dataset: ../data.yaml, evaluators: [{regex: x}]}\n",
     "assistants/bot.yaml:7: spec.evals[0].evaluators[0]: unknown evaluator kind 'regex' (expected one of expect, exact, trajectory, judge, python)"),
    ("- {name: e, dataset: ../data.yaml, evaluators: [{judg: {assistant: x}}]}\n",
     "assistants/bot.yaml:7: spec.evals[0].evaluators[0]: unknown evaluator kind 'judg' (did you mean 'judge'?)"),
    ("- {name: e, dataset: ../data.yaml, evaluators: [{exact: a, judge: {assistant: x}}]}\n",
     "assistants/bot.yaml:7: spec.evals[0].evaluators[0]: give exactly one of expect, exact, trajectory, judge, python (got exact, judge)"),
    ("- {name: e, dataset: ../data.yaml, evaluators: [{exact: a, minScore: 0.2}]}\n",
     "assistants/bot.yaml:7: spec.evals[0].evaluators[0].minScore: only for python evaluators (a judge has its own: judge.minScore)"),
    ("- {name: e, dataset: ../data.yaml, evaluators: [{trajectory: {match: loose}}]}\n",
     "assistants/bot.yaml:7: spec.evals[0].evaluators[0].trajectory.match: input should be 'strict', 'unordered', 'subset' or 'superset', got 'loose'"),
    ("- {name: e, dataset: ../data.yaml, gate: {passRate: 1.5}}\n",
     "assistants/bot.yaml:7: spec.evals[0].gate.passRate: input should be less than or equal to 1"),
    ("- {name: e, dataset: ../data.yaml, cases: [{input: 1}]}\n",
     "assistants/bot.yaml:7: spec.evals[0]: give exactly one of dataset or cases"),
    ("- {name: e, dataset: ../data.yaml}\n- {name: e, dataset: ../data.yaml}\n",
     "assistants/bot.yaml:6: spec.evals: two evals are named 'e'; reports and JUnit need unique names"),
    ("- {name: e, cases: [{reference: 1}]}\n",
     "assistants/bot.yaml:7: spec.evals[0].cases[0].input: required field missing"),
])
def test_a_bad_field_is_one_line_at_its_place(root: Path, evals: str, expected: str):
    write(root, evals)
    assert problems(root) == [expected]


def test_references_outside_the_manifest(root: Path):
    write(root, """\
        - name: e
          dataset: ../missing.yaml
          evaluators:
            - judge: {assistant: grader}
            - python: score.py:absent
        """)
    (root / "score.py").write_text("def present(i, o, r):\n    return True\n")
    assert problems(root) == [
        "assistants/bot.yaml:8: spec.evals[0].dataset: cannot read the dataset missing.yaml "
        "(No such file or directory; a dataset is relative to the file that declares its eval)",
        "assistants/bot.yaml:10: spec.evals[0].evaluators[0].judge.assistant: judge 'grader' is not a declared assistant (declared: bot)",
        "assistants/bot.yaml:11: spec.evals[0].evaluators[1].python: score.py defines no function 'absent'",
    ]


def test_a_malformed_dataset_is_reported_in_the_dataset(root: Path):
    (root / "data.yaml").write_text("- input: {question: hi}\n- reference: 1\n")
    write(root, "- {name: e, dataset: ../data.yaml}\n")
    assert problems(root) == ["data.yaml:2: [1].input: required field missing"]


def test_a_judge_declared_in_another_file_is_fine(root: Path):
    write(root, "- {name: e, dataset: ../data.yaml, evaluators: [{judge: {assistant: grader}}]}\n")
    (root / "assistants" / "grader.yaml").write_text(HEAD.replace("name: bot", "name: grader").replace("  evals:\n", ""))
    assert problems(root) == []


def test_an_eval_a_defaults_document_adds_reads_its_dataset_beside_that_document(root: Path):
    (root / "shared" / "data").mkdir(parents=True)
    (root / "shared" / "gold.yaml").write_text(
        "apiVersion: assistant-controller/v1\nkind: Defaults\nmetadata: {name: gold}\n"
        "selector:\n  matchLabels: {tier: gold}\nspec:\n  evals:\n    - name: shared\n      dataset: data/cases.yaml\n")
    (root / "shared" / "data" / "cases.yaml").write_text("- input: {question: refund?}\n")
    write(root, "- {name: own, dataset: ../data.yaml}\n").write_text(
        (root / "assistants" / "bot.yaml").read_text().replace("metadata: {name: bot}", "metadata: {name: bot, labels: {tier: gold}}"))
    assert problems(root) == []
    loads = load_manifests([str(root)], LoadOptions(root=str(root)))
    from controller.evals.dataset import eval_homes

    (bot,) = loads.manifests
    homes = eval_homes(2, bot.origins, bot.file, bot.source)
    assert [h.file for h in homes] == ["assistants/bot.yaml", "shared/gold.yaml"] and homes[1].defaults == "shared/gold.yaml:8"

    (root / "shared" / "data" / "cases.yaml").unlink()
    assert problems(root) == ["shared/gold.yaml:8: dataset: cannot read the dataset shared/data/cases.yaml "
                              "(No such file or directory; a dataset is relative to the file that declares its eval) (an eval of bot)"]
