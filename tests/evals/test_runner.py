"""Running an eval on real graphs: cases × repeats × subjects, interleaved, concurrent, and a
run that times out or fails counts as a failed run, never as an error."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.config.manifest import EvalSpec
from controller.evals.dataset import eval_cases
from controller.evals.evaluate import Subject, conclude, evaluate, prepare, run_subject
from controller.evals.evaluators import Grading, graders
from controller.evals.runner import run_eval

QUESTIONS = ["How long for a refund?", "How long does shipping take?", "What are your hours?", "Any warranty?"]


def faq_spec(**kw: Any) -> EvalSpec:
    cases = [{"input": {"question": q, "seed": i}, "reference": {"answer": "x"}} for i, q in enumerate(QUESTIONS)]
    return EvalSpec.model_validate({"name": "faq", "cases": cases, **kw})


def run(target: Any, spec: EvalSpec, subjects: list[str], **kw: Any) -> list:
    cases = eval_cases(spec, "m.yaml")[0]
    grading = Grading(target, {}, ".", spec.timeout)
    return asyncio.run(run_eval(target, spec, cases, subjects, graders(spec.evaluators, grading), grading, **kw))


def test_every_case_runs_repeat_times_in_order(target, make):
    bot = make("faq", context={"accuracy": 1.0})
    ticks: list[int] = []
    (records,) = run(target, faq_spec(repeat=3, evaluators=[{"expect": [{"path": "answer", "contains": "days"}]}]), [bot],
                     progress=lambda: ticks.append(1))
    assert [(r.case, r.repeat) for r in records] == [(c, r) for c in range(4) for r in range(3)]
    assert [r.passed for r in records[::3]] == [True, True, False, False]  # hours and warranty say no "days"
    assert len(ticks) == 12 and all(r.status == "success" and r.duration_s > 0 for r in records)


def test_two_subjects_are_interleaved_run_by_run(target, make):
    good, bad = make("faq", context={"accuracy": 1.0}), make("faq", context={"accuracy": 0.0})
    records = run(target, faq_spec(repeat=2, concurrency=1), [good, bad])
    assert [aid for aid, _ in target.started] == [good, bad] * 8
    assert [len(r) for r in records] == [8, 8]


def test_runs_go_out_concurrently_up_to_the_limit(target, make):
    slow = make("slow")
    spec = EvalSpec.model_validate({"name": "slow", "cases": [{"input": {"seconds": 0.2}}], "repeat": 12, "concurrency": 4})
    (records,) = run(target, spec, [slow])
    assert target.most_in_flight == 4 and all(r.passed for r in records)


def test_a_timeout_or_an_error_is_a_failed_run(target, make):
    slow, boom = make("slow"), make("boom")
    spec = EvalSpec.model_validate({"name": "s", "cases": [{"input": {"seconds": 5}}], "timeout": "300ms"})
    (timed_out,) = run(target, spec, [slow])[0]
    assert (timed_out.passed, timed_out.status, timed_out.error) == (False, "timeout", "timed out after 0.3s")
    assert timed_out.reasons == ["timed out after 0.3s"]
    spec = EvalSpec.model_validate({"name": "b", "cases": [{"input": {"text": "boom"}}, {"input": {"text": "fine"}}]})
    failed, fine = run(target, spec, [boom])[0]
    assert failed.status == "error" and failed.error == "run failed: ValueError: boom: requested failure"
    assert fine.passed and fine.output == {"text": "fine", "out": "fine"}


def test_secrets_are_masked_in_outputs_and_reasons(target, make):
    writer = make("writer", config={"configurable": {"style": "plain", "model": "sk-secret-123"}})
    spec = EvalSpec.model_validate({"name": "w", "cases": [{"input": {"text": "hi"}}],
                                    "evaluators": [{"expect": [{"path": "model", "equals": "gpt"}]}]})
    (record,) = run(target, spec, [writer], secrets={"sk-secret-123"})[0]
    assert record.output["model"] == "(sensitive)"
    assert "sk-secret-123" not in repr(record) and "(sensitive)" in record.grades[0].reason


def test_a_case_runs_with_its_own_context(target, make):
    bot = make("faq", context={"accuracy": 0.0})
    spec = EvalSpec.model_validate({"name": "c", "cases": [
        {"input": {"question": "refund?", "seed": 1}, "context": {"accuracy": 1.0}},
        {"input": {"question": "refund?", "seed": 1}}]})
    right, wrong = run(target, spec, [bot])[0]
    assert "30 days" in right.output["answer"] and "30 days" not in wrong.output["answer"]


ANSWERS = ["Refunds are accepted within 30 days of purchase.", "Standard shipping takes 3 to 5 business days.",
           "Support is open Monday to Friday, 9am to 6pm CET.", "Every device has a 2-year warranty."]


def test_evaluate_gates_a_worse_candidate_against_its_baseline(target, make):
    """The API apply calls: the same seeded cases on both, judged; a drop from 0.95 to 0.5 is refused."""
    live, candidate, judge = make("faq", context={"accuracy": 0.95}), make("faq", context={"accuracy": 0.5}), make("grader")
    cases = [{"input": {"question": QUESTIONS[i % 4], "seed": i}, "reference": {"answer": ANSWERS[i % 4]}} for i in range(40)]
    spec = EvalSpec.model_validate({"name": "q", "cases": cases, "gate": {"passRate": 0.4, "maxRegression": 0.05},
                                    "evaluators": [{"judge": {"assistant": "grader", "minScore": 0.7}}]})
    prepared = prepare(target, "faq-bot", spec, "m.yaml", ".", {"grader": judge})
    result = asyncio.run(evaluate(target, prepared, Subject(candidate, None, True), Subject(live, 3)))
    assert result.baseline is not None and result.baseline.sample.runs == result.candidate.sample.runs == 40
    assert (result.baseline.subject.label, result.candidate.subject.label) == ("v3", "candidate")
    assert result.baseline.sample.pass_rate >= 0.9 and result.candidate.sample.pass_rate <= 0.7
    assert not result.ok and [c.bar for c in result.verdict.checks if not c.ok] == ["maxRegression"]
    assert set(result.candidate.scores) == {"judge grader"}

    # the same, with the baseline evaluated at another time (smoke: after evaluates the active version first)
    before = asyncio.run(run_subject(target, prepared, Subject(live, 3)))
    after = asyncio.run(run_subject(target, prepared, Subject(candidate, None, True)))
    assert conclude(prepared, after, before).verdict == result.verdict  # seeded: the same runs, the same verdict
