"""Eval results as a user reads them: the table, the gate, the failing runs; JSON; Markdown; JUnit."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from controller.config.manifest import EvalSpec
from controller.evals.evaluate import EvalResult, Subject, evaluate, prepare
from controller.evals.report import eval_json, format_eval, markdown, summary, write_junit

CASES = [{"name": "refund", "input": {"question": "How long for a refund?", "seed": 1}, "reference": {"answer": "30 days"}},
         {"name": "hours", "input": {"question": "What are your hours?", "seed": 2}, "reference": {"answer": "9am"}}]


@pytest.fixture
def results(target, make) -> tuple[EvalResult, EvalResult]:
    """The same eval of a right and of a wrong FAQ bot, each against the right one."""
    right, wrong = make("faq", context={"accuracy": 1.0}), make("faq", context={"accuracy": 0.0})
    cases = [{**c, "expect": [{"path": "answer", "contains": c["reference"]["answer"]}]} for c in CASES]
    spec = EvalSpec.model_validate({"name": "answers", "cases": cases, "repeat": 2,
                                    "evaluators": [{"expect": [{"path": "answer", "exists": True}]}],
                                    "gate": {"passRate": 0.9, "maxRegression": 0.1}})
    prepared = prepare(target, "faq-bot", spec, "m.yaml", ".", {})

    def on(assistant: str, candidate: bool) -> EvalResult:
        subject = Subject(assistant, None, True) if candidate else Subject(assistant, 4)
        return asyncio.run(evaluate(target, prepared, subject, Subject(right, 4) if candidate else None))

    return on(right, False), on(wrong, True)


def test_the_table_has_each_subject_its_scores_the_difference_and_the_gate(results):
    passing, failing = results
    text = "\n".join(format_eval(passing))
    assert text.splitlines()[0] == "faq-bot › answers (2 cases × 2 runs)"
    assert "v4 (active)" in text and "gate: passed: pass rate 1.00 ≥ 0.9; evaluated the active version itself" in text
    lines = format_eval(failing)
    header = next(line for line in lines if "pass rate" in line and "95% interval" in line)
    assert header.split() == ["runs", "passed", "errors", "pass", "rate", "95%", "interval", "expect", "p95", "latency"]
    candidate = next(line for line in lines if line.strip().startswith("candidate")).split()
    assert candidate[1:6] == ["4", "0", "0", "0.00", "[0.00,"]
    active = next(line for line in lines if "(active)" in line).split()
    assert active[2:5] == ["4", "4", "0"]
    assert next(line for line in lines if "difference" in line).split()[1:2] == ["-1.00"]
    gate = next(line for line in lines if "gate:" in line)
    assert gate.startswith("  gate: FAILED: pass rate 0.00 < 0.9; pass rate 0.00 vs 1.00: lower by at least")


def test_failing_runs_show_case_run_reason_input_and_output(results):
    lines = format_eval(results[1])
    start = lines.index("  failing runs (candidate):")
    assert lines[start + 1].strip().startswith("✗ refund › run 1 of 2")
    assert lines[start + 2].strip().startswith('expect: contains answer: the string does not contain the expected text (expected "30 days"')
    assert lines[start + 3].strip() == 'input:  {"question": "How long for a refund?", "seed": 1}'
    assert lines[start + 4].strip().startswith('output: {"question": "How long for a refund?"')


def test_the_eval_event(results):
    event = eval_json(results[1])
    assert {k: event[k] for k in ("event", "name", "assistant", "version", "candidate", "runs", "passed", "pass_rate")} == {
        "event": "eval", "name": "answers", "assistant": "faq-bot", "version": None, "candidate": True, "runs": 4,
        "passed": 0, "pass_rate": 0.0}
    assert event["interval"][0] == 0.0 and 0.4 < event["interval"][1] < 0.6
    assert event["scores"] == {"expect": 0.5} and event["p95_latency_s"] > 0
    assert event["baseline"]["version"] == 4 and event["baseline"]["pass_rate"] == 1.0 and event["baseline"]["candidate"] is False
    assert event["difference"]["estimate"] == -1.0
    assert event["gate"]["ok"] is False and event["gate"]["reasons"][0] == "pass rate 0.00 < 0.9"
    assert [c["bar"] for c in event["gate"]["checks"]] == ["passRate", "maxRegression"]
    assert len(event["failures"]) == 4 and event["failures"][0]["case"] == "refund" and event["failures"][0]["run"] == 1
    assert eval_json(results[0])["baseline"] is None


def test_markdown_for_a_pull_request(results):
    text = markdown(results)
    rows = [line for line in text.splitlines() if line.startswith("| ✅") or line.startswith("| ❌")]
    assert rows[0].startswith("| ✅ | faq-bot | answers (v4) | 4 | 1.00 [0.51, 1.00] | – | – |")
    assert rows[1].startswith("| ❌ | faq-bot | answers (candidate) | 4 | 0.00 [0.00, 0.49] | v4: 1.00 | -1.00 |")
    assert "- **faq-bot › answers**: pass rate 0.00 < 0.9;" in text
    assert summary(results) == "Evals: 1 passed, 1 failed." and text.endswith(summary(results))


def test_junit_one_test_case_per_dataset_case_with_its_pass_count(results, tmp_path: Path):
    path = tmp_path / "evals.xml"
    write_junit(results, str(path))
    root = ET.parse(path).getroot()
    assert (root.get("tests"), root.get("failures")) == ("6", "3")
    passing, failing = root.findall("testsuite")
    assert [c.get("name") for c in failing.findall("testcase")] == ["refund", "hours", "gate"]

    def props(case: Any) -> dict[str, str]:
        return {p.get("name"): p.get("value") for p in case.iter("property")}

    refund = failing.find("testcase[@name='refund']")
    assert props(refund) == {"passed": "0", "runs": "2"} and refund.find("failure").get("message") == "0 of 2 runs passed"
    assert passing.find("testcase[@name='refund']").find("failure") is None  # the gate passed: no failure to report
    assert props(passing.find("testcase[@name='refund']")) == {"passed": "2", "runs": "2"}
    assert failing.find("testcase[@name='gate']/failure").get("message").startswith("pass rate 0.00 < 0.9")
