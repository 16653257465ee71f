"""Smoke tests: run an assistant's cases on a target and judge the outputs.

A case gates a change, so its verdict must be trustworthy: a run is judged by its status
(the server answers 200 when a graph raises), each case gets a fresh thread that is deleted
whatever happens, and a failure names the step, the assertion, the expected and the actual
value. Results keep the input order, so reports and JUnit files are stable across CI runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from controller.core.errors import ControllerError

if TYPE_CHECKING:  # not at runtime: manifest.py may import validate_path from here
    from controller.config.manifest import Expect, SmokeCase
    from controller.targets.base import Target

# -- paths -----------------------------------------------------------------------------

_KEY = re.compile(r"[^.\[\]\s'\"]+")
_BRACKET = re.compile(r"\[(?:(-?\d+)|'([^']*)'|\"([^\"]*)\")\]")


def parse_path(path: str) -> tuple[str | int, ...]:
    """``messages[-1].content`` → ``("messages", -1, "content")``; ``''`` → ``()``.

    ``.key`` reads a mapping, ``[n]`` indexes a list (negative counts from the end),
    ``["a.b"]`` reads a key that has dots or spaces. Anything else is a ValueError, so
    a typo in a manifest fails at load time instead of as a puzzling "not found".
    """
    tokens: list[str | int] = []
    i = 0
    while i < len(path):
        if path[i] == "[":
            m = _BRACKET.match(path, i)
            if not m:
                raise ValueError(f"invalid path {path!r}: at position {i}, expected [integer] or [\"key\"]")
            index, single, double = m.groups()
            tokens.append(int(index) if index is not None else single if single is not None else double)
        elif not tokens or path[i] == ".":
            m = _KEY.match(path, i + 1 if tokens else i)
            if not m:
                what = "a key after '.'" if tokens else "a key or [index] to start"
                raise ValueError(f"invalid path {path!r}: at position {i}, expected {what}")
            tokens.append(m.group())
        else:
            raise ValueError(f"invalid path {path!r}: unexpected {path[i]!r} at position {i}, expected '.' or '['")
        i = m.end()
    return tuple(tokens)


def validate_path(path: str) -> None:
    """Raise ValueError when ``path`` is malformed (for the manifest loader)."""
    parse_path(path)


def _walk(value: Any, path: str) -> tuple[bool, Any, str]:
    """Resolve ``path``; on a miss, the third item says where and why."""
    seen = ""
    for token in parse_path(path):
        here = seen or "the output"
        if isinstance(token, int):
            if not isinstance(value, list | tuple):
                return False, None, f"{here} is {_kind(value)}, not a list, so [{token}] does not apply"
            if not -len(value) <= token < len(value):
                return False, None, f"index [{token}] out of range: {here} has {len(value)} item(s)"
            value, seen = value[token], f"{seen}[{token}]"
        else:
            if not isinstance(value, dict):
                return False, None, f"{here} is {_kind(value)}, not a mapping, so key {token!r} does not apply"
            if token not in value:
                keys = ", ".join(map(str, list(value)[:10])) + (", …" if len(value) > 10 else "")
                return False, None, f"{here} has no key {token!r} (keys: {keys or 'none'})"
            value, seen = value[token], f"{seen}.{token}" if seen else token
    return True, value, ""


def resolve(value: Any, path: str) -> tuple[bool, Any]:
    """``(True, value at path)``, or ``(False, None)`` when the path does not exist."""
    return _walk(value, path)[:2]


def _kind(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", tuple: "a list", dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")


# -- matchers --------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """Why a case failed: ``actual`` raw (rendering truncates it); ``found`` False = path missing."""
    kind: Literal["assertion", "error", "timeout", "interrupted"]
    message: str
    matcher: str | None = None
    path: str | None = None
    expected: Any = None
    actual: Any = None
    found: bool = True


def _same(a: Any, b: Any) -> bool:
    """Structural equality as JSON sees it: 1 equals 1.0, but True is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def check(expect: Expect, output: Any) -> Failure | None:
    """Judge one assertion against a run's output; None when it holds."""
    matcher, expected, path = expect.matcher, expect.expected, expect.path
    found, actual, why = _walk(output, path)

    def fail(message: str) -> Failure:
        return Failure("assertion", message, matcher, path, expected, actual, found)

    if matcher == "exists":
        return None if found == bool(expected) else fail(f"path not found: {why}" if expected else "path exists but should not")
    if not found:
        return fail(f"path not found: {why}")
    if matcher == "equals":
        return None if _same(actual, expected) else fail(
            "values differ" if _kind(actual) == _kind(expected) else f"values differ: expected {_kind(expected)}, got {_kind(actual)}")
    if matcher == "contains":
        if isinstance(actual, str):
            number = isinstance(expected, int | float) and not isinstance(expected, bool)
            needle = str(expected) if number else expected  # `contains: 42` in YAML means the text "42"
            if not isinstance(needle, str):
                return fail(f"contains on a string needs a string, got {_kind(expected)}")
            return None if needle in actual else fail("the string does not contain the expected text")
        if isinstance(actual, list | tuple):
            return None if any(_same(item, expected) for item in actual) else fail("no item of the list equals the expected value")
        if isinstance(actual, dict):
            return None if isinstance(expected, str) and expected in actual else fail("the mapping has no such key")
        return fail(f"contains needs a string, list or mapping, got {_kind(actual)}")
    if matcher == "matches":
        if not isinstance(actual, str):
            return fail(f"matches needs a string, got {_kind(actual)}")
        return None if re.search(expected, actual) else fail("the string does not match the regular expression")
    from jsonschema.exceptions import best_match  # matcher == "schema": Expect allows only these five
    from jsonschema.validators import validator_for

    cls = validator_for(expected)
    first = next(iter(cls(expected, format_checker=cls.FORMAT_CHECKER).iter_errors(actual)), None)
    if first is None:
        return None
    error = best_match([first])  # the first error, descended into anyOf/oneOf for the real cause
    where = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return fail(f"does not match the schema at {where.lstrip('.') or '(whole output)'}: {error.message}")


# -- running ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseResult:
    """One case's verdict. ``step`` is the 0-based index of the failing step; ``steps`` the total."""
    assistant: str
    case: str
    passed: bool
    duration_s: float
    failure: Failure | None = None
    step: int | None = None
    steps: int = 1


@dataclass
class SuiteResult:
    """A run's case results, in input order."""
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> list[CaseResult]:
        return [r for r in self.results if r.passed]

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failed


def _plain(value: Any) -> Any:
    """The output as JSON sees it, as the Agent Server sends it: the embedded target hands
    back Python objects (LangChain messages), and ``messages[-1].content`` must work on both."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return _plain(value.model_dump())
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    return value


REDACTED = "(sensitive)"


def redact(value: Any, secrets: Collection[str]) -> Any:
    """``value`` with every occurrence of a secret replaced, in strings at any depth."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value


async def run_case(target: Target, assistant_id: str, case: SmokeCase, *, assistant: str = "",
                   secrets: Collection[str] = ()) -> CaseResult:
    """Run ``case`` on a fresh thread, step by step, stopping at the first failure.

    A target error (unreachable server) fails the case rather than aborting the suite,
    so an apply still rolls the change back. The thread is deleted in ``finally``, also
    on cancellation; a failed delete is ignored (it must not hide the verdict). Values in
    ``secrets`` (from the environment) are redacted from the failure before anyone sees it.
    """
    steps, started = case.runs(), time.perf_counter()

    def result(failure: Failure | None = None, step: int | None = None) -> CaseResult:
        if failure is not None and secrets:
            failure = replace(failure, message=redact(failure.message, secrets),
                              expected=redact(failure.expected, secrets), actual=redact(failure.actual, secrets))
        return CaseResult(assistant or assistant_id, case.name, failure is None, time.perf_counter() - started,
                          failure, step, len(steps))

    try:
        thread_id = await target.create_thread()
    except ControllerError as exc:
        return result(Failure("error", f"could not create a thread: {exc}"), 0)
    try:
        for index, step in enumerate(steps):
            try:
                outcome = await target.run(assistant_id, step.input, thread_id=thread_id, timeout=case.timeout)
            except ControllerError as exc:
                return result(Failure("error", f"run failed: {exc}"), index)
            if outcome.status == "timeout":
                return result(Failure("timeout", f"timed out after {case.timeout:g}s"), index)
            if outcome.status == "interrupted":
                return result(Failure("interrupted", "the run stopped at an interrupt (waiting for input)"), index)
            if outcome.status != "success":
                return result(Failure("error", f"run failed: {outcome.error or outcome.status}"), index)
            output = _plain(outcome.output)
            for expect in step.expect:
                if (failure := check(expect, output)) is not None:
                    return result(failure, index)
        return result()
    finally:
        with contextlib.suppress(ControllerError):
            await target.delete_thread(thread_id)


async def run_suite(target: Target, items: Sequence[tuple[str, str, Sequence[SmokeCase]]],
                    concurrency: int = 4, secrets: Mapping[str, Collection[str]] | None = None) -> SuiteResult:
    """Run each ``(name, assistant_id, cases)``: assistants concurrently (``concurrency`` at
    most), one assistant's cases in order; results in input order, whatever finished first.
    A bug in one cancels the rest (their threads are still deleted) and propagates.
    ``secrets`` maps an assistant's name to the values its failures must not show."""
    limit = asyncio.Semaphore(max(1, concurrency))
    per_item: list[list[CaseResult]] = [[] for _ in items]

    async def run_item(index: int, name: str, assistant_id: str, cases: Sequence[SmokeCase]) -> None:
        async with limit:
            for case in cases:
                per_item[index].append(await run_case(target, assistant_id, case, assistant=name,
                                                      secrets=(secrets or {}).get(name, ())))

    try:
        async with asyncio.TaskGroup() as group:
            for index, (name, assistant_id, cases) in enumerate(items):
                group.create_task(run_item(index, name, assistant_id, cases))
    except BaseExceptionGroup as group_error:  # callers (and the CLI's one-line errors) want the error itself
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
    return SuiteResult([r for results in per_item for r in results])


# -- reporting -------------------------------------------------------------------------
def _show(value: Any, limit: int = 200) -> str:
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
                    f"expected: {_show(failure.expected, limit)}",
                    f"actual:   {_show(failure.actual, limit) if failure.found else '(missing)'}"]


def format_result(result: CaseResult, color: bool = False) -> str:
    """``  ✓ writer › case (0.03s)``; a failure adds indented step/assertion/expected/actual lines."""
    def paint(code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    mark = paint("32", "✓") if result.passed else paint("31", "✗")
    head = f"  {mark} {result.assistant} › {result.case} {paint('2', f'({result.duration_s:.2f}s)')}"
    return "\n".join([head, *(f"      {line}" for line in _details(result, 200))])


def to_json(suite: SuiteResult) -> dict[str, Any]:
    """Stable shape: ``{"passed", "failed", "cases": [...]}``; ``failure.step`` is 1-based."""
    def jsonable(value: Any) -> Any:
        return json.loads(json.dumps(value, default=repr))

    def failure(r: CaseResult) -> dict[str, Any] | None:
        if (f := r.failure) is None:
            return None
        return {"kind": f.kind, "message": f.message, "step": None if r.step is None else r.step + 1,
                "matcher": f.matcher, "path": f.path, "expected": jsonable(f.expected),
                "actual": jsonable(f.actual) if f.found else None, "found": f.found}

    return {"passed": len(suite.passed), "failed": len(suite.failed),
            "cases": [{"assistant": r.assistant, "case": r.case, "passed": r.passed,
                       "duration_s": round(r.duration_s, 3), "failure": failure(r)} for r in suite.results]}


# XML 1.0 cannot hold control characters: one ANSI colour code in a traceback would
# make the whole report unreadable to CI, so they are replaced.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def write_junit(suite: SuiteResult, path: str) -> None:
    """JUnit XML: one <testsuite> per assistant, <testcase classname=assistant name=case>."""
    names = dict.fromkeys(r.assistant for r in suite.results)  # in order of first appearance
    groups = {name: [r for r in suite.results if r.assistant == name] for name in names}
    root = ET.Element("testsuites", name="smoke", tests=str(len(suite.results)), failures=str(len(suite.failed)),
                      errors="0", time=f"{sum(r.duration_s for r in suite.results):.3f}")
    for assistant, results in groups.items():
        element = ET.SubElement(root, "testsuite", name=_xml(assistant), tests=str(len(results)),
                                failures=str(sum(not r.passed for r in results)), errors="0", skipped="0",
                                time=f"{sum(r.duration_s for r in results):.3f}")
        for r in results:
            case = ET.SubElement(element, "testcase", classname=_xml(assistant), name=_xml(r.case),
                                 time=f"{r.duration_s:.3f}")
            if r.failure is not None:
                detail = ET.SubElement(case, "failure", message=_xml(r.failure.message),
                                       type=r.failure.matcher or r.failure.kind)
                detail.text = _xml("\n".join(_details(r, 4000)))
    ET.indent(root)
    with open(path, "wb") as file:
        ET.ElementTree(root).write(file, encoding="utf-8", xml_declaration=True)
        file.write(b"\n")
