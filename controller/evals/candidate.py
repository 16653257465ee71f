"""Temporary candidate assistants: content evaluated before it is written for real.

A candidate carries ``controller/candidate`` (the id of the assistant it stands for), as
apply's ``smoke: before`` candidates do, so one left behind by a killed run is deleted by
the owner's next apply or watch pass, and no plan, history or import takes it for the
assistant itself. It is deleted when the block ends, also on an error or Ctrl-C.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from controller.core.content import CANDIDATE_KEY, Content

if TYPE_CHECKING:
    from controller.targets.base import Target


@asynccontextmanager
async def candidate(target: Target, content: Content, stands_for: str) -> AsyncIterator[str]:
    """A new assistant with ``content``, for the block: its id."""
    candidate_id = str(uuid.uuid4())
    await target.create(candidate_id, content.with_metadata(**{CANDIDATE_KEY: stands_for}))
    try:
        yield candidate_id
    finally:  # also after Ctrl-C: asyncio cancels once, and this await then runs to the end
        await target.delete(candidate_id)
