"""A demo judge: grades another assistant's answer against a reference answer.

An eval's `judge:` runs it with input `{"input", "output", "reference"}` and reads
`score` (0-1) and `comment` from its output. A real judge would ask a model; this one
scores the share of the reference answer's words (numbers included) that the answer
contains, so the example works offline and its grades are easy to check by hand.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import NotRequired, TypedDict

#: Words too common to say anything about an answer.
COMMON = {"a", "an", "the", "to", "of", "in", "is", "are", "and", "or", "from", "with", "any", "you", "your", "can", "has",
          "every", "time", "within", "on"}


class State(TypedDict):
    input: Any
    output: Any
    reference: Any
    score: NotRequired[float]
    comment: NotRequired[str]


def _text(value: Any, key: str = "answer") -> str:
    """The answer in an output or a reference: its `answer` field, or the value itself."""
    if isinstance(value, dict):
        value = value.get(key, "")
    return value if isinstance(value, str) else str(value)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in COMMON}


def grade(state: State) -> dict:
    expected, given = _words(_text(state["reference"])), _words(_text(state["output"]))
    if not expected:
        return {"score": 0.0, "comment": "the reference has no answer to grade against"}
    missing = sorted(expected - given)
    score = round(1 - len(missing) / len(expected), 2)
    comment = "matches the reference" if not missing else f"missing from the answer: {', '.join(missing)}"
    return {"score": score, "comment": comment}


builder = StateGraph(State)
builder.add_node("grade", grade)
builder.add_edge(START, "grade")
builder.add_edge("grade", END)
graph = builder.compile(name="grader")
