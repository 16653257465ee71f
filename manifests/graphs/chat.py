"""A deterministic demo "chat" graph that reads a runtime *context* and keeps turns.

It shows the two other things assistants configure: a `context` (instead of
`config.configurable`) and multi-turn state on a thread, which the smoke tests in
`support-bot.yaml` exercise step by step.
"""

from __future__ import annotations

import operator
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import NotRequired, TypedDict


class Context(TypedDict, total=False):
    persona: str
    greeting: str
    max_turns: int


class State(TypedDict):
    message: str
    turns: NotRequired[Annotated[list[str], operator.add]]
    reply: NotRequired[str]


def respond(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context or {}
    persona = ctx.get("persona", "assistant")
    turn = len(state.get("turns", [])) + 1
    limit = ctx.get("max_turns", 10)
    if turn > limit:
        reply = f"[{persona}] Sorry, this conversation has reached {limit} turns."
    elif turn == 1:
        reply = f"[{persona}] {ctx.get('greeting', 'Hello!')} You said: {state['message']}"
    else:
        reply = f"[{persona}] Turn {turn}. You said: {state['message']}"
    return {"reply": reply, "turns": [state["message"]]}


builder = StateGraph(State, context_schema=Context)
builder.add_node("respond", respond)
builder.add_edge(START, "respond")
builder.add_edge("respond", END)
graph = builder.compile(name="chat")
