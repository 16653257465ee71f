"""`controller history`: every version with the revision it came from (dirty when not committed),
in columns that fit, with times in their time zone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import BLOG, edit, example_repo, git, git_init, run


def history_revisions(out: str) -> list[str]:
    """The REVISION column of `history`, newest first."""
    header, *rows = out.splitlines()
    at = header.index("REVISION")
    return [line[at:].split()[0] for line in rows if line.strip()]


@pytest.mark.usefixtures("clean_env")
def test_uncommitted_manifests_are_recorded_as_dirty(tmp_path: Path, capsys, monkeypatch):
    repo = example_repo(tmp_path / "repo")
    git_init(repo)
    monkeypatch.chdir(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    edit(repo / BLOG, "Keep paragraphs short.", "Keep paragraphs very short.")  # not committed
    assert run(capsys, "apply", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer")
    assert code == 0 and history_revisions(out) == [f"{head[:12]}-dirty"], out
    code, out, _ = run(capsys, "history", "blog-writer", "-o", "json")
    assert f'"revision": "{head}-dirty"' in out

    git(repo, "commit", "-qam", "shorter paragraphs")
    edit(repo / BLOG, "Keep paragraphs very short.", "Keep paragraphs tiny.")
    git(repo, "commit", "-qam", "tiny paragraphs")
    clean = git(repo, "rev-parse", "HEAD").strip()
    assert run(capsys, "apply", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer")
    assert history_revisions(out) == [clean[:12], f"{head[:12]}-dirty"], out
    assert run(capsys, "plan")[1].count("No changes.") == 1  # the revision is never compared


@pytest.mark.usefixtures("clean_env")
def test_history_column_fits_a_dirty_revision(tmp_path: Path, capsys, monkeypatch):
    repo = example_repo(tmp_path / "repo")
    git_init(repo)
    monkeypatch.chdir(repo)
    shutil.copy(repo / BLOG, repo / "assistants" / "copy.yaml")
    edit(repo / "assistants" / "copy.yaml", "name: blog-writer", "name: blog-copy")  # untracked
    assert run(capsys, "apply", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer")
    assert code == 0, out
    header, row = out.splitlines()[:2]
    (revision,) = history_revisions(out)[:1]
    assert revision.endswith("-dirty")
    assert row.index(revision) == header.index("REVISION")
    assert header.index("SOURCE") > header.index("REVISION") + len(revision)


def test_history_times_carry_their_time_zone(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve")[0] == 0
    code, out, _ = run(capsys, "history", "blog-writer")
    assert code == 0
    row = out.splitlines()[1]
    assert "+00:00" in row, row
