"""An embedded target serving the test project's graphs (faq, agent, grader, slow, boom, writer),
with a way to create assistants on it: the evals run real graphs, not a scripted target."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.core.content import Content
from controller.targets.base import RunOutcome
from controller.targets.embedded import EmbeddedTarget


class WatchedTarget(EmbeddedTarget):
    """The embedded target, noting which runs start in what order and how many are in flight."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.started: list[tuple[str, Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def run(self, assistant_id: str, input: Any, **kwargs: Any) -> RunOutcome:
        self.started.append((assistant_id, input))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().run(assistant_id, input, **kwargs)
        finally:
            self.in_flight -= 1


@pytest.fixture
def target(tmp_path: Path, test_project: Path) -> Iterator[WatchedTarget]:
    t = WatchedTarget(str(tmp_path / "state.db"), str(test_project / "langgraph.json"))
    yield t
    asyncio.run(t.aclose())


@pytest.fixture
def make(target: WatchedTarget) -> Callable[..., str]:
    """``make(graph, context=..., config=...)``: a new assistant of ``graph`` on ``target``, its id."""
    def new(graph: str, **content: Any) -> str:
        assistant_id = str(uuid.uuid4())
        asyncio.run(target.create(assistant_id, Content(graph, graph, None, content.get("config", {}),
                                                        content.get("context", {}), {})))
        return assistant_id

    return new
