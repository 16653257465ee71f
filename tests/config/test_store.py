"""The load store (config/store.py, ``.controller/cache/cache.db``): an unchanged file is
neither parsed nor validated again, yet every result is the one a fresh load gives, a
damaged cache changes nothing, and no environment value is kept in clear."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import BLOG, edit, run

import controller.config.loader as loader
from controller.config.dependencies import resolver
from controller.config.loader import LoadOptions, load_manifests
from controller.config.store import LoadStore
from controller.engine.desired import desired_state


@pytest.fixture
def repo(project: Path) -> Path:
    """The example project outside git: these caches do not depend on git."""
    return project


def plan(capsys) -> tuple[int, str, str]:
    return run(capsys, "plan", ".", "--no-color")


def cache(repo: Path) -> Path:
    return repo / ".controller" / "cache"


def parses(monkeypatch) -> list[str]:
    """The texts the loader parses from now on."""
    parsed: list[str] = []
    real = loader.load_documents
    monkeypatch.setattr(loader, "load_documents", lambda text: parsed.append(text) or real(text))
    return parsed


def test_a_stored_load_is_what_a_fresh_load_gives(repo, monkeypatch):
    monkeypatch.setenv("MODEL", "secret-model-value")
    parsed = parses(monkeypatch)

    def load() -> tuple[list, list]:
        store = LoadStore(str(cache(repo)))
        loaded = load_manifests(["."], LoadOptions(root=str(repo), store=store)).manifests
        store.save()
        return loaded, [desired_state(m, "demo-agents") for m in loaded]

    fresh, fresh_desired = load()
    assert len(parsed) == 8  # the five manifests, the Defaults, the faq dataset and controller.yaml
    stored, stored_desired = load()
    assert len(parsed) == 8  # the second load parsed (and validated) nothing
    for a, b in zip(fresh, stored, strict=True):
        assert (a.name, a.file, a.source, a.line, a.sensitive, a.templates) == (b.name, b.file, b.source, b.line,
                                                                               b.sensitive, b.templates)
        assert (a.origins, a.files) == (b.origins, b.files)
        assert a.manifest.model_dump() == b.manifest.model_dump()
    for a, b in zip(fresh_desired, stored_desired, strict=True):
        assert a == b and a.content == b.content and a.content_hash == b.content_hash and a.smoke == b.smoke
    assert b"secret-model-value" not in (cache(repo) / "cache.db").read_bytes()  # the template is kept, not the value


def test_editing_one_manifest_parses_only_that_file(repo, capsys, monkeypatch):
    parsed = parses(monkeypatch)
    assert run(capsys, "validate", ".")[0] == 0
    assert len(parsed) == 8  # the five manifests, the Defaults, the faq dataset and controller.yaml
    parsed.clear()
    assert run(capsys, "validate", ".")[0] == 0
    assert parsed == []
    edit(repo / BLOG, "style: blog", "style: tweet")
    code, out, _ = run(capsys, "plan", ".")
    assert code == 0
    assert len(parsed) == 1 and "style: tweet" in parsed[0]


def test_a_changed_environment_variable_is_not_served_from_the_store(repo, capsys, monkeypatch):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    assert plan(capsys)[0] == 0
    monkeypatch.setenv("MODEL", "openai:gpt-secret")
    code, out, err = plan(capsys)
    # blog-writer's own ${MODEL}, and tweet-writer's from its Defaults (assistants/defaults/writers.yaml)
    assert code == 0 and "2 to update" in out, out + err
    assert "gpt-secret" not in out
    assert all(b"gpt-secret" not in f.read_bytes() for f in cache(repo).iterdir())
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


@pytest.mark.parametrize("damage", ["delete", "garbage", "wrong-shape"])
def test_a_missing_or_damaged_store_changes_no_result(repo, capsys, damage):
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    edit(repo / BLOG, "style: blog", "style: tweet")
    warm = plan(capsys)
    assert warm[0] == 0 and "1 to update" in warm[1], warm
    db = cache(repo) / "cache.db"
    assert db.is_file()
    if damage == "delete":
        shutil.rmtree(cache(repo))
    elif damage == "garbage":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2] + b"\x00garbage")
    else:  # a well-formed database whose records are of the wrong shape
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE records SET value = '{\"dependencies\": 7, \"loads\": [1]}'")
    assert plan(capsys) == warm
    assert plan(capsys) == warm  # and once rebuilt


def test_a_file_with_a_problem_is_not_stored_and_still_reported_at_its_line(repo, capsys):
    edit(repo / BLOG, "spec:\n", "spec:\n  grpah: writer\n")
    first = run(capsys, "validate", ".")
    assert first[0] == 1 and "assistants/blog-writer.yaml:8: spec.grpah: unknown field" in first[2], first[2]
    assert run(capsys, "validate", ".") == first


def test_a_stored_file_with_a_plan_time_problem_is_reported_at_its_line(repo, capsys):
    """A manifest served from the store has no line map; a problem found at plan time (an
    unknown graph) still points at its line (the text is parsed again for it)."""
    edit(repo / BLOG, "graph: writer", "graph: wirter")
    first = run(capsys, "plan", ".")
    assert first[0] == 1 and "blog-writer.yaml:8: spec.graph: unknown graph 'wirter'" in first[2], first[2]
    assert run(capsys, "plan", ".") == first


def test_resolved_values_are_hashed_under_a_private_key(repo, monkeypatch):
    """A copied cache alone does not let anyone test guesses of a secret: what the variables
    resolved to is hashed with a random key kept beside it, owner-only."""
    monkeypatch.setenv("MODEL", "secret-model-value")
    store = LoadStore(str(cache(repo)))
    loads = load_manifests(["."], LoadOptions(root=str(repo), store=store))
    store.save()
    key = cache(repo) / "load.key"
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    text = (repo / BLOG).read_text()
    resolve = resolver(LoadOptions(root=str(repo)), "assistants", loads.defaults)
    dependency, labels = store.manifests(text, resolve).dependencies
    assert (dependency.kind, dependency.name) == ("variable", "MODEL")
    assert (labels.kind, labels.name) == ("defaults", '{"role": "writer", "team": "content"}')  # which Defaults select it
    keyless = LoadStore(str(repo / "elsewhere"))  # the same store without its key: another digest
    assert store.digest(text, [dependency], resolve) != keyless.digest(text, [dependency], resolve)


def test_a_changed_prompt_file_or_defaults_document_is_never_served_from_the_store(repo, monkeypatch):
    """What a manifest read (its prompt file, the Defaults that select it) keys its stored load and its
    memo: an edit of either is a miss, with the new text in the result."""
    parsed = parses(monkeypatch)
    prompt, writers = repo / "assistants" / "prompts" / "tweet-writer.md", repo / "assistants" / "defaults" / "writers.yaml"

    def tweet() -> tuple[dict, str]:
        store = LoadStore(str(cache(repo)))
        loaded = {m.name: m for m in load_manifests(["."], LoadOptions(root=str(repo), store=store)).manifests}
        desired = desired_state(loaded["tweet-writer"], "demo-agents", memo=store.memo("desired"))
        store.save()
        return loaded["tweet-writer"].data["spec"], desired.content_hash

    before, hash_before = tweet()
    parsed.clear()
    assert tweet() == (before, hash_before) and parsed == []  # nothing changed: nothing parsed
    prompt.write_text("A new prompt.\n")
    spec, hash_prompt = tweet()
    assert spec["config"]["configurable"]["system_prompt"] == "A new prompt.\n" and hash_prompt != hash_before
    assert len(parsed) == 1 and "tweet-writer" in parsed[0]  # only the manifest that reads it
    parsed.clear()
    edit(writers, "reviewed-by: editorial-team", "reviewed-by: copy-desk")
    spec, hash_defaults = tweet()
    assert spec["metadata"] == {"reviewed-by": "copy-desk"} and hash_defaults != hash_prompt
    assert sorted(p.split("name: ")[1].split("\n")[0] for p in parsed) == ["blog-writer", "tweet-writer", "writers"]
