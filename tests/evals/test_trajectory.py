"""Tool calls read from a run's messages (as targets return them) and matched by agentevals' modes."""

from __future__ import annotations

import json

import pytest

from controller.evals.trajectory import ReferenceError, describe, matches, reference_calls, tool_calls


def ai(*calls: tuple[str, dict]) -> dict:
    """An AIMessage as the targets return it: LangChain's JSON."""
    return {"type": "ai", "content": "", "tool_calls": [{"name": n, "args": a, "id": f"call_{i}", "type": "tool_call"}
                                                        for i, (n, a) in enumerate(calls)]}


OUTPUT = {"messages": [
    {"type": "human", "content": "weather in Paris and Oslo, and 10 EUR to USD"},
    ai(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
    {"type": "tool", "content": "sunny", "tool_call_id": "call_0"},
    ai(("convert", {"amount": 10.0, "source": "EUR", "target": "USD"})),
    {"type": "ai", "content": "Sunny in Paris; 11.00 USD", "tool_calls": []},
]}


def test_calls_are_read_in_order_from_every_ai_message():
    assert [c["name"] for c in tool_calls(OUTPUT)] == ["get_weather", "get_weather", "convert"]
    assert tool_calls({"answer": "no messages"}) == [] and tool_calls(None) == []


def test_openai_style_messages_too():
    output = {"messages": [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "search", "arguments": json.dumps({"q": "x"})}}]}]}
    assert tool_calls(output) == [{"name": "search", "args": {"q": "x"}}]


CALLS = tool_calls(OUTPUT)


@pytest.mark.parametrize("mode, trajectory, expected", [
    ("strict", ["get_weather", "get_weather", "convert"], True),
    ("strict", ["convert", "get_weather", "get_weather"], False),  # order matters
    ("unordered", ["convert", "get_weather", "get_weather"], True),
    ("unordered", ["convert", "get_weather"], False),  # one weather call too many
    ("superset", ["convert"], True),  # the run made every call the reference lists (and more)
    ("superset", ["convert", "search"], False),
    ("subset", ["get_weather", "get_weather", "convert", "search"], True),  # no call beyond the reference
    ("subset", ["get_weather"], False),
    # args are compared when given, exactly
    ("unordered", [{"name": "get_weather", "args": {"city": "Oslo"}}, "get_weather", "convert"], True),
    ("unordered", [{"name": "get_weather", "args": {"city": "Lima"}}, "get_weather", "convert"], False),
    ("strict", [{"name": "get_weather", "args": {"city": "Paris"}}, {"name": "get_weather"},
                {"name": "convert", "args": {"amount": 10.0, "source": "EUR", "target": "USD"}}], True),
    ("superset", [{"name": "convert", "args": {"amount": 10.0}}], False),
])
def test_match_modes(mode: str, trajectory: list, expected: bool):
    assert matches(mode, CALLS, reference_calls({"trajectory": trajectory})) is expected


def test_no_calls_against_no_reference_calls_is_a_match():
    assert matches("strict", [], reference_calls({"trajectory": []}))


@pytest.mark.parametrize("reference", [None, {"answer": 1}, {"trajectory": "search"}, {"trajectory": [3]},
                                       {"trajectory": [{"name": "x", "arguments": {}}]}])
def test_a_reference_without_a_usable_trajectory(reference):
    with pytest.raises(ReferenceError):
        reference_calls(reference)


def test_describe_for_failure_messages():
    assert describe(reference_calls({"trajectory": ["a", {"name": "b", "args": {"q": "x"}}]})) == 'a, b(q="x")'
    assert describe([]) == "(no tool calls)"
