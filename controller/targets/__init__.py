"""Backends that hold assistants. Each is one module behind :class:`Target`."""

from controller.targets.base import (
    AssistantState,
    GraphInfo,
    RunOutcome,
    Target,
    Version,
)

__all__ = ["AssistantState", "GraphInfo", "RunOutcome", "Target", "Version"]
