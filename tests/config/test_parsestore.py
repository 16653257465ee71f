"""Parsed manifests kept between processes (config/parsestore.py): an edited file is the only one
parsed again, and a missing or damaged cache never changes a result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import BLOG, edit, run

import controller.config.loader as loader


@pytest.fixture
def repo(project: Path) -> Path:
    """The example project outside git: these caches do not depend on git."""
    return project


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


def test_a_problem_in_a_cached_file_is_reported_at_the_same_line(repo, capsys):
    text = (repo / BLOG).read_text()
    (repo / BLOG).write_text(text.replace("spec:\n", "spec:\n  grpah: writer\n", 1))
    first = run(capsys, "validate", ".")
    assert first[0] == 1 and "grpah" in first[2]
    assert run(capsys, "validate", ".") == first  # second run: documents from .controller/cache
