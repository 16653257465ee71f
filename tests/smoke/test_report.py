"""Smoke results for people and machines (smoke/report.py): text lines, a JSON shape, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from controller.smoke.checks import Failure
from controller.smoke.report import format_result, to_json, write_junit
from controller.smoke.runner import CaseResult, SuiteResult


def _result(**kwargs: Any) -> CaseResult:
    defaults: dict[str, Any] = {"assistant": "writer-blog", "case": "writes a blog post", "passed": True,
                                "duration_s": 0.031}
    return CaseResult(**{**defaults, **kwargs})


def test_format_pass() -> None:
    assert format_result(_result(), color=False) == "  ✓ writer-blog › writes a blog post (0.03s)"
    colored = format_result(_result(), color=True)
    assert "\x1b[32m✓\x1b[0m" in colored and "writer-blog › writes a blog post" in colored


def test_format_assertion_failure() -> None:
    failure = Failure("assertion", "the string does not contain the expected text", "contains",
                      "messages[-1].content", "blog", "hello\nthere")
    text = format_result(_result(passed=False, failure=failure, step=0), color=False)
    assert text.splitlines() == [
        "  ✗ writer-blog › writes a blog post (0.03s)",
        "      contains messages[-1].content: the string does not contain the expected text",
        '      expected: "blog"',
        '      actual:   "hello\\nthere"',
    ]
    assert "\x1b[31m✗" in format_result(_result(passed=False, failure=failure, step=0), color=True)


def test_format_multi_step_missing_and_run_errors() -> None:
    missing = Failure("assertion", "path not found: x", "equals", "out", 1, None, found=False)
    text = format_result(_result(passed=False, failure=missing, step=1, steps=3))
    assert "      step 2 of 3" in text.splitlines()
    assert "actual:   (missing)" in text
    error = format_result(_result(passed=False, failure=Failure("error", "run failed: ValueError: boom"), step=0))
    assert error.splitlines()[1:] == ["      run failed: ValueError: boom"]
    whole = Failure("assertion", "values differ", "equals", "", 1, 2)
    assert "equals (whole output): values differ" in format_result(_result(passed=False, failure=whole, step=0))


def test_format_truncates_long_values() -> None:
    failure = Failure("assertion", "values differ", "equals", "out", "short", "x" * 5000)
    line = format_result(_result(passed=False, failure=failure, step=0)).splitlines()[-1]
    assert len(line) < 260 and line.endswith("… (5002 chars)")
    assert failure.actual == "x" * 5000  # the raw value is kept


def test_to_json_shape() -> None:
    failure = Failure("assertion", "values differ", "equals", "out", {"a": 1}, object())
    suite = SuiteResult([_result(),
                         _result(case="two", passed=False, failure=failure, step=1, steps=2),
                         _result(case="three", passed=False, failure=Failure("timeout", "timed out after 30s"), step=0)])
    data = to_json(suite)
    json.dumps(data)  # serialisable, even with an odd actual value
    assert data["passed"] == 1 and data["failed"] == 2
    assert data["cases"][0] == {"assistant": "writer-blog", "case": "writes a blog post", "passed": True,
                                "duration_s": 0.031, "failure": None}
    assert data["cases"][1]["failure"]["step"] == 2
    assert {k: v for k, v in data["cases"][1]["failure"].items() if k != "actual"} == {
        "kind": "assertion", "message": "values differ", "step": 2, "matcher": "equals", "path": "out",
        "expected": {"a": 1}, "found": True}
    assert data["cases"][2]["failure"] == {"kind": "timeout", "message": "timed out after 30s", "step": 1,
                                           "matcher": None, "path": None, "expected": None, "actual": None,
                                           "found": True}


def test_write_junit(tmp_path: Any) -> None:
    fail = Failure("assertion", "the string does not contain the expected text", "contains", "out", "blog",
                   "nothing \x1b[31mred\x1b[0m here")
    suite = SuiteResult([
        _result(assistant="writer", case="one", duration_s=0.5),
        _result(assistant="writer", case="two <&>", passed=False, failure=fail, step=0, duration_s=0.25),
        _result(assistant="chat", case="three", passed=False, failure=Failure("error", "run failed: boom\x00"),
                step=1, steps=2, duration_s=1.0),
    ])
    path = tmp_path / "junit.xml"
    write_junit(suite, str(path))
    assert path.read_bytes().startswith(b"<?xml")
    root = ET.parse(path).getroot()  # valid XML, control characters included
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("time")) == ("3", "2", "0", "1.750")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [("writer", "2", "1"), ("chat", "1", "1")]
    cases = root.iter("testcase")
    one, two, three = cases
    assert (one.get("classname"), one.get("name"), one.get("time")) == ("writer", "one", "0.500")
    assert one.find("failure") is None
    assert two.get("name") == "two <&>"
    failure = two.find("failure")
    assert failure is not None
    assert failure.get("message") == "the string does not contain the expected text"
    assert failure.get("type") == "contains"
    assert failure.text is not None and 'expected: "blog"' in failure.text and "red" in failure.text
    error = three.find("failure")
    assert error is not None and error.get("type") == "error" and error.get("message") == "run failed: boom\ufffd"
    assert error.text is not None and "step 2 of 2" in error.text
