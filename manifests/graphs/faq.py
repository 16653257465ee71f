"""A demo FAQ bot whose "model" behaves like one: it is right only most of the time.

`FakeChatModel` is a real LangChain chat model (a `BaseChatModel`) that answers from a
small knowledge base. With probability `accuracy` (the assistant's context) it gives the
right answer; otherwise it confidently gives another entry's answer, as a model that
mixes things up would. So an assistant's quality is a rate, not a yes or no, which is
what `spec.evals` measures. A run's input may carry a `seed` to make its answer
reproducible (the tests do); without one, every run draws anew, like a real model.
"""

from __future__ import annotations

import random
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from typing_extensions import Annotated, NotRequired, TypedDict

KNOWLEDGE = {
    "refund": "Refunds are accepted within 30 days of purchase.",
    "shipping": "Standard shipping takes 3 to 5 business days.",
    "password": "Reset your password from the login page with 'Forgot password'.",
    "hours": "Support is open Monday to Friday, 9am to 6pm CET.",
    "warranty": "Every device has a 2-year warranty.",
    "cancel": "You can cancel a subscription any time from Settings > Billing.",
}


class FakeChatModel(BaseChatModel):
    """Answers from KNOWLEDGE: right with probability ``accuracy``, seeded by ``seed``."""

    accuracy: float = 1.0
    seed: int | None = None

    @property
    def _llm_type(self) -> str:
        return "fake-faq"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        question = str(messages[-1].content).lower()
        topic = next((t for t in KNOWLEDGE if t in question), None)
        rng = random.Random(self.seed)
        if topic is None:
            answer = "I'm not sure; let me connect you with a human."
        elif rng.random() < self.accuracy:
            answer = KNOWLEDGE[topic]
        else:
            answer = KNOWLEDGE[rng.choice(sorted(set(KNOWLEDGE) - {topic}))]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])


class Context(TypedDict, total=False):
    accuracy: float
    system_prompt: str


class State(TypedDict):
    question: str
    seed: NotRequired[int]
    answer: NotRequired[str]
    messages: NotRequired[Annotated[list[AnyMessage], add_messages]]


def answer(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context or {}
    model = FakeChatModel(accuracy=float(ctx.get("accuracy", 1.0)), seed=state.get("seed"))
    question = HumanMessage(content=state["question"])
    reply = model.invoke([SystemMessage(content=ctx.get("system_prompt", "You answer customers' questions.")), question])
    return {"answer": reply.content, "messages": [question, reply]}


builder = StateGraph(State, context_schema=Context)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
builder.add_edge("answer", END)
graph = builder.compile(name="faq")
