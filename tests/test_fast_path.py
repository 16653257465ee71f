"""The fast path: warm caches under .controller/cache make a new process skip langgraph
and unchanged files, and never change a result."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BLOG, edit, run

import controller.config.loader as loader
from controller.targets.embedded import EmbeddedTarget

#: Runs the CLI in a fresh interpreter, then lists the modules it imported that a
#: no-op plan must not need.
PROBE = """
import json, sys
from controller.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("langgraph", "langchain_core", "httpx", "deepdiff")
               or m.startswith("_controller_graph_"))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def probe(repo: Path, *argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=repo, capture_output=True, text=True, timeout=120)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def repo(project: Path) -> Path:
    """The example project outside git: these caches do not depend on git."""
    return project


def test_noop_plan_and_history_import_no_graph_when_the_cache_is_warm(repo, capsys):
    code, out, _ = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out
    assert probe(repo, "plan", ".")["code"] == 0  # the graph cache is written here if apply did not
    for argv in (("plan", "."), ("plan", ".", "-o", "json"), ("history", "blog-writer"), ("validate", ".")):
        seen = probe(repo, *argv)
        assert seen == {"code": 0, "heavy": []}, argv


def test_a_run_still_loads_its_graph(repo, capsys):
    code, out, _ = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out
    seen = probe(repo, "test", "blog-writer")
    assert seen["code"] == 0 and any(m.startswith("langgraph") for m in seen["heavy"])


def graphs(repo: Path) -> tuple[dict, EmbeddedTarget]:
    async def go():
        target = EmbeddedTarget(str(repo / ".controller" / "state.db"), str(repo / "langgraph.json"),
                                str(repo / ".controller" / "cache"))
        try:
            return await target.graphs(), target
        finally:
            await target.aclose()

    return asyncio.run(go())


def test_editing_a_graph_source_refreshes_its_schema(repo):
    before, _ = graphs(repo)
    assert "tone" not in before["writer"].config_schema["properties"]
    cached, target = graphs(repo)
    assert cached == before and not target.registry.entries["writer"].loaded  # from the cache, not imported

    edit(repo / "graphs" / "writer.py", "    signature: str\n", "    signature: str\n    tone: str\n")
    after, target = graphs(repo)
    assert "tone" in after["writer"].config_schema["properties"]
    assert target.registry.entries["writer"].loaded and not target.registry.entries["chat"].loaded


def test_a_graph_that_fails_to_load_is_reported_every_time(repo):
    (repo / "graphs" / "writer.py").write_text("raise RuntimeError('broken on purpose')\n")
    for _ in range(2):
        found, _ = graphs(repo)
        assert "broken on purpose" in found["writer"].error


def test_editing_one_manifest_parses_only_that_file(repo, capsys, monkeypatch):
    parsed: list[str] = []
    original = loader.load_documents
    monkeypatch.setattr(loader, "load_documents", lambda text: parsed.append(text) or original(text))
    assert run(capsys, "validate", ".")[0] == 0
    assert len(parsed) == 4  # the three manifests and controller.yaml
    parsed.clear()
    assert run(capsys, "validate", ".")[0] == 0
    assert parsed == []
    edit(repo / BLOG, "style: blog", "style: tweet")
    code, out, _ = run(capsys, "plan", ".")
    assert code == 0
    assert len(parsed) == 1 and "style: tweet" in parsed[0]


def plan_text(capsys) -> tuple[int, str, str]:
    code, out, err = run(capsys, "plan", ".", "--no-color")
    return code, out, err


@pytest.mark.parametrize("damage", ["delete", "garbage", "wrong-shape"])
def test_a_missing_or_damaged_cache_changes_no_result(repo, capsys, damage):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(repo / BLOG, "style: blog", "style: tweet")
    warm = plan_text(capsys)
    cache = repo / ".controller" / "cache"
    assert (cache / "parse.json").is_file() and (cache / "graphs.json").is_file()
    if damage == "delete":
        shutil.rmtree(cache)
    elif damage == "garbage":
        for f in cache.iterdir():
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2] + b"\x00garbage")
    else:  # well-formed files whose entries are of the wrong shape
        (cache / "graphs.json").write_text(json.dumps({"format": 1, "graphs": {"writer": {"key": 1}, "chat": []}}))
        header, _, body = (cache / "parse.json").read_bytes().partition(b"\n")
        entries = {key: [["not", "a", "document"]] for key in json.loads(body)}
        body = json.dumps(entries).encode()
        import hashlib

        meta = {**json.loads(header), "checksum": hashlib.blake2b(body, digest_size=20).hexdigest()}
        (cache / "parse.json").write_bytes(json.dumps(meta).encode() + b"\n" + body)
    assert plan_text(capsys) == warm
    assert plan_text(capsys) == warm  # and once rebuilt


def test_plan_on_a_fresh_checkout_writes_nothing_to_the_target(repo, capsys):
    assert run(capsys, "plan", ".")[0] == 0
    assert not (repo / ".controller" / "state.db").exists()


def columns(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(versions)")]


def test_a_state_file_from_before_content_hashes_is_migrated_on_the_first_write(repo, capsys):
    import sqlite3

    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    db = repo / ".controller" / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE versions DROP COLUMN content_hash")  # as an older controller made it
    code, out, err = run(capsys, "plan", ".", "--no-color")
    assert code == 0 and "No changes" in out, out + err
    assert "content_hash" not in columns(db)  # plan writes nothing to the target

    edit(repo / BLOG, "style: blog", "style: tweet")
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert "content_hash" in columns(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions WHERE content_hash IS NULL").fetchone() == (0,)
    code, out, _ = run(capsys, "plan", ".", "--no-color")
    assert code == 0 and "No changes" in out


def test_a_problem_in_a_cached_file_is_reported_at_the_same_line(repo, capsys):
    text = (repo / BLOG).read_text()
    (repo / BLOG).write_text(text.replace("spec:\n", "spec:\n  grpah: writer\n", 1))
    first = run(capsys, "validate", ".")
    assert first[0] == 1 and "grpah" in first[2]
    assert run(capsys, "validate", ".") == first  # second run: documents from .controller/cache
