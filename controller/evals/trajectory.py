"""Trajectory matching: the tool calls a run made against the ones a case expects.

The calls are read from the run's final ``messages`` as the targets return them (plain
JSON of LangChain messages, or OpenAI-style ones). The match modes are agentevals'
(LangChain's open-source agent evaluators), run with LangSmith tracing off; only the
reading of calls and references is ours. Each call becomes a one-call assistant message, so ``strict`` compares calls in
order and not how a model batched them into messages.

A reference call is a tool name, or ``{name, args}``; its args are compared (exactly)
only when given.
"""

from __future__ import annotations

import json
from typing import Any

#: Stands for "any arguments" where a reference gives a name only (agentevals compares
#: args with one matcher per tool name, so the marker travels in the args themselves).
_ANY_ARGS = {"controller/any-args": True}


class ReferenceError(ValueError):
    """``reference.trajectory`` is missing or not a list of tool names or {name, args}."""


def tool_calls(output: Any) -> list[dict[str, Any]]:
    """``[{name, args}]`` of every tool call in ``output["messages"]``, in order."""
    messages = output.get("messages") if isinstance(output, dict) else None
    calls: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or message.get("type", message.get("role")) not in ("ai", "assistant"):
            continue
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                calls.append(_call(call))
    return calls


def _call(call: dict[str, Any]) -> dict[str, Any]:
    if isinstance(call.get("function"), dict):  # OpenAI style: arguments as a JSON string
        function = call["function"]
        try:
            args = json.loads(function.get("arguments") or "{}")
        except ValueError:
            args = {"(unparsable arguments)": function.get("arguments")}
        return {"name": function.get("name"), "args": args}
    return {"name": call.get("name"), "args": call.get("args") or {}}


def reference_calls(reference: Any) -> list[dict[str, Any]]:
    """``reference.trajectory`` as ``[{name, args or None}]`` (raises ReferenceError)."""
    trajectory = reference.get("trajectory") if isinstance(reference, dict) else None
    if not isinstance(trajectory, list):
        raise ReferenceError("the case has no reference.trajectory (a list of tool names or {name, args})")
    calls = []
    for item in trajectory:
        if isinstance(item, str):
            calls.append({"name": item, "args": None})
        elif isinstance(item, dict) and isinstance(item.get("name"), str) and set(item) <= {"name", "args"} \
                and isinstance(item.get("args", {}), dict):
            calls.append({"name": item["name"], "args": item.get("args")})
        else:
            raise ReferenceError(f"reference.trajectory: expected a tool name or {{name, args}}, got {json.dumps(item)}")
    return calls


def _messages(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "", "type": "function", "function": {
            "name": c["name"], "arguments": json.dumps(_ANY_ARGS if c["args"] is None else c["args"], sort_keys=True)}}]}
        for c in calls]


def _args_match(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Symmetric: agentevals' unordered and subset modes also call it with the sides swapped."""
    return _ANY_ARGS in (one, other) or one == other


def matches(mode: str, calls: list[dict[str, Any]], reference: list[dict[str, Any]]) -> bool:
    """Whether ``calls`` match ``reference`` in agentevals' ``mode`` (strict, unordered, subset, superset)."""
    from agentevals.trajectory.match import create_trajectory_match_evaluator
    from langsmith import tracing_context

    names = {c["name"] for c in calls} | {c["name"] for c in reference}
    evaluator = create_trajectory_match_evaluator(
        trajectory_match_mode=mode,
        tool_args_match_mode="exact",
        tool_args_match_overrides=dict.fromkeys(names, _args_match),
    )
    with tracing_context(enabled=False):  # with LANGSMITH_TRACING set, agentevals would send the outputs there
        result = evaluator(outputs=_messages(calls), reference_outputs=_messages(reference))
    return bool(result["score"] if isinstance(result, dict) else result[0]["score"])


def describe(calls: list[dict[str, Any]]) -> str:
    """``search(q="x"), lookup`` for a failure message."""
    def one(c: dict[str, Any]) -> str:
        if c["args"] is None:
            return str(c["name"])
        return f"{c['name']}({', '.join(f'{k}={json.dumps(v)}' for k, v in c['args'].items())})"

    return ", ".join(one(c) for c in calls) or "(no tool calls)"
