"""What a watch pass does with each change: a table of (memory, change) → decision."""

from __future__ import annotations

import pytest

from controller.core.content import Content
from controller.engine.apply import ApplyResult, Outcome
from controller.engine.decide import Memory, decide, remember
from controller.engine.desired import Declaration
from controller.engine.plan import Change, Plan

A = "id-a"
FP, OLD = "fp-new", "fp-old"


def change(action: str) -> Change:
    return Change(action, Declaration("a", A), seen_version=1, content=Content("writer", "a"))  # type: ignore[arg-type]


def plan(*changes: Change) -> Plan:
    return Plan("o", "t", changes)


@pytest.mark.parametrize(("memory", "action", "self_heal", "expected"), [
    # the first pass applies everything the manifests ask for
    (Memory(first=True), "update", False, "apply"),
    (Memory(first=True), "delete", False, "apply"),
    # later, new intent (the fingerprint changed) is applied ...
    (Memory(first=False, known={A: OLD}), "update", False, "apply"),
    (Memory(first=False), "create", False, "apply"),
    # ... but a change to what watch already brought about is drift: reported, not repaired ...
    (Memory(first=False, known={A: FP}), "update", False, "drift"),
    (Memory(first=False, known={A: FP}), "repin", False, "drift"),
    # ... unless --self-heal
    (Memory(first=False, known={A: FP}), "update", True, "apply+drift"),
    # a prune of an assistant watch knew is applied; of one it never saw, drift
    (Memory(first=False, known={A: FP}), "delete", False, "apply"),
    (Memory(first=False), "delete", False, "drift"),
    # a change whose smoke tests failed waits for the next edit
    (Memory(first=False, known={A: OLD}, failed={A: FP}), "update", False, "held"),
    (Memory(first=True, failed={A: FP}), "update", True, "held"),
    (Memory(first=False, known={A: OLD}, failed={A: OLD}), "update", False, "apply"),
    # nothing to do
    (Memory(first=False), "noop", False, "none"),
])
def test_decide(memory: Memory, action: str, self_heal: bool, expected: str) -> None:
    d = decide(plan(change(action)), {A: FP}, memory, self_heal=self_heal)
    got = "+".join(k for k in ("apply", "drift", "held") if getattr(d, k)) or "none"
    assert got == expected


def test_a_noop_records_the_content_as_brought_about_and_clears_a_failure() -> None:
    d = decide(plan(change("noop")), {A: FP}, Memory(first=False, failed={A: OLD}), self_heal=False)
    assert d.memory.known == {A: FP} and d.memory.failed == {}


def test_first_ends_after_a_pass_with_nothing_to_apply() -> None:
    assert decide(plan(change("noop")), {A: FP}, Memory(first=True), self_heal=False).memory.first is False
    assert decide(plan(change("update")), {A: FP}, Memory(first=True), self_heal=False).memory.first is True


@pytest.mark.parametrize(("status", "known", "failed", "first"), [
    ("applied", {A: FP}, {}, False),
    ("rolled-back", {}, {A: FP}, False),
    ("not-promoted", {}, {A: FP}, False),
    ("error", {}, {}, True),  # the target failed: still the first pass's intent, retried as new
])
def test_remember(status: str, known: dict, failed: dict, first: bool) -> None:
    result = ApplyResult([Outcome(change("update"), status=status)])  # type: ignore[arg-type]
    memory = remember(Memory(first=True), {A: FP}, result)
    assert (dict(memory.known), dict(memory.failed), memory.first) == (known, failed, first)


def test_an_applied_delete_is_forgotten() -> None:
    result = ApplyResult([Outcome(change("delete"), status="applied")])
    assert remember(Memory(first=False, known={A: FP}), {}, result).known == {}


def test_a_failure_is_held_until_the_content_or_what_judges_it_changes() -> None:
    failed = ApplyResult([Outcome(change("update"), status="rolled-back")])  # type: ignore[arg-type]
    memory = remember(Memory(first=False), {A: FP}, failed, {A: "cases-1"})
    assert decide(plan(change("update")), {A: FP}, memory, self_heal=False, tested={A: "cases-1"}).held
    retried = decide(plan(change("update")), {A: FP}, memory, self_heal=False, tested={A: "cases-2"})  # a dataset edit
    assert retried.apply and not retried.held
