"""The load store (.controller/cache/load.json): an unchanged file is not validated again,
yet every result is the one a fresh load gives, and no environment value is kept in clear."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import BLOG, edit, run

from controller.config.loader import load_manifests
from controller.config.loadstore import LoadStore
from controller.engine.desired import desired_state


@pytest.fixture
def repo(project: Path) -> Path:
    """The example project outside git: these caches do not depend on git."""
    return project


def plan(capsys) -> tuple[int, str, str]:
    return run(capsys, "plan", ".", "--no-color")


def store_path(repo: Path) -> Path:
    return repo / ".controller" / "cache" / "load.json"


def test_a_stored_load_is_what_a_fresh_load_gives(repo, monkeypatch):
    monkeypatch.setenv("MODEL", "secret-model-value")
    store = store_path(repo)
    validated: list[list[bool]] = []

    def load() -> tuple[list, list]:
        results = LoadStore(str(store))
        loaded = load_manifests(["."], {}, root=str(repo), results=results)
        validated.append([m._manifest is not None for m in loaded])
        desired = [desired_state(m, "demo-agents", None, str(repo)) for m in loaded]
        results.save()
        return loaded, desired

    fresh, fresh_desired = load()
    assert store.is_file()
    stored, stored_desired = load()
    assert validated == [[True] * 3, [False] * 3]  # the second load validated nothing (smoke cases: when read)
    for a, b in zip(fresh, stored, strict=True):
        assert (a.name, a.file, a.line, a.sensitive, a.templates) == (b.name, b.file, b.line, b.sensitive, b.templates)
        assert a.manifest.model_dump() == b.manifest.model_dump()
    for a, b in zip(fresh_desired, stored_desired, strict=True):
        assert a == b and a.content_hash == b.content_hash
    assert b"secret-model-value" not in store.read_bytes()  # the template is kept, not the value


def test_a_changed_environment_variable_is_not_served_from_the_store(repo, capsys, monkeypatch):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert plan(capsys)[0] == 0
    monkeypatch.setenv("MODEL", "openai:gpt-secret")
    code, out, err = plan(capsys)
    assert code == 0 and "1 to update" in out, out + err
    assert "gpt-secret" not in out
    assert b"gpt-secret" not in store_path(repo).read_bytes()
    monkeypatch.delenv("MODEL")
    assert "No changes" in plan(capsys)[1]


def test_a_changed_target_value_is_not_served_from_the_store(repo, capsys):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert "No changes" in plan(capsys)[1]
    edit(repo / "controller.yaml", "    graphs: ./langgraph.json\n",
         "    graphs: ./langgraph.json\n    values: {SIGNATURE: \"the night shift\"}\n")
    code, out, err = plan(capsys)
    assert code == 0 and "1 to update" in out and "the night shift" in out, out + err
    edit(repo / "controller.yaml", "the night shift", "the social team")
    edit(repo / "controller.yaml", "    values: {SIGNATURE: \"the social team\"}\n", "")
    assert "No changes" in plan(capsys)[1]


@pytest.mark.parametrize("damage", ["garbage", "wrong-shape", "wrong-entries"])
def test_a_damaged_load_store_changes_no_result(repo, capsys, damage):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(repo / BLOG, "style: blog", "style: tweet")
    warm = plan(capsys)
    store = store_path(repo)
    header, _, body = store.read_bytes().partition(b"\n")
    if damage == "garbage":
        store.write_bytes(header + b"\n" + body[: len(body) // 2] + b"\x00")
    else:
        entries = json.loads(body)
        for entry in entries.values():
            if damage == "wrong-shape":
                entry["names"] = [1, 2]
            else:
                for run_key in entry["runs"]:
                    entry["runs"][run_key] = [[0, 1, {"metadata": {}}, [], [], None], "x"]
        body = json.dumps(entries).encode()
        meta = {**json.loads(header), "checksum": hashlib.blake2b(body, digest_size=20).hexdigest()}
        store.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    assert plan(capsys) == warm
    assert plan(capsys) == warm  # and once rebuilt


def test_a_file_with_a_problem_is_not_stored_and_still_reported(repo, capsys):
    edit(repo / BLOG, "spec:\n", "spec:\n  grpah: writer\n")
    first = run(capsys, "validate", ".")
    assert first[0] == 1 and "grpah" in first[2]
    assert run(capsys, "validate", ".") == first


def test_resolved_values_are_hashed_under_a_private_key(repo, monkeypatch):
    """A copied load.json alone does not let anyone test guesses of a secret: the hash of
    what the variables resolved to is keyed by a random key kept beside it, owner-only."""
    from controller.config.loadstore import variables_key

    monkeypatch.setenv("MODEL", "secret-model-value")
    results = LoadStore(str(store_path(repo)))
    load_manifests(["."], {}, root=str(repo), results=results)
    results.save()
    key = Path(f"{store_path(repo)}.key")
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    stored = json.loads(store_path(repo).read_bytes().partition(b"\n")[2])
    secret = key.read_bytes()
    env = {"MODEL": "secret-model-value"}
    with_model = [e for e in stored.values() if "MODEL" in e["names"]]
    assert with_model  # blog-writer references ${MODEL:-…}
    for entry in with_model:
        assert variables_key(entry["names"], {}, env, secret) in entry["runs"]  # what the store really uses
        assert variables_key(entry["names"], {}, env) not in entry["runs"]  # an unkeyed guess finds nothing
