"""A deterministic demo "writer": formats its input text in the configured style.

It calls no model, so the example repository works offline and its smoke tests are
stable; the `model` and `system_prompt` values are carried through to the output so
a smoke test can see which configuration actually ran.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import NotRequired, TypedDict


class State(TypedDict):
    text: str
    out: NotRequired[str]


class Configurable(TypedDict, total=False):
    style: str
    model: str
    system_prompt: str
    signature: str


STYLES = {
    "blog": lambda text: f"# Blog post\n\n{text.strip().capitalize()}.\n\nThanks for reading the blog!",
    "tweet": lambda text: (text.strip()[:100] + " #update"),
    "plain": lambda text: text.strip(),
}


def write(state: State, config: RunnableConfig) -> dict:
    conf = config.get("configurable", {})
    style = conf.get("style", "plain")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {sorted(STYLES)}")
    out = STYLES[style](state["text"])
    if conf.get("signature"):
        out += f"\n-- {conf['signature']}"
    return {"out": out, "model": conf.get("model", "none")}


class Output(TypedDict):
    text: str
    out: str
    model: str


builder = StateGraph(Output, input_schema=State, config_schema=Configurable)
builder.add_node("write", write)
builder.add_edge(START, "write")
builder.add_edge("write", END)
graph = builder.compile(name="writer")
