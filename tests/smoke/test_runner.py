"""Running smoke cases (smoke/runner.py): threads, steps, outcomes, concurrency.

A small in-memory target scripts each run's outcome, so the runner's behaviour is
pinned without a graph or a server; concurrency is proven with events, not timing.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from controller.config.manifest import SmokeCase
from controller.core.errors import TargetError
from controller.smoke.checks import Failure
from controller.smoke.report import to_json, write_junit
from controller.smoke.runner import (
    SuiteResult,
    run_case,
    run_suite,
)
from controller.targets.base import RunOutcome

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


def run(coro: Any) -> Any:
    return asyncio.run(coro)


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


def test_importing_smoke_does_not_import_the_manifest_models() -> None:
    """manifest.py validates expect paths with core/paths.py's parse_path: the import must not be circular."""
    import subprocess
    import sys

    code = "import sys, controller.smoke.runner; assert 'controller.config.manifest' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_timeout_message_uses_the_case_timeout() -> None:
    target = FakeTarget(lambda *_: RunOutcome("timeout"))
    result = run(run_case(target, "id", case(name="c", input={}, timeout="500ms")))
    assert result.failure is not None and result.failure.message == "timed out after 0.5s"
    assert target.runs[0][3] == 0.5
