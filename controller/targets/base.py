"""The one small interface the reconciler, smoke tests and CLI use for any backend.

Both targets implement it and one conformance suite (tests/targets/test_conformance.py)
runs against both, so behaviour the reconciler relies on is pinned in one place.
All methods are async: the remote target does real network I/O with bounded
concurrency; the embedded one answers immediately.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from controller.core.content import Content
from controller.targets.profiles import ServerProfile


@dataclass(frozen=True)
class Version:
    """One stored version of an assistant: its number, full content and creation time."""

    number: int
    content: Content
    created_at: str = ""


@dataclass(frozen=True)
class AssistantState:
    """An assistant as the target serves it now.

    ``content`` is the *live* content (what a run uses now). ``versions`` is filled
    only when asked for (``get(..., versions=True)``), newest first.
    """

    assistant_id: str
    version: int
    content: Content
    created_at: str = ""
    updated_at: str = ""
    versions: tuple[Version, ...] | None = None
    #: ``content_hash(content)`` when the target stores one (embedded), else None.
    content_hash: str | None = field(default=None, compare=False)

    def version_entry(self, number: int) -> Version | None:
        for v in self.versions or ():
            if v.number == number:
                return v
        return None


@dataclass(frozen=True)
class GraphInfo:
    """A graph the target can run, with the JSON Schemas it declares (or None)."""

    graph_id: str
    config_schema: dict[str, Any] | None = None
    context_schema: dict[str, Any] | None = None
    description: str | None = None
    #: Why the graph cannot be loaded (embedded target), or None when it can.
    error: str | None = None
    #: Why its schemas could not be read (remote target), or None: config goes unchecked then.
    schema_error: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, judged by its status, never by an HTTP code.

    ``output`` is plain JSON data (dicts, lists, strings, numbers) on every target, so
    a smoke path such as ``messages[-1].content`` reads the same everywhere.
    """

    status: Literal["success", "error", "timeout", "interrupted"]
    output: Any = None
    error: str | None = None  # "ValueError: boom" for status == "error"
    #: Values the output may hold that must never be printed (the embedded target's
    #: langgraph.json ``env``); the output itself is left exact, for the checks.
    secrets: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@runtime_checkable
class Target(Protocol):
    """What the controller needs from a place that stores and runs assistants."""

    @property
    def profile(self) -> ServerProfile:
        """What this target can do and how it differs (targets/profiles.py): plan and apply
        consult it instead of naming servers. A server's is known once it answered a request."""

    async def graphs(self) -> dict[str, GraphInfo]:
        """The graphs this target can run, by graph_id."""

    async def generation(self) -> str | None:
        """A token that changes with every write to the target, when the target can tell that
        in one cheap read (the embedded file); None when it cannot (a server). Equal tokens
        mean nothing was written in between, so what was read at the first still holds."""

    async def list_assistants(self, metadata: dict[str, Any] | None = None) -> list[AssistantState]:
        """All assistants (system ones included) whose metadata contains ``metadata``."""

    async def get(self, assistant_id: str, *, versions: bool = False) -> AssistantState | None:
        """One assistant, or None when there is none with that id."""

    async def get_many(self, assistant_ids: Collection[str], *, total: int | None = None) -> dict[str, AssistantState]:
        """The assistants among these ids that exist, by id (absent ids are left out).

        ``total``: what :meth:`count` answered, when the caller already asked (a server
        then need not ask again before choosing between GETs and one listing).
        """

    async def count(self) -> int | None:
        """How many assistants the target holds, when that is cheap to learn; else None."""

    async def history(self, state: AssistantState) -> AssistantState | None:
        """``state``, as a listing returned it, with its versions; None when it is gone.

        The listing already answered the live state: a server reads only the versions.
        """

    async def create(self, assistant_id: str, content: Content) -> AssistantState:
        """Create with this exact id (version 1). Raises Conflict when the id exists."""

    async def update(self, assistant_id: str, content: Content) -> AssistantState:
        """Write ``content`` as a new version and make it active (exactly that content)."""

    async def set_active(self, assistant_id: str, version: int) -> AssistantState:
        """Make an existing version active without creating a new one."""

    async def delete(self, assistant_id: str) -> None:
        """Delete the assistant and all its versions (and the threads its runs made)."""

    async def run(
        self,
        assistant_id: str,
        input: Any,
        *,
        thread_id: str | None = None,
        timeout: float = 60.0,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> RunOutcome:
        """Run the assistant's active version once; on ``thread_id`` when given.

        ``config``/``context``: the run's own, merged over the assistant's as the Agent
        Server merges a run's (targets/runconfig.py); giving both a non-empty
        ``configurable`` and a ``context`` is refused (an ``error`` outcome), as there.
        """

    async def notes(self, assistant_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The controller's notes on these assistants (id → {key: value}; absent ids have none).

        Notes are kept beside an assistant, not in it: writing one adds no version (the
        embedded file has a table for them; a server keeps them in its store API). What they
        mean is engine/verdicts.py's business; a target only keeps JSON values by key."""

    async def put_note(self, assistant_id: str, key: str, value: dict[str, Any]) -> None:
        """Keep ``value`` as the note ``key`` on the assistant (replacing one of that key)."""

    async def create_thread(self) -> str:
        """A fresh thread for a multi-step run; delete it with delete_thread."""

    async def delete_thread(self, thread_id: str) -> None: ...

    def batch(self) -> AbstractAsyncContextManager[None]:
        """Group the writes of one apply: on the embedded target one transaction, so a
        crash mid-apply leaves the previous state; on a server (no transactions) a no-op."""

    async def aclose(self) -> None:
        """Release connections/files. Safe to call twice."""
