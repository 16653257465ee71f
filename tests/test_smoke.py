"""Smoke runner: paths, matchers, run semantics (threads, steps, outcomes), reports.

A small in-memory target scripts each run's outcome, so the runner's behaviour is
pinned without a graph or a server; concurrency is proven with events, not timing.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from controller.config.manifest import Expect, SmokeCase
from controller.core.errors import TargetError
from controller.core.paths import parse_path
from controller.smoke.checks import Failure, check, walk
from controller.smoke.report import format_result, to_json, write_junit
from controller.smoke.runner import (
    CaseResult,
    SuiteResult,
    run_case,
    run_suite,
)
from controller.targets.base import RunOutcome

# -- a scripted target -----------------------------------------------------------------

Script = Callable[[str, Any, str | None], Any]  # (assistant_id, input, thread_id) -> RunOutcome (maybe awaitable)


class FakeTarget:
    """Implements the part of Target the runner uses; records threads and runs."""

    description = "fake"

    def __init__(self, script: Script | None = None):
        self.script = script or (lambda aid, inp, tid: RunOutcome("success", output={"echo": inp}))
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.runs: list[tuple[str, Any, str | None, float]] = []
        self.fail_delete = False

    async def create_thread(self) -> str:
        thread_id = f"thread-{len(self.created) + 1}"
        self.created.append(thread_id)
        return thread_id

    async def delete_thread(self, thread_id: str) -> None:
        self.deleted.append(thread_id)
        if self.fail_delete:
            raise TargetError("delete failed")

    async def run(self, assistant_id: str, input: Any, *, thread_id: str | None = None, timeout: float = 60.0,
                  config: dict | None = None, context: dict | None = None) -> RunOutcome:
        self.runs.append((assistant_id, input, thread_id, timeout))
        result = self.script(assistant_id, input, thread_id)
        if asyncio.iscoroutine(result):
            result = await result
        return result


def ok(output: Any) -> RunOutcome:
    return RunOutcome("success", output=output)


def case(**kwargs: Any) -> SmokeCase:
    return SmokeCase.model_validate(kwargs)


def expect(**kwargs: Any) -> Expect:
    return Expect.model_validate(kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- paths -----------------------------------------------------------------------------

OUTPUT = {
    "messages": [{"type": "human", "content": "hi"}, {"type": "ai", "content": "hello there"}],
    "grid": [[1, 2], [3, 4]],
    "a": {"b": [{"c": 7}]},
    "my-key": {"with-dash": True},
    "dotted.key": 1,
    "nothing": None,
}


@pytest.mark.parametrize("path, value", [
    ("", OUTPUT),
    ("messages[-1].content", "hello there"),
    ("messages[0].type", "human"),
    ("messages[-2].content", "hi"),
    ("grid[1][0]", 3),
    ("grid[-1][-1]", 4),
    ("a.b[0].c", 7),
    ("my-key.with-dash", True),
    ('["dotted.key"]', 1),
    ("['my-key']['with-dash']", True),
    ("nothing", None),
])
def test_resolve_finds(path: str, value: Any) -> None:
    assert walk(OUTPUT, path)[:2] == (True, value)


@pytest.mark.parametrize("path", [
    "missing", "a.missing", "messages[2]", "messages[-3]", "grid[0][5]",
    "a.b.c",            # key on a list
    "messages[0][0]",   # index on a mapping
    "messages[0].content.length",  # key on a string
    "nothing.x",        # key on null
])
def test_resolve_misses(path: str) -> None:
    assert walk(OUTPUT, path)[:2] == (False, None)


def test_resolve_on_a_scalar_output() -> None:
    assert walk("just text", "")[:2] == (True, "just text")
    assert walk("just text", "[0]")[:2] == (False, None)  # strings are not indexable lists


def test_parse_path_tokens() -> None:
    assert parse_path("") == ()
    assert parse_path("messages[-1].content") == ("messages", -1, "content")
    assert parse_path("a.b[0][1]") == ("a", "b", 0, 1)
    assert parse_path("[0].x") == (0, "x")
    assert parse_path('a["x.y"].z') == ("a", "x.y", "z")


@pytest.mark.parametrize("path, fragment", [
    ("a..b", "expected a key after '.'"),
    ("a.", "expected a key after '.'"),
    (".a", "expected a key or [index] to start"),
    ("a[", "expected [integer]"),
    ("a[1", "expected [integer]"),
    ("a[x]", "expected [integer]"),
    ("a[]", "expected [integer]"),
    ("a[1.5]", "expected [integer]"),
    ("a]", "unexpected ']'"),
    ("a[0]b", "unexpected 'b'"),
    ("a b", "unexpected ' '"),
    (" a", "expected a key"),
])
def test_malformed_paths_raise(path: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid path") as info:
        parse_path(path)
    assert fragment in str(info.value)
    assert repr(path) in str(info.value)
    with pytest.raises(ValueError):
        walk(OUTPUT, path)[:2]


def test_validate_path_accepts_good_paths() -> None:
    for path in ("", "messages[-1].content", "a.b[0][1]", "my-key", "x_y.z9"):
        parse_path(path)


# -- matchers --------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    {"path": "a", "equals": {"b": [{"c": 7}]}},
    {"path": "grid[0]", "equals": [1, 2]},
    {"path": "grid[0][0]", "equals": 1.0},          # JSON numbers: 1 == 1.0
    {"path": "nothing", "equals": None},
    {"path": "messages[-1].content", "contains": "there"},
    {"path": "grid[0]", "contains": 2},
    {"path": "messages", "contains": {"type": "human", "content": "hi"}},
    {"path": "a", "contains": "b"},                  # key of a mapping
    {"path": "", "contains": "my-key"},
    {"path": "messages[-1].content", "matches": r"^hello\s+\w+$"},
    {"path": "messages[-1].content", "matches": "ell"},  # search, not fullmatch
    {"path": "messages[-1]", "exists": True},
    {"path": "messages[9]", "exists": False},
    {"path": "nothing", "exists": True},              # null is a value
    {"path": "messages", "schema": {"type": "array", "items": {"required": ["type", "content"]}}},
    {"path": "", "schema": {"type": "object", "required": ["messages"]}},
])
def test_matchers_pass(spec: dict[str, Any]) -> None:
    assert check(expect(**spec), OUTPUT) is None


def test_contains_number_in_string() -> None:
    assert check(expect(path="", contains=42), "the answer is 42") is None
    failure = check(expect(path="", contains=43), "the answer is 42")
    assert failure is not None and failure.expected == 43  # the raw value, not the text searched for


@pytest.mark.parametrize("spec, message", [
    ({"path": "grid[0][0]", "equals": 2}, "values differ"),
    ({"path": "my-key.with-dash", "equals": 1}, "expected a number, got a boolean"),  # True is not 1
    ({"path": "grid[0][0]", "equals": "1"}, "expected a string, got a number"),
    ({"path": "a", "equals": {"b": []}}, "values differ"),
    ({"path": "missing", "equals": 1}, "path not found: the output has no key 'missing'"),
    ({"path": "messages[5].content", "equals": "x"}, "index [5] out of range: messages has 2 item(s)"),
    ({"path": "messages[-1].content", "contains": "goodbye"}, "does not contain"),
    ({"path": "grid[0]", "contains": 9}, "no item of the list"),
    ({"path": "grid[0]", "contains": "1"}, "no item of the list"),  # no coercion inside lists
    ({"path": "a", "contains": "z"}, "the mapping has no such key"),
    ({"path": "grid[0][0]", "contains": 1}, "contains needs a string, list or mapping, got a number"),
    ({"path": "nothing", "contains": "x"}, "got null"),
    ({"path": "messages[-1].content", "contains": ["x"]}, "contains on a string needs a string"),
    ({"path": "messages[-1].content", "matches": "^there"}, "does not match the regular expression"),
    ({"path": "grid", "matches": "1"}, "matches needs a string, got a list"),
    ({"path": "nope", "matches": "x"}, "path not found"),
    ({"path": "messages[9]", "exists": True}, "path not found: index [9] out of range"),
    ({"path": "messages", "exists": False}, "path exists but should not"),
    ({"path": "nope", "schema": {"type": "string"}}, "path not found"),
])
def test_matchers_fail(spec: dict[str, Any], message: str) -> None:
    failure = check(expect(**spec), OUTPUT)
    assert isinstance(failure, Failure)
    assert failure.kind == "assertion"
    assert message in failure.message
    assert failure.path == spec["path"]
    assert failure.matcher == next(k for k in spec if k != "path")


def test_failure_keeps_raw_expected_and_actual() -> None:
    failure = check(expect(path="messages[-1]", equals={"type": "ai"}), OUTPUT)
    assert failure is not None and failure.found
    assert failure.expected == {"type": "ai"}
    assert failure.actual == {"type": "ai", "content": "hello there"}
    missing = check(expect(path="nope", equals=1), OUTPUT)
    assert missing is not None and not missing.found


def test_schema_failure_reports_first_error_with_path() -> None:
    schema = {"type": "array", "items": {"properties": {"content": {"type": "integer"}}}}
    failure = check(expect(path="messages", schema=schema), OUTPUT)
    assert failure is not None and failure.matcher == "schema"
    assert "at messages[0].content" in failure.message
    assert "'hi' is not of type 'integer'" in failure.message
    whole = check(expect(path="", schema={"required": ["absent"]}), OUTPUT)
    assert whole is not None and "at (whole output): 'absent' is a required property" in whole.message


# -- running ---------------------------------------------------------------------------

def test_passing_case_uses_a_fresh_thread_and_deletes_it() -> None:
    target = FakeTarget(lambda aid, inp, tid: ok({"out": f"a blog about {inp['text']}"}))
    c = case(name="writes", input={"text": "cats"}, expect=[{"path": "out", "contains": "blog"}], timeout="30s")
    result = run(run_case(target, "id-1", c, assistant="writer"))
    assert result.passed and result.failure is None and result.step is None
    assert (result.assistant, result.case, result.steps) == ("writer", "writes", 1)
    assert result.duration_s >= 0
    assert target.runs == [("id-1", {"text": "cats"}, "thread-1", 30.0)]
    assert target.created == target.deleted == ["thread-1"]


def test_each_case_gets_its_own_thread() -> None:
    target = FakeTarget()
    suite = run(run_suite(target, [("a", "id-a", [case(name="one", input=1), case(name="two", input=2)])]))
    assert suite.ok
    assert [r[2] for r in target.runs] == ["thread-1", "thread-2"]
    assert target.deleted == ["thread-1", "thread-2"]


def test_assistant_name_defaults_to_id() -> None:
    result = run(run_case(FakeTarget(), "id-1", case(name="c", input=None)))
    assert result.assistant == "id-1"


def test_error_outcome_fails_with_the_error_text() -> None:
    target = FakeTarget(lambda *_: RunOutcome("error", error="ValueError: boom"))
    result = run(run_case(target, "id", case(name="c", input={}, expect=[{"path": "", "exists": True}])))
    assert not result.passed and result.step == 0
    assert result.failure == Failure("error", "run failed: ValueError: boom")
    assert target.deleted == ["thread-1"]


def test_timeout_outcome() -> None:
    target = FakeTarget(lambda *_: RunOutcome("timeout", error="run did not finish within 30s"))
    result = run(run_case(target, "id", case(name="c", input={}, timeout="30s")))
    assert result.failure is not None and result.failure.kind == "timeout"
    assert result.failure.message == "timed out after 30s"


def test_interrupted_outcome_fails() -> None:
    result = run(run_case(FakeTarget(lambda *_: RunOutcome("interrupted")), "id", case(name="c", input={})))
    assert result.failure is not None and result.failure.kind == "interrupted"


def test_success_status_is_what_counts_not_the_output() -> None:
    # A graph may legitimately return something that looks like an error; status decides.
    target = FakeTarget(lambda *_: ok({"__error__": {"error": "looks bad"}}))
    assert run(run_case(target, "id", case(name="c", input={}))).passed


def test_multi_step_keeps_the_thread_and_stops_at_first_failure() -> None:
    replies = iter([ok({"out": "first"}), ok({"out": "second"}), ok({"out": "third"})])
    target = FakeTarget(lambda *_: next(replies))
    c = case(name="chat", steps=[
        {"input": "1", "expect": [{"path": "out", "equals": "first"}]},
        {"input": "2", "expect": [{"path": "out", "exists": True}, {"path": "out", "equals": "nope"}]},
        {"input": "3", "expect": []},
    ])
    result = run(run_case(target, "id", c))
    assert not result.passed
    assert (result.step, result.steps) == (1, 3)
    assert result.failure is not None and result.failure.matcher == "equals"
    assert result.failure.actual == "second"
    assert [(r[1], r[2]) for r in target.runs] == [("1", "thread-1"), ("2", "thread-1")]  # step 3 never ran
    assert target.created == target.deleted == ["thread-1"]


def test_multi_step_all_pass() -> None:
    target = FakeTarget(lambda aid, inp, tid: ok({"n": inp}))
    c = case(name="chat", steps=[{"input": i, "expect": [{"path": "n", "equals": i}]} for i in range(3)])
    assert run(run_case(target, "id", c)).passed
    assert len(target.runs) == 3


def test_target_error_during_a_run_fails_the_case_and_deletes_the_thread() -> None:
    def script(*_: Any) -> RunOutcome:
        raise TargetError("server unreachable")

    target = FakeTarget(script)
    result = run(run_case(target, "id", case(name="c", input={})))
    assert result.failure == Failure("error", "run failed: server unreachable")
    assert target.deleted == ["thread-1"]


def test_unexpected_exception_propagates_but_the_thread_is_deleted() -> None:
    def script(*_: Any) -> RunOutcome:
        raise RuntimeError("bug")

    target = FakeTarget(script)
    with pytest.raises(RuntimeError, match="bug"):
        run(run_case(target, "id", case(name="c", input={})))
    assert target.created == target.deleted == ["thread-1"]


def test_thread_deleted_on_cancellation() -> None:
    async def scenario() -> FakeTarget:
        started = asyncio.Event()

        async def hang(*_: Any) -> RunOutcome:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        target = FakeTarget(hang)
        task = asyncio.create_task(run_case(target, "id", case(name="c", input={})))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return target

    target = run(scenario())
    assert target.created == target.deleted == ["thread-1"]


def test_failed_thread_delete_does_not_hide_the_verdict() -> None:
    target = FakeTarget()
    target.fail_delete = True
    assert run(run_case(target, "id", case(name="c", input={}))).passed
    assert target.deleted == ["thread-1"]


def test_thread_creation_failure_is_a_case_failure() -> None:
    class NoThreads(FakeTarget):
        async def create_thread(self) -> str:
            raise TargetError("HTTP 503")

    target = NoThreads()
    result = run(run_case(target, "id", case(name="c", input={})))
    assert result.failure is not None and "could not create a thread: HTTP 503" in result.failure.message
    assert target.runs == [] and target.deleted == []


def test_suite_runs_assistants_concurrently() -> None:
    """Each assistant's first run waits until the other's has started: only overlap passes."""
    async def scenario() -> SuiteResult:
        started = {"id-a": asyncio.Event(), "id-b": asyncio.Event()}
        other = {"id-a": "id-b", "id-b": "id-a"}

        async def script(aid: str, inp: Any, tid: str | None) -> RunOutcome:
            started[aid].set()
            await asyncio.wait_for(started[other[aid]].wait(), 5)  # a deadlock guard, not a timing check
            return ok({"who": aid})

        target = FakeTarget(script)
        return await run_suite(target, [("a", "id-a", [case(name="x", input={})]),
                                        ("b", "id-b", [case(name="y", input={})])], concurrency=2)

    suite = run(scenario())
    assert suite.ok and len(suite.passed) == 2


def test_cases_of_one_assistant_run_sequentially() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        active = 0

        async def script(aid: str, inp: Any, tid: str | None) -> RunOutcome:
            nonlocal active
            active += 1
            assert active == 1, "two cases of one assistant overlapped"
            log.append(f"start {inp}")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            log.append(f"end {inp}")
            active -= 1
            return ok({})

        await run_suite(FakeTarget(script), [("a", "id-a", [case(name=str(i), input=i) for i in range(3)])])
        return log

    assert run(scenario()) == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]


def test_concurrency_one_serialises_assistants() -> None:
    async def scenario() -> None:
        active = 0

        async def script(*_: Any) -> RunOutcome:
            nonlocal active
            active += 1
            assert active == 1
            await asyncio.sleep(0)
            active -= 1
            return ok({})

        items = [(n, f"id-{n}", [case(name="c", input={})]) for n in "abc"]
        assert (await run_suite(FakeTarget(script), items, concurrency=1)).ok

    run(scenario())


def test_suite_results_follow_input_order_not_completion_order() -> None:
    async def scenario() -> SuiteResult:
        b_done = asyncio.Event()

        async def script(aid: str, inp: Any, tid: str | None) -> RunOutcome:
            if aid == "id-a":
                await b_done.wait()  # a finishes last
            else:
                b_done.set()
            return ok({"v": inp})

        items = [("a", "id-a", [case(name="a1", input=1, expect=[{"path": "v", "equals": 0}]),
                                case(name="a2", input=2)]),
                 ("b", "id-b", [case(name="b1", input=3)])]
        return await run_suite(FakeTarget(script), items)

    suite = run(scenario())
    assert [(r.assistant, r.case) for r in suite.results] == [("a", "a1"), ("a", "a2"), ("b", "b1")]
    assert [r.case for r in suite.passed] == ["a2", "b1"]
    assert [r.case for r in suite.failed] == ["a1"]
    assert not suite.ok


def test_empty_suite_is_ok() -> None:
    suite = run(run_suite(FakeTarget(), []))
    assert suite.ok and suite.results == [] and to_json(suite) == {"passed": 0, "failed": 0, "cases": []}


def test_suite_bug_cancels_the_rest_and_still_deletes_threads() -> None:
    async def scenario() -> FakeTarget:
        b_running = asyncio.Event()

        async def script(aid: str, inp: Any, tid: str | None) -> RunOutcome:
            if aid == "id-b":
                b_running.set()
                await asyncio.Event().wait()
            await b_running.wait()
            raise RuntimeError("bug")

        target = FakeTarget(script)
        with pytest.raises(RuntimeError, match="bug"):  # the error itself, not an ExceptionGroup
            await run_suite(target, [("a", "id-a", [case(name="c", input={})]),
                                     ("b", "id-b", [case(name="c", input={})])])
        return target

    target = run(scenario())
    assert sorted(target.created) == sorted(target.deleted) == ["thread-1", "thread-2"]


# -- reporting -------------------------------------------------------------------------

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


def test_junit_from_a_real_run(tmp_path: Any) -> None:
    target = FakeTarget(lambda aid, inp, tid: ok({"out": "hello"}))
    items = [("writer", "id-w", [case(name="ok", input={}, expect=[{"path": "out", "equals": "hello"}]),
                                 case(name="bad", input={}, expect=[{"path": "out", "matches": "^bye"}])])]
    suite = run(run_suite(target, items))
    write_junit(suite, str(tmp_path / "r.xml"))
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("failures") == "1"
    (bad,) = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert bad.get("name") == "bad" and bad.find("failure").get("type") == "matches"  # type: ignore[union-attr]


def test_schema_failure_descends_into_any_of() -> None:
    schema = {"type": "object", "properties": {"n": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "null"}]}}}
    failure = check(expect(path="", schema=schema), {"n": 3})
    assert failure is not None and "at n: 3 is less than the minimum of 10" in failure.message


def test_importing_smoke_does_not_import_the_manifest_models() -> None:
    """manifest.py validates expect paths with validate_path: the import must not be circular."""
    import subprocess
    import sys

    code = "import sys, controller.smoke.runner; assert 'controller.config.manifest' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_timeout_message_uses_the_case_timeout() -> None:
    target = FakeTarget(lambda *_: RunOutcome("timeout"))
    result = run(run_case(target, "id", case(name="c", input={}, timeout="500ms")))
    assert result.failure is not None and result.failure.message == "timed out after 0.5s"
    assert target.runs[0][3] == 0.5
