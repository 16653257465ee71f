"""Smoke results for people and machines: text lines, a JSON shape, JUnit XML for CI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from controller.core.ansi import DIM, GREEN, RED, paint
from controller.smoke.runner import CaseResult, SuiteResult


def one_line(value: Any, limit: int = 200) -> str:
    """One line, JSON-style (strings quoted, newlines visible), cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def _details(result: CaseResult, limit: int) -> list[str]:
    if (failure := result.failure) is None:
        return []
    lines = [f"step {result.step + 1} of {result.steps}"] if result.steps > 1 and result.step is not None else []
    if failure.kind != "assertion":
        return lines + [failure.message]
    return lines + [f"{failure.matcher} {failure.path or '(whole output)'}: {failure.message}",
                    f"expected: {one_line(failure.expected, limit)}",
                    f"actual:   {one_line(failure.actual, limit) if failure.found else '(missing)'}"]


def format_result(result: CaseResult, color: bool = False) -> str:
    """``  ✓ writer › case (0.03s)``; a failure adds indented step/assertion/expected/actual lines."""
    mark = paint(GREEN, "✓", color) if result.passed else paint(RED, "✗", color)
    head = f"  {mark} {result.assistant} › {result.case} {paint(DIM, f'({result.duration_s:.2f}s)', color)}"
    return "\n".join([head, *(f"      {line}" for line in _details(result, 200))])


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it (anything else by its repr), for the JSON reports."""
    return json.loads(json.dumps(value, default=repr))


def case_json(r: CaseResult) -> dict[str, Any]:
    """One case as JSON: ``{"assistant", "case", "passed", "duration_s", "failure"}``;
    ``failure.step`` is 1-based, and it carries the expected and actual values."""
    failure = None
    if (f := r.failure) is not None:
        failure = {"kind": f.kind, "message": f.message, "step": None if r.step is None else r.step + 1,
                   "matcher": f.matcher, "path": f.path, "expected": jsonable(f.expected),
                   "actual": jsonable(f.actual) if f.found else None, "found": f.found}
    return {"assistant": r.assistant, "case": r.case, "passed": r.passed,
            "duration_s": round(r.duration_s, 3), "failure": failure}


def to_json(suite: SuiteResult) -> dict[str, Any]:
    """Stable shape: ``{"passed", "failed", "cases": [...]}`` (cases as :func:`case_json`)."""
    return {"passed": len(suite.passed), "failed": len(suite.failed),
            "cases": [case_json(r) for r in suite.results]}


# XML 1.0 cannot hold control characters: one ANSI colour code in a traceback would
# make the whole report unreadable to CI, so they are replaced.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def write_junit(suite: SuiteResult, path: str) -> None:
    """JUnit XML: one <testsuite> per assistant, <testcase classname=assistant name=case>."""
    names = dict.fromkeys(r.assistant for r in suite.results)  # in order of first appearance
    groups = {name: [r for r in suite.results if r.assistant == name] for name in names}
    root = ET.Element("testsuites", name="smoke", tests=str(len(suite.results)), failures=str(len(suite.failed)),
                      errors="0", time=f"{sum(r.duration_s for r in suite.results):.3f}")
    for assistant, results in groups.items():
        element = ET.SubElement(root, "testsuite", name=xml_safe(assistant), tests=str(len(results)),
                                failures=str(sum(not r.passed for r in results)), errors="0", skipped="0",
                                time=f"{sum(r.duration_s for r in results):.3f}")
        for r in results:
            case = ET.SubElement(element, "testcase", classname=xml_safe(assistant), name=xml_safe(r.case),
                                 time=f"{r.duration_s:.3f}")
            if r.failure is not None:
                detail = ET.SubElement(case, "failure", message=xml_safe(r.failure.message),
                                       type=r.failure.matcher or r.failure.kind)
                detail.text = xml_safe("\n".join(_details(r, 4000)))
    ET.indent(root)
    with open(path, "wb") as file:
        ET.ElementTree(root).write(file, encoding="utf-8", xml_declaration=True)
        file.write(b"\n")
