"""One watch pass (engine/reconcile.py) driven directly: what stays in force across passes,
and how a failing target is retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

from helpers import BLOG, edit, git

from controller.core.errors import ControllerError
from controller.engine.backoff import Backoff
from controller.engine.events import Event, Failed, ManifestsAccepted, ReconcileFinished, StatusRead
from controller.engine.folder import FolderSource
from controller.engine.pipeline import Workspace
from controller.engine.reconcile import PassOptions, Reconciler
from controller.engine.source import Project


def passes(reconciler: Reconciler, triggers: list[str], between=lambda i: None) -> list[float | None]:
    async def go() -> list[float | None]:
        delays = []
        for i, trigger in enumerate(triggers):
            between(i)
            delays.append(await reconciler.run(trigger, ()))
        await reconciler.close()
        return delays

    return asyncio.run(go())


def test_a_bad_edit_leaves_the_last_good_manifests_and_their_revision_in_force(repo: Path):
    events: list[Event] = []
    reconciler = Reconciler(FolderSource(Project()), PassOptions(no_smoke=True, status=True), events.append, Backoff())
    head = git(repo, "rev-parse", "HEAD").strip()

    def break_blog(i: int) -> None:
        if i == 1:
            edit(repo / BLOG, "  graph: writer", "  graph: [not, a, graph]")

    assert passes(reconciler, ["start", "interval"], break_blog) == [None, None]  # an invalid edit is no target failure
    accepted = [e for e in events if isinstance(e, ManifestsAccepted)]
    assert [a.revision for a in accepted] == [head]  # only the good pass
    assert accepted[0].settings.owner == "demo-agents"
    failed = next(e for e in events if isinstance(e, Failed))
    assert "the last good manifests stay in force" in failed.message and failed.retry_in is None
    statuses = [e for e in events if isinstance(e, StatusRead)]
    assert [(s.revision, s.ok, s.status is not None) for s in statuses] == [(head, True, True), (head, True, True)]
    finished = [e for e in events if isinstance(e, ReconcileFinished)]
    assert [f.ok for f in finished] == [True, False]
    assert reconciler.in_force is not None and reconciler.in_force.revision == head


class Unreachable(FolderSource):
    """Settings that load until ``down`` says they cannot (as a target that stops answering)."""

    def __init__(self) -> None:
        super().__init__(Project())
        self.down = False

    def workspace(self) -> Workspace:
        if self.down:
            raise ControllerError("target unreachable")
        return super().workspace()


def test_target_failures_are_retried_with_backoff_which_a_good_pass_resets(project: Path):
    events: list[Event] = []
    source = Unreachable()
    reconciler = Reconciler(source, PassOptions(no_smoke=True, status=True), events.append, Backoff(cap=3.0))

    def outage(i: int) -> None:
        source.down = i in (0, 1, 2, 4)

    assert passes(reconciler, ["start", "retry", "retry", "retry", "interval"], outage) == [1.0, 2.0, 3.0, None, 1.0]
    assert [e.retry_in for e in events if isinstance(e, Failed)] == [1.0, 2.0, 3.0, 1.0]
    # a failed pass has no target to read: status only after the good one
    assert [e.trigger for e in events if isinstance(e, StatusRead)] == ["retry"]
