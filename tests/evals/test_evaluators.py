"""Each kind of evaluator on real runs: expect, exact, trajectory, a judge assistant, python functions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controller.config.manifest import EvalCase, Evaluator
from controller.core.errors import ControllerError
from controller.evals.dataset import Case
from controller.evals.evaluators import Grade, Grading, grade_run, graders


def case(**kw: Any) -> Case:
    return Case(kw.pop("name", "c"), EvalCase.model_validate(kw))


def grade(target: Any, evaluators: list[dict], the_case: Case, output: Any, *, judges: dict | None = None,
          root: str = ".") -> tuple[Grade, ...]:
    specs = [Evaluator.model_validate(e) for e in evaluators]
    made = graders(specs, Grading(target, judges or {}, root, 30.0))
    return asyncio.run(grade_run(made, specs, the_case, output))


def run_graph(target: Any, assistant_id: str, input: Any) -> Any:
    outcome = asyncio.run(target.run(assistant_id, input))
    assert outcome.status == "success", outcome.error
    return outcome.output


def test_expect_scores_the_share_of_matchers_that_hold_and_a_case_adds_its_own(target):
    c = case(input={}, expect=[{"path": "answer", "contains": "30 days"}])
    (g,) = grade(target, [{"expect": [{"path": "answer", "exists": True}]}], c, {"answer": "within 14 days"})
    assert (g.evaluator, g.score, g.passed) == ("expect", 0.5, False)
    assert g.reason == 'contains answer: the string does not contain the expected text (expected "30 days", got "within 14 days")'
    (own,) = grade(target, [], c, {"answer": "30 days"})  # no expect evaluator: the case's matchers alone
    assert own == Grade("expect", 1.0, True)


def test_exact_compares_output_and_reference_at_one_path(target):
    c = case(input={}, reference={"answer": "42", "why": "sum"})
    assert grade(target, [{"exact": "answer"}], c, {"answer": "42", "extra": 1})[0].passed
    wrong = grade(target, [{"exact": "answer"}], c, {"answer": 42})[0]
    assert not wrong.passed and "expected a string, got a number" in wrong.reason
    missing = grade(target, [{"exact": "answer"}], case(input={}, reference={"other": 1}), {"answer": "42"})[0]
    assert missing.reason.startswith("the case's reference has no answer: the reference has no key 'answer'")


def test_trajectory_of_a_real_tool_calling_run(target, make):
    agent = make("agent", context={"skill": 1.0})
    output = run_graph(target, agent, {"messages": [{"role": "user", "content": "Weather in Paris, and 10 EUR to USD?"}]})
    assert output["messages"][-1]["content"].startswith("sunny, 21°C")
    reference = {"trajectory": [{"name": "get_weather", "args": {"city": "Paris"}}, "convert"]}
    passed = grade(target, [{"trajectory": {"match": "strict"}}], case(input={}, reference=reference), output)[0]
    assert passed == Grade("trajectory strict", 1.0, True)

    lazy = make("agent", context={"skill": 0.0})  # skips the tools and guesses
    guessed = run_graph(target, lazy, {"messages": [{"role": "user", "content": "Weather in Paris?"}]})
    failed = grade(target, [{"trajectory": {"match": "superset"}}], case(input={}, reference=reference), guessed)[0]
    assert not failed.passed
    assert failed.reason == 'tool calls (no tool calls); expected (superset) get_weather(city="Paris"), convert'


def test_a_judge_assistant_grades_the_run(target, make):
    judge = make("grader")
    c = case(input={"question": "refund?"}, reference={"answer": "Refunds are accepted within 30 days of purchase."})
    evaluators = [{"judge": {"assistant": "faq-grader", "minScore": 0.7}}]
    good = grade(target, evaluators, c, {"answer": "Refunds are accepted within 30 days of purchase."}, judges={"faq-grader": judge})
    assert good == (Grade("judge faq-grader", 1.0, True, "matches the reference"),)
    (bad,) = grade(target, evaluators, c, {"answer": "Refunds are accepted."}, judges={"faq-grader": judge})
    assert (bad.score, bad.passed) == (0.4, False)
    assert bad.reason == "score 0.40 < 0.7: missing from the answer: 30, days, purchase"


def test_a_judge_whose_run_fails_fails_the_grade(target, make):
    boom = make("boom")  # not a grader: the judge's input has no "text", so its run raises
    (g,) = grade(target, [{"judge": {"assistant": "j"}}], case(input={}), {"answer": 1}, judges={"j": boom})
    assert (g.score, g.passed) == (0.0, False)
    assert g.reason.startswith("the judge's run failed: KeyError")


@pytest.fixture
def scorers(tmp_path: Path) -> Path:
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "score.py").write_text(
        "def polite(input, output, reference):\n    return 'please' in output['answer']\n"
        "def length(input, output, reference):\n    return min(1.0, len(output['answer']) / 20)\n"
        "def verdict(input, output, reference):\n    return {'score': 0.3, 'comment': 'too curt'}\n"
        "async def later(input, output, reference):\n    return True\n"
        "def broken(input, output, reference):\n    raise KeyError('answer')\n"
        "def odd(input, output, reference):\n    return 'yes'\n"
        "def meddle(input, output, reference):\n    output['answer'] = 'changed'\n    return True\n")
    return tmp_path


@pytest.mark.parametrize("ref, min_score, expected", [
    ("polite", None, Grade("python evals/score.py:polite", 0.0, False, "false")),
    ("length", None, Grade("python evals/score.py:length", 0.5, True)),
    ("length", 0.8, Grade("python evals/score.py:length", 0.5, False, "score 0.50 < 0.8")),
    ("verdict", None, Grade("python evals/score.py:verdict", 0.3, False, "score 0.30 < 0.5: too curt")),
    ("later", None, Grade("python evals/score.py:later", 1.0, True)),
    ("broken", None, Grade("python evals/score.py:broken", 0.0, False, "raised KeyError: 'answer'")),
    ("odd", None, Grade("python evals/score.py:odd", 0.0, False, 'it gave no score between 0 and 1 (got "yes")')),
])
def test_python_functions_return_a_bool_a_score_or_a_verdict(target, scorers: Path, ref: str, min_score, expected):
    evaluator: dict[str, Any] = {"python": f"evals/score.py:{ref}"}
    if min_score is not None:
        evaluator["minScore"] = min_score
    assert grade(target, [evaluator], case(input={}), {"answer": "ten chars."}, root=str(scorers)) == (expected,)


def test_a_python_evaluator_cannot_change_what_the_next_one_sees(target, scorers: Path):
    grades = grade(target, [{"python": "evals/score.py:meddle"}, {"expect": [{"path": "answer", "equals": "original"}]}],
                   case(input={}), {"answer": "original"}, root=str(scorers))
    assert [g.passed for g in grades] == [True, True]


def test_a_missing_function_fails_before_any_run(target, scorers: Path):
    with pytest.raises(ControllerError, match="has no function 'absent'"):
        graders([Evaluator.model_validate({"python": "evals/score.py:absent"})], Grading(target, {}, str(scorers), 1.0))
    assert target.started == []
