"""Eval results for people and machines: a table per eval and the failing runs (text),
one ``eval`` event per eval (JSON), a pull-request table (Markdown), JUnit XML.

Everything shown here was redacted by the runner (values from the environment, and
what a target says its runs' outputs may hold), so nothing here masks again.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from controller.core.ansi import DIM, GREEN, RED, paint
from controller.evals.evaluate import EvalResult, SubjectResult
from controller.evals.runner import RunRecord
from controller.smoke.report import jsonable, one_line, xml_safe

#: Failing runs shown per eval in text (JSON lists them all).
SHOWN_FAILURES = 5


def _rate(value: float) -> str:
    return f"{value:.2f}"


def _interval(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]"


def _row_label(row: SubjectResult, result: EvalResult) -> str:
    """``candidate``, ``v3 (active)``; or, for a version evaluated after it was written
    (apply's ``smoke: after``), ``v4 (new)`` against ``v3 (before)``."""
    if row.subject.candidate:
        return "candidate"
    if result.baseline is not None and not result.candidate.subject.candidate:
        return f"{row.subject.label} ({'new' if row is result.candidate else 'before'})"
    return f"{row.subject.label} (active)"


def format_eval(result: EvalResult, color: bool = False) -> list[str]:
    """The eval's table, its gate and its failing runs, as lines."""
    labels = list(dict.fromkeys([*result.candidate.scores, *(result.baseline.scores if result.baseline else {})]))
    rows = [result.candidate] + ([result.baseline] if result.baseline is not None else [])
    head = ["", "runs", "passed", "errors", "pass rate", "95% interval", *labels, "p95 latency"]
    table = [head]
    for row in rows:
        sample, scores = row.sample, row.scores
        table.append([_row_label(row, result), str(sample.runs), str(sample.passed), str(row.errors),
                      _rate(sample.pass_rate), _interval(*sample.interval),
                      *(_rate(scores[label]) if label in scores else "-" for label in labels), f"{sample.p95:.2f}s"])
    if result.verdict.difference is not None:
        estimate, low, high = result.verdict.difference
        table.append(["difference", "", "", "", f"{estimate:+.2f}", f"[{low:+.2f}, {high:+.2f}]", *([""] * len(labels)), ""])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    cases = f"{len(result.cases)} case{'s' if len(result.cases) != 1 else ''} × {result.repeat} run{'s' if result.repeat != 1 else ''}"
    lines = [f"{result.assistant} › {result.name} ({cases})"]
    if result.note:
        lines.append(f"  {paint(DIM, result.note, color)}")
    for row_cells in table:
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row_cells, widths, strict=True))).rstrip())
    verdict = paint(GREEN, "passed", color) if result.ok else paint(RED, "FAILED", color)
    lines.append(f"  gate: {verdict}: {'; '.join(result.verdict.reasons)}")
    return lines + failing_runs(result, color)


def failing_runs(result: EvalResult, color: bool = False, limit: int = SHOWN_FAILURES) -> list[str]:
    """The candidate's failing runs: case, run, reasons, input and output."""
    failed = [r for r in result.candidate.records if not r.passed]
    if not failed:
        return []
    lines = [f"  failing runs ({result.candidate.subject.label}):"]
    for record in failed[:limit]:
        case = result.cases[record.case]
        lines.append(f"    {paint(RED, '✗', color)} {case.name} › run {record.repeat + 1} of {result.repeat} "
                     f"{paint(DIM, f'({record.duration_s:.2f}s)', color)}")
        lines += [f"        {reason}" for reason in record.reasons]
        lines.append(f"        input:  {one_line(case.case.input)}")
        if record.status == "success":
            lines.append(f"        output: {one_line(record.output)}")
    if len(failed) > limit:
        lines.append(f"    … and {len(failed) - limit} more failing run{'s' if len(failed) - limit != 1 else ''} (-o json lists them all)")
    return lines


def summary(results: Sequence[EvalResult]) -> str:
    failed = [r for r in results if not r.ok]
    return f"Evals: {len(results) - len(failed)} passed, {len(failed)} failed."


# -- JSON --------------------------------------------------------------------------------

def _subject_json(result: SubjectResult) -> dict[str, Any]:
    sample = result.sample
    return {"version": result.subject.version, "candidate": result.subject.candidate,
            "assistant_id": result.subject.assistant_id, "runs": sample.runs, "passed": sample.passed,
            "errors": result.errors, "pass_rate": round(sample.pass_rate, 4),
            "interval": [round(x, 4) for x in sample.interval],
            "scores": {k: round(v, 4) for k, v in result.scores.items()}, "p95_latency_s": round(sample.p95, 3)}


def _failure_json(result: EvalResult, record: RunRecord) -> dict[str, Any]:
    case = result.cases[record.case]
    return {"case": case.name, "run": record.repeat + 1, "status": record.status, "duration_s": round(record.duration_s, 3),
            "reasons": record.reasons, "input": jsonable(case.case.input),
            "output": jsonable(record.output) if record.status == "success" else None}


def eval_json(result: EvalResult) -> dict[str, Any]:
    """The ``eval`` event: the candidate's figures at the top level, the baseline's (or null),
    the difference, the gate (ok, reasons, each bar) and every failing run."""
    difference = None
    if result.verdict.difference is not None:
        estimate, low, high = result.verdict.difference
        difference = {"estimate": round(estimate, 4), "interval": [round(low, 4), round(high, 4)]}
    return {"event": "eval", "name": result.name, "assistant": result.assistant, **_subject_json(result.candidate),
            "cases": len(result.cases), "repeat": result.repeat,
            "baseline": _subject_json(result.baseline) if result.baseline is not None else None,
            "difference": difference,
            "gate": {"ok": result.ok, "reasons": result.verdict.reasons,
                     "checks": [{"bar": c.bar, "ok": c.ok, "message": c.message} for c in result.verdict.checks]},
            "note": result.note or None,
            "failures": [_failure_json(result, r) for r in result.candidate.records if not r.passed]}


# -- Markdown ----------------------------------------------------------------------------

def markdown(results: Sequence[EvalResult]) -> str:
    """One table for a pull-request comment, then why each failed gate failed."""
    lines = ["| | assistant | eval | runs | pass rate (95% interval) | baseline | difference | p95 latency |",
             "|---|---|---|---:|---|---|---|---:|"]
    for r in results:
        sample = r.candidate.sample
        base = f"{r.baseline.subject.label}: {_rate(r.baseline.sample.pass_rate)}" if r.baseline is not None else "–"
        diff = f"{r.verdict.difference[0]:+.2f}" if r.verdict.difference is not None else "–"
        lines.append(f"| {'✅' if r.ok else '❌'} | {r.assistant} | {_md(r.name)} ({r.candidate.subject.label}) | {sample.runs} | "
                     f"{_rate(sample.pass_rate)} {_interval(*sample.interval)} | {base} | {diff} | {sample.p95:.2f}s |")
    failed = [r for r in results if not r.ok]
    if failed:
        lines.append("")
        lines += [f"- **{r.assistant} › {_md(r.name)}**: {_md('; '.join(r.verdict.reasons))}" for r in failed]
    lines.append("")
    lines.append(summary(results))
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- JUnit -------------------------------------------------------------------------------

def write_junit(results: Sequence[EvalResult], path: str) -> None:
    """One <testsuite> per eval, one <testcase> per dataset case (its pass count in a
    property and in system-out), and a ``gate`` test case. A case is a failure only when
    the gate failed and it had failing runs, so the XML agrees with the exit code."""
    root = ET.Element("testsuites", name="evals")
    for result in results:
        suite = ET.SubElement(root, "testsuite", name=xml_safe(f"{result.assistant} › {result.name}"))
        failures = 0
        for index, case in enumerate(result.cases):
            records = [r for r in result.candidate.records if r.case == index]
            passed = sum(r.passed for r in records)
            element = ET.SubElement(suite, "testcase", classname=xml_safe(f"{result.assistant}.{result.name}"),
                                    name=xml_safe(case.name), time=f"{sum(r.duration_s for r in records):.3f}")
            properties = ET.SubElement(element, "properties")
            ET.SubElement(properties, "property", name="passed", value=str(passed))
            ET.SubElement(properties, "property", name="runs", value=str(len(records)))
            ET.SubElement(element, "system-out").text = f"{passed} of {len(records)} runs passed"
            if not result.ok and passed < len(records):
                failures += 1
                reasons = [f"run {r.repeat + 1}: {'; '.join(r.reasons)}" for r in records if not r.passed]
                detail = ET.SubElement(element, "failure", message=xml_safe(f"{passed} of {len(records)} runs passed"), type="eval")
                detail.text = xml_safe("\n".join(reasons))
        gate = ET.SubElement(suite, "testcase", classname=xml_safe(f"{result.assistant}.{result.name}"), name="gate")
        if not result.ok:
            failures += 1
            ET.SubElement(gate, "failure", message=xml_safe("; ".join(result.verdict.reasons)), type="gate")
        suite.set("tests", str(len(result.cases) + 1))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
    root.set("tests", str(sum(len(r.cases) + 1 for r in results)))
    root.set("failures", str(sum(int(s.get("failures", "0")) for s in root)))
    ET.indent(root)
    with open(path, "wb") as file:
        ET.ElementTree(root).write(file, encoding="utf-8", xml_declaration=True)
        file.write(b"\n")
