"""The in-sync record (engine/synced.py): a plan at the same target generation skips the
files whose digest is unchanged, yet every answer is the one a full plan gives."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from helpers import BLOG, TWEET, edit, run

import controller.config.loader as loader
from controller.targets.embedded import EmbeddedTarget


@pytest.fixture
def repo(project: Path) -> Path:
    """The example project outside git, applied once (its writes recorded)."""
    assert run_cli(project, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    return project


def run_cli(repo: Path, *argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from controller.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def loads(monkeypatch) -> list[str]:
    """The files the loader loads from now on (from its store or not)."""
    loaded: list[str] = []
    real = loader._load_file
    monkeypatch.setattr(loader, "_load_file", lambda file, *rest: loaded.append(file.shown) or real(file, *rest))
    return loaded


def reads(monkeypatch) -> list[str]:
    """The assistants the embedded target is asked for from now on."""
    asked: list[str] = []
    real_get, real_list = EmbeddedTarget.get, EmbeddedTarget.list_assistants

    async def get(self, assistant_id, **kwargs):
        asked.append(assistant_id)
        return await real_get(self, assistant_id, **kwargs)

    async def listing(self, metadata=None):
        asked.append("*")
        return await real_list(self, metadata)

    monkeypatch.setattr(EmbeddedTarget, "get", get)
    monkeypatch.setattr(EmbeddedTarget, "list_assistants", listing)
    return asked


def test_an_unchanged_project_is_planned_without_loading_or_reading_anything(repo, capsys, monkeypatch):
    full_text, full_json = run(capsys, "plan", "."), run(capsys, "plan", ".", "-o", "json")
    assert full_text[0] == full_json[0] == 0 and "No changes" in full_text[1], full_text
    loaded, asked = loads(monkeypatch), reads(monkeypatch)
    assert run(capsys, "plan", ".") == full_text
    assert run(capsys, "plan", ".", "-o", "json") == full_json
    assert loaded == [] and asked == []
    shutil.rmtree(repo / ".controller" / "cache")  # and without the record: the same answer
    assert run(capsys, "plan", ".") == full_text and run(capsys, "plan", ".", "-o", "json") == full_json
    assert len(loaded) == 8  # (the five manifests, their Defaults, the faq dataset and controller.yaml)


def test_an_edit_is_loaded_read_and_planned_alone(repo, capsys, monkeypatch):
    assert run(capsys, "plan", ".")[0] == 0
    edit(repo / TWEET, "style: tweet", "style: plain")
    loaded, asked = loads(monkeypatch), reads(monkeypatch)
    code, out, err = run(capsys, "plan", ".")
    assert code == 0 and "Plan: 0 to create, 1 to update" in out, out + err
    assert loaded == [str(TWEET)] and "*" not in asked


def test_what_an_apply_wrote_is_recorded_for_the_next_plan(repo, capsys, monkeypatch):
    edit(repo / TWEET, "style: tweet", "style: plain")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0 and "1 updated" in out, out + err
    loaded, asked = loads(monkeypatch), reads(monkeypatch)
    assert "No changes" in run(capsys, "plan", ".")[1]
    assert loaded == [] and asked == []


def test_a_write_by_another_process_is_seen_by_the_next_plan(repo, capsys):
    assert "No changes" in run(capsys, "plan", ".")[1]  # recorded

    async def meddle() -> None:  # someone else's write (a UI edit, another tool)
        target = EmbeddedTarget(str(repo / ".controller" / "state.db"), str(repo / "langgraph.json"))
        (state,) = [s for s in await target.list_assistants({"controller/name": "tweet-writer"})]
        await target.update(state.assistant_id, state.content.with_metadata(edited="by hand"))
        await target.aclose()

    asyncio.run(meddle())
    code, out, err = run(capsys, "plan", ".")
    assert code == 0 and "tweet-writer: repin v2 → v1" in out and "1 to repin" in out, out + err


def test_a_new_state_file_is_not_taken_for_the_old_one(repo, capsys):
    assert "No changes" in run(capsys, "plan", ".")[1]  # recorded at the old file's generation
    (repo / ".controller" / "state.db").unlink()
    assert "Plan: 5 to create" in run(capsys, "plan", ".")[1]
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0  # as many writes as the first file had
    assert "No changes" in run(capsys, "plan", ".")[1]
    edit(repo / BLOG, "style: blog", "style: tweet")
    assert "Plan: 0 to create, 1 to update" in run(capsys, "plan", ".")[1]


def test_a_duplicate_introduced_beside_recorded_files_is_reported_at_its_line(repo, capsys):
    assert "No changes" in run(capsys, "plan", ".")[1]
    copy = repo / "assistants" / "copy.yaml"
    copy.write_text((repo / TWEET).read_text())
    code, _, err = run(capsys, "plan", ".")
    assert code == 1 and "duplicate name 'tweet-writer'" in err, err
    assert err.count("duplicate name") == 1


def test_the_record_holds_no_secret(repo, capsys, monkeypatch):
    monkeypatch.setenv("MODEL", "sk-very-secret")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert "No changes" in run(capsys, "plan", ".")[1]
    db = repo / ".controller" / "cache" / "cache.db"
    assert b"sk-very-secret" not in db.read_bytes()
    with __import__("sqlite3").connect(db) as conn:
        (value,) = conn.execute("SELECT value FROM records WHERE tbl LIKE 'synced%'").fetchone()
    record = json.loads(value)
    assert len(record["files"]) == 8 and record["generation"]  # (with the Defaults document and the faq dataset)


def test_files_whose_stat_is_unchanged_are_not_even_read_and_an_edit_still_is(repo, capsys, monkeypatch):
    import os
    import time

    old = time.time() - 3600
    for path in repo.rglob("*.yaml"):  # files older than the file system's timestamp granularity
        os.utime(path, (old, old))
    assert "No changes" in run(capsys, "plan", ".")[1]  # recorded with their stat
    read: list[str] = []
    real = loader.read_text
    monkeypatch.setattr(loader, "read_text", lambda path: read.append(path) or real(path))
    assert "No changes" in run(capsys, "plan", ".")[1]
    assert [os.path.basename(p) for p in read] == ["writers.yaml"]  # a Defaults document is always read
    edit(repo / TWEET, "style: tweet", "style: plain")  # a new mtime: read, and planned
    code, out, _ = run(capsys, "plan", ".")
    assert sorted(os.path.basename(p) for p in read) == ["tweet-writer.yaml", "writers.yaml", "writers.yaml"]
    assert "1 to update" in out
    read.clear()
    (repo / "assistants" / "prompts" / "tweet-writer.md").write_text("A new prompt.\n")  # unchanged stat, new prompt
    code, out, _ = run(capsys, "plan", ".")
    assert sorted(os.path.basename(p) for p in read) == ["tweet-writer.yaml", "writers.yaml"] and "1 to update" in out
    read.clear()
    edit(repo / "assistants" / "defaults" / "writers.yaml", "reviewed-by: editorial-team", "reviewed-by: copy-desk")
    code, out, _ = run(capsys, "plan", ".")  # the stat of the writers is unchanged, what they take is not
    assert sorted(os.path.basename(p) for p in read) == ["blog-writer.yaml", "tweet-writer.yaml", "writers.yaml"]
    assert "2 to update" in out
