"""The git checkout as a watch's source (service/checkout.py), against a local repository."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from helpers import BLOG, edit, example_repo, git, git_init

from controller.engine.source import Project, SourceFailed
from controller.service.checkout import CheckoutSource


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    root = example_repo(tmp_path / "upstream")
    git_init(root)
    return root


def checkout(upstream: Path, tmp_path: Path, project: Project = Project()) -> CheckoutSource:
    return CheckoutSource(f"file://{upstream}", "main", project, interval=5.0, workdir=str(tmp_path / "wd"))


def syncs(source: CheckoutSource, triggers: list[str], between=lambda i: None) -> list[str | SourceFailed]:
    """Each trigger as the source names it after its sync, or the failure."""

    async def go() -> list[str | SourceFailed]:
        out: list[str | SourceFailed] = []
        for i, trigger in enumerate(triggers):
            between(i)
            try:
                out.append(await source.sync(trigger))
            except SourceFailed as exc:
                out.append(exc)
        return out

    return asyncio.run(go())


def test_an_interval_tick_that_finds_a_new_commit_is_named_git(upstream: Path, tmp_path: Path):
    source = checkout(upstream, tmp_path)

    def push(i: int) -> None:
        if i == 2:
            edit(upstream / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")
            git(upstream, "commit", "-qam", "shorter")

    assert syncs(source, ["start", "interval", "interval", "interval"], push) == ["start", "interval", "git", "interval"]
    assert source.revision == git(upstream, "rev-parse", "HEAD").strip()


def test_a_webhook_keeps_its_name_when_the_commit_moved(upstream: Path, tmp_path: Path):
    source = checkout(upstream, tmp_path)

    def push(i: int) -> None:
        if i == 1:
            git(upstream, "commit", "-q", "--allow-empty", "-m", "empty")

    assert syncs(source, ["start", "webhook"], push) == ["start", "webhook"]


def test_failed_fetches_back_off_on_their_own_and_keep_the_checkout(upstream: Path, tmp_path: Path):
    source = checkout(upstream, tmp_path)
    hidden = tmp_path / "hidden"

    def outage(i: int) -> None:
        if i == 1:
            upstream.rename(hidden)
        if i == 4:
            hidden.rename(upstream)

    results = syncs(source, ["start", "interval", "retry", "retry", "retry", "interval"], outage)
    failures = [r for r in results if isinstance(r, SourceFailed)]
    assert [f.retry_in for f in failures] == [1.0, 2.0, 4.0]
    assert all("git fetch" in str(f) and f.kept == "the last good commit stays in force" for f in failures)
    assert results[4:] == ["retry", "interval"]
    assert (tmp_path / "wd" / "checkout" / "controller.yaml").exists()
    # the next outage starts its backoff over
    shutil.rmtree(upstream)
    assert [r.retry_in for r in syncs(source, ["interval"]) if isinstance(r, SourceFailed)] == [1.0]


def test_the_checkout_is_the_project_root_with_caches_and_state_beside_it(upstream: Path, tmp_path: Path):
    source = checkout(upstream, tmp_path, Project(paths=("assistants",)))
    assert syncs(source, ["start"]) == ["start"]  # (a failed sync is returned, not raised)
    ws = source.workspace()
    wd = tmp_path / "wd"
    assert ws.settings.root == str(wd / "checkout")
    assert ws.paths == [str(wd / "checkout" / "assistants")]
    assert ws.spec.cache_dir == str(wd / "cache")
    assert ws.spec.embedded == str(wd / "state" / ".controller" / "state.db")
    assert not os.path.exists(wd / "checkout" / ".controller")
