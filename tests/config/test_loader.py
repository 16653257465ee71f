"""Manifest loading: the bad-input corpus, good files, folder walks and interpolation.

Every file in tests/corpus/bad/ holds one defect and starts with a header line
``# expect: <line>: <substring>``: loading it must fail with a one-line error that
names the file, points at that line (0: the file as a whole) and contains the
substring. Inputs that are awkward to commit (huge, not UTF-8, control characters)
are generated here instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import ROOT

from controller.config.loader import LoadedManifest, LoadOptions, display_path, load_manifests
from controller.config.yamlio import MAX_FILE_BYTES
from controller.core.errors import InvalidInput, Problem

CORPUS = ROOT / "tests" / "corpus"
BAD = sorted((CORPUS / "bad").glob("*.yaml"))
GOOD = CORPUS / "good"
EXAMPLES = ROOT / "manifests"
HEADER = re.compile(r"^# expect: (\d+): (.+)$")

MANIFEST = """\
apiVersion: assistant-controller/v1
kind: Assistant
metadata:
  name: {name}
spec:
  graph: writer
"""


def load(paths: list[str], **options) -> list[LoadedManifest]:
    """The manifests under ``paths`` (``options``: LoadOptions' fields)."""
    return load_manifests(paths, LoadOptions(**options)).manifests


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    m = HEADER.match(first)
    assert m, f"{path.name}: first line must be '# expect: <line>: <message substring>'"
    return int(m.group(1)), m.group(2)


def problems_of(paths: list[str | Path], **kwargs) -> list[Problem]:
    kwargs.setdefault("environ", {})
    with pytest.raises(InvalidInput) as info:
        load([str(p) for p in paths], **kwargs)
    problems = info.value.problems
    assert problems, "InvalidInput without problems"
    for problem in problems:
        assert "\n" not in str(problem), f"error is not one line: {str(problem)!r}"
    assert str(info.value).count("\n") == len(problems) - 1  # one line per problem
    return problems


def listing(problems: list[Problem]) -> str:
    return "\n".join(f"  line {p.line}: {p}" for p in problems)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_one(tmp_path: Path, text: str, **kwargs) -> LoadedManifest:
    kwargs.setdefault("environ", {})
    (item,) = load([str(write(tmp_path / "m.yaml", text))], **kwargs)
    return item


# --- the bad-input corpus ---------------------------------------------------------


def test_corpus_is_big_enough_and_well_formed():
    assert len(BAD) >= 45
    for path in BAD:
        line, substring = expectation(path)
        assert substring.strip() == substring and substring
        assert line <= path.read_text(encoding="utf-8").count("\n") + 1, path.name


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_input_is_rejected_at_its_line(path: Path):
    line, substring = expectation(path)
    problems = problems_of([path])
    shown = display_path(str(path))
    matching = [
        p for p in problems
        if p.line == line and substring in str(p) and str(p).startswith(f"{shown}:")
    ]
    assert matching, f"expected line {line}: ...{substring}... in {shown}; got:\n{listing(problems)}"


def test_bad_corpus_files_are_reported_together():
    """Loading the whole corpus at once reports every file's problems in one go."""
    problems = problems_of([CORPUS / "bad"])
    reported = {p.file for p in problems}
    # A folder walk skips files holding no manifest; every other file is reported.
    skipped = {p for p in BAD if expectation(p)[1].startswith("no manifest")}
    for path in set(BAD) - skipped:
        assert display_path(str(path)) in reported, path.name


def test_alias_bomb_is_rejected_not_expanded():
    bomb = CORPUS / "bad" / "alias-billion-laughs.yaml"
    problems = problems_of([bomb])
    assert any("alias bomb" in str(p) for p in problems)


def test_merge_key_bomb_is_rejected_not_expanded(tmp_path: Path):
    levels = "".join(f"  l{i}: &l{i} {{<<: [*l{i - 1}, *l{i - 1}], k{i}: {i}}}\n" for i in range(1, 60))
    path = write(tmp_path / "bomb.yaml", MANIFEST.format(name="bomb") + "  config:\n    x:\n      l0: &l0 {k: 0}\n"
                 + levels.replace("  l", "      l"))
    problems = problems_of([path])
    assert any("alias bomb" in str(p) for p in problems), listing(problems)


def test_file_over_one_mib_is_rejected(tmp_path: Path):
    text = MANIFEST.format(name="big") + "#" * (MAX_FILE_BYTES + 1 - len(MANIFEST.format(name="big")))
    path = write(tmp_path / "big.yaml", text)
    assert path.stat().st_size == MAX_FILE_BYTES + 1
    (problem,) = problems_of([path])
    assert problem.line == 0 and "larger than 1 MiB" in str(problem) and str(path) in str(problem)


def test_file_of_exactly_one_mib_is_accepted(tmp_path: Path):
    head = MANIFEST.format(name="big") + "# padding\n"
    path = write(tmp_path / "big.yaml", head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert [m.name for m in load([str(path)], environ={})] == ["big"]


def test_non_utf8_bytes_are_rejected_with_their_line(tmp_path: Path):
    path = write(tmp_path / "latin1.yaml", (MANIFEST.format(name="cafe") + "  description: caf\xe9\n").encode("latin-1"))
    (problem,) = problems_of([path])
    assert problem.line == 7
    assert "not UTF-8" in str(problem) and "0xe9" in str(problem)


def test_utf8_with_bom_is_accepted(tmp_path: Path):
    path = write(tmp_path / "bom.yaml", b"\xef\xbb\xbf" + MANIFEST.format(name="bom").encode())
    assert [m.name for m in load([str(path)], environ={})] == ["bom"]


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"], ids=["nul", "bell", "escape"])
def test_control_characters_are_rejected_on_one_line(tmp_path: Path, char: str):
    path = write(tmp_path / "ctrl.yaml", MANIFEST.format(name="ctrl") + f"  description: a{char}b\n")
    (problem,) = problems_of([path])
    assert problem.line == 7
    assert "unacceptable character" in str(problem)


def test_zero_byte_file_named_explicitly_is_an_error(tmp_path: Path):
    path = write(tmp_path / "empty.yaml", b"")
    (problem,) = problems_of([path])
    assert problem.line == 0 and "no manifest in this file" in str(problem)


def test_comment_only_file_in_a_folder_is_skipped(tmp_path: Path):
    write(tmp_path / "empty.yaml", "# nothing here\n")
    write(tmp_path / "a.yaml", MANIFEST.format(name="a"))
    assert [m.name for m in load([str(tmp_path)], environ={})] == ["a"]


def test_missing_path_is_an_error(tmp_path: Path):
    (problem,) = problems_of([tmp_path / "nope.yaml"])
    assert "no such file or directory" in str(problem)


def test_duplicate_name_across_two_files_names_both(tmp_path: Path):
    a = write(tmp_path / "a.yaml", MANIFEST.format(name="blog"))
    b = write(tmp_path / "team" / "b.yaml", "# another team's copy\n" + MANIFEST.format(name="blog"))
    problems = problems_of([tmp_path])
    (problem,) = [p for p in problems if "duplicate name" in str(p)]
    assert str(b) in str(problem) and str(a) in str(problem), str(problem)
    assert problem.path == "metadata.name"
    assert problem.line == 5  # metadata.name in b.yaml (after its comment line)
    assert f"{a}:4" in str(problem)


def test_two_manifests_claiming_one_assistant_id(tmp_path: Path):
    aid = "6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
    with_id = "apiVersion: assistant-controller/v1\nkind: Assistant\nmetadata:\n  name: {name}\n  assistantId: {aid}\nspec:\n  graph: writer\n"
    a = write(tmp_path / "a.yaml", with_id.format(name="one", aid=aid))
    b = write(tmp_path / "b.yaml", with_id.format(name="two", aid=aid.upper()))
    problems = problems_of([a, b])
    (problem,) = problems
    assert problem.file == str(b) and problem.line == 5 and problem.path == "metadata.assistantId"
    assert "also claimed by 'one'" in str(problem) and str(a) in str(problem)


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path):
    path = write(tmp_path / "three.yaml", """\
apiVersion: assistant-controller/v1
kind: Assistant
metadata:
  name: three
  lables: {team: a}
spec:
  graph: writer
  confg: {}
  activeVersion: 0
""")
    problems = problems_of([path])
    assert [(p.line, p.path) for p in problems] == [
        (5, "metadata.lables"), (8, "spec.confg"), (9, "spec.activeVersion"),
    ], listing(problems)
    assert "did you mean 'labels'" in str(problems[0])
    assert "did you mean 'config'" in str(problems[1])


def test_unset_variables_and_schema_problems_are_reported_together(tmp_path: Path):
    path = write(tmp_path / "mixed.yaml", """\
apiVersion: assistant-controller/v1
kind: Assistant
metadata:
  name: mixed
spec:
  graph: writer
  description: ${NOPE}
  confg: {}
  smoke:
    - name: c
      input: {}
      timeout: ${TIMEOUT}
""")
    problems = problems_of([path])
    # The unresolved timeout is reported once, as unset, not again as an invalid duration.
    assert [(p.line, p.path) for p in problems] == [
        (7, "spec.description"), (8, "spec.confg"), (12, "spec.smoke[0].timeout"),
    ], listing(problems)
    assert "variable NOPE is not set" in str(problems[0])
    assert "variable TIMEOUT is not set" in str(problems[2])


def test_problems_of_several_files_and_documents_are_reported_together(tmp_path: Path):
    a = write(tmp_path / "a.yaml", MANIFEST.format(name="a") + "  confg: {}\n---\n" + MANIFEST.format(name="Bad"))
    b = write(tmp_path / "b.yaml", "key: [unclosed\n")
    c = write(tmp_path / "c.yaml", MANIFEST.format(name="c"))
    problems = problems_of([a, b, c])
    assert [(p.file, p.line) for p in problems] == [(str(a), 7), (str(a), 12), (str(b), 2)], listing(problems)


def test_invalid_input_lists_problems_in_file_and_line_order(tmp_path: Path):
    write(tmp_path / "b.yaml", MANIFEST.format(name="b") + "  x: 1\n")
    write(tmp_path / "a.yaml", MANIFEST.format(name="a") + "  y: 1\n  z: 2\n")
    problems = problems_of([tmp_path])
    assert [(Path(p.file).name, p.line) for p in problems] == [("a.yaml", 7), ("a.yaml", 8), ("b.yaml", 7)]


# --- good input --------------------------------------------------------------------


def test_example_manifests_load():
    loaded = load([str(EXAMPLES)], environ={})
    names = {m.name for m in loaded}
    assert {"blog-writer", "support-bot", "tweet-writer"} <= names
    assert all(m.file.endswith((".yaml", ".yml")) for m in loaded)
    assert not any(Path(m.file).name == "controller.yaml" for m in loaded)  # kind: Config is skipped
    blog = next(m for m in loaded if m.name == "blog-writer")
    assert blog.manifest.spec.config["configurable"]["model"] == "anthropic:claude-sonnet"  # the default


def test_good_corpus_folder_walk():
    loaded = load([str(GOOD)], environ={})
    # docker-compose.yml and controller.yaml (kind: Config) are skipped; .yml files and subfolders found.
    assert [(Path(m.file).name, m.name, m.line) for m in loaded] == [
        ("anchors.yaml", "writer-a", 3),
        ("anchors.yaml", "writer-b", 34),
        ("support.yml", "support", 2),
    ]


def test_anchors_aliases_and_merge_keys():
    a, b = load([str(GOOD / "anchors.yaml")], environ={})
    spec = a.manifest.spec
    assert spec.config["configurable"] == {"model": "m1", "style": "blog", "released": "2024-01-31T10:00:00Z"}
    assert spec.metadata == {
        "team": "content",
        "tier": "2",  # written beside the merge key: overrides the merged value
        "base": spec.config["configurable"],
        "tags": ["a", "b"],
    }
    assert a.manifest.metadata.labels == {"team": "content", "tier": "1"}
    first, again = spec.smoke
    assert (first.name, again.name) == ("writes", "writes again")
    assert again.input == first.input == {"text": "hi"}
    assert [e.model_dump(exclude_unset=True) for e in again.expect] == [{"path": "out", "exists": True}]
    assert (first.timeout, again.timeout) == (60.0, 5.0)
    # In a list of merges the first mapping wins; keys written beside << win over all.
    assert b.manifest.spec.config["configurable"] == {"model": "m2", "signature": "team", "style": "short"}
    assert b.manifest.spec.metadata == {"copy": {"model": "m2", "style": "tweet"}}


def test_merged_values_keep_the_line_where_they_are_written(tmp_path: Path):
    path = write(tmp_path / "m.yaml", """\
apiVersion: assistant-controller/v1
kind: Assistant
metadata:
  name: merged
  labels: &defaults
    recursion_limit: "5"
spec:
  graph: writer
  config:
    <<: *defaults
""")
    (problem,) = problems_of([path])
    assert (problem.line, problem.path) == (6, "spec.config.recursion_limit"), str(problem)


def test_duplicate_key_is_an_error_but_a_merged_key_may_be_overridden(tmp_path: Path):
    ok = MANIFEST.format(name="ok") + "  config:\n    configurable:\n      <<: {model: a}\n      model: b\n"
    assert load_one(tmp_path, ok).manifest.spec.config["configurable"] == {"model": "b"}
    bad = write(tmp_path / "bad.yaml", ok + "      model: c\n")
    (problem,) = problems_of([bad])
    assert problem.line == 11 and "duplicate key 'model'" in str(problem)


def test_same_anchor_used_twice_is_not_recursion(tmp_path: Path):
    text = MANIFEST.format(name="twice") + "  config:\n    configurable:\n      a: &x {k: [1, 2]}\n      b: *x\n      c: [*x, *x]\n"
    configurable = load_one(tmp_path, text).manifest.spec.config["configurable"]
    assert configurable == {"a": {"k": [1, 2]}, "b": {"k": [1, 2]}, "c": [{"k": [1, 2]}, {"k": [1, 2]}]}


def test_dates_and_times_stay_strings(tmp_path: Path):
    text = MANIFEST.format(name="dates") + (
        "  description: 2024-01-31\n"
        "  metadata:\n    released: 2024-01-31T10:00:00Z\n    2024-02-01: a date as a key\n"
    )
    spec = load_one(tmp_path, text).manifest.spec
    assert spec.description == "2024-01-31"
    assert spec.metadata == {"released": "2024-01-31T10:00:00Z", "2024-02-01": "a date as a key"}


def test_scalar_types_follow_yaml_and_keys_become_strings(tmp_path: Path):
    text = MANIFEST.format(name="types") + (
        "  metadata: {n: 1, f: 1.5, b: true, z: null, s: '1', 7: seven, true: yes, ~: nothing}\n"
    )
    metadata = load_one(tmp_path, text).manifest.spec.metadata
    assert metadata == {
        "n": 1, "f": 1.5, "b": True, "z": None, "s": "1", "7": "seven", "true": True, "null": "nothing",
    }


def test_multi_document_file_and_line_of_each_document(tmp_path: Path):
    text = (
        "# two assistants\n" + MANIFEST.format(name="one")
        + "---\n" + MANIFEST.format(name="two")
        + "---\n# a non-manifest document in the same file is skipped\nnote: hello\n"
        + "---\n"  # an empty document
    )
    path = write(tmp_path / "multi.yaml", text)
    loaded = load([str(path)], environ={})
    assert [(m.name, m.line) for m in loaded] == [("one", 2), ("two", 9)]
    assert loaded[1].location == f"{display_path(str(path))}:9"


def test_folder_walk_skips_other_yaml_hidden_and_tool_folders(tmp_path: Path):
    write(tmp_path / "assistants" / "a.yaml", MANIFEST.format(name="a"))
    write(tmp_path / "assistants" / "b.yml", MANIFEST.format(name="b"))
    write(tmp_path / "docker-compose.yml", "services:\n  web: {image: nginx}\n")
    write(tmp_path / ".github" / "workflows" / "ci.yaml", "on: push\njobs: {}\n")
    write(tmp_path / "controller.yaml", "apiVersion: assistant-controller/v1\nkind: Config\nowner: x\n")
    write(tmp_path / "list.yaml", "- 1\n- 2\n")
    write(tmp_path / "scalar.yaml", "hello\n")
    write(tmp_path / "notes.txt", "apiVersion: assistant-controller/v1\n")
    for skipped in (".controller", ".venv", "node_modules", ".hidden", ".langgraph_api"):
        write(tmp_path / skipped / "bad.yaml", MANIFEST.format(name="Bad_Name"))
    loaded = load([str(tmp_path)], environ={})
    assert sorted(m.name for m in loaded) == ["a", "b"]


def test_a_file_given_twice_is_loaded_once(tmp_path: Path):
    path = write(tmp_path / "a.yaml", MANIFEST.format(name="a"))
    assert [m.name for m in load([str(path), str(tmp_path), str(path)], environ={})] == ["a"]


def test_config_document_named_explicitly_is_not_an_error(tmp_path: Path):
    path = write(tmp_path / "controller.yaml", "apiVersion: assistant-controller/v1\nkind: Config\n")
    assert load([str(path)], environ={}) == []


# --- interpolation -----------------------------------------------------------------

INTERP = MANIFEST.format(name="interp") + "  config:\n    configurable:\n      model: {value}\n"
MODEL = ("spec", "config", "configurable", "model")


def test_values_beat_the_environment(tmp_path: Path):
    item = load_one(tmp_path, INTERP.format(value="${MODEL}"), values={"MODEL": "from-values"}, environ={"MODEL": "from-env"})
    assert item.manifest.spec.config["configurable"]["model"] == "from-values"
    assert item.sensitive == frozenset() and item.templates == {}


def test_a_value_from_the_environment_is_sensitive(tmp_path: Path):
    item = load_one(tmp_path, INTERP.format(value="key-${API_KEY}-end"), environ={"API_KEY": "s3cret"})
    assert item.manifest.spec.config["configurable"]["model"] == "key-s3cret-end"
    assert item.sensitive == frozenset({MODEL})
    assert item.templates == {MODEL: "key-${API_KEY}-end"}


def test_mixing_values_and_environment_in_one_string_is_sensitive(tmp_path: Path):
    item = load_one(tmp_path, INTERP.format(value="${A}/${B}"), values={"A": "a"}, environ={"B": "b"})
    assert item.manifest.spec.config["configurable"]["model"] == "a/b"
    assert item.sensitive == frozenset({MODEL}) and item.templates[MODEL] == "${A}/${B}"


def test_default_is_used_when_unset_and_is_still_sensitive(tmp_path: Path):
    # an earlier run with MODEL set wrote the secret: the path stays masked whichever branch was taken
    item = load_one(tmp_path, INTERP.format(value="${MODEL:-anthropic:claude}"), environ={"OTHER": "x"})
    assert item.manifest.spec.config["configurable"]["model"] == "anthropic:claude"
    assert item.sensitive == frozenset({MODEL}) and item.templates == {MODEL: "${MODEL:-anthropic:claude}"}
    empty = load_one(tmp_path, INTERP.format(value="'x${MODEL:-}y'"))
    assert empty.manifest.spec.config["configurable"]["model"] == "xy"


def test_default_is_overridden_by_values_and_environment(tmp_path: Path):
    text = INTERP.format(value="${MODEL:-fallback}")
    by_values = load_one(tmp_path, text, values={"MODEL": "v"}, environ={"MODEL": "e"})
    assert by_values.manifest.spec.config["configurable"]["model"] == "v" and not by_values.sensitive
    by_env = load_one(tmp_path, text, environ={"MODEL": "e"})
    assert by_env.manifest.spec.config["configurable"]["model"] == "e" and by_env.sensitive == {MODEL}


def test_double_dollar_escapes(tmp_path: Path):
    item = load_one(tmp_path, INTERP.format(value="'$${MODEL} costs $$5 or $5'"), environ={"MODEL": "x"})
    assert item.manifest.spec.config["configurable"]["model"] == "${MODEL} costs $$5 or $5"
    assert item.sensitive == frozenset()


def test_interpolation_is_in_string_values_only(tmp_path: Path):
    text = MANIFEST.format(name="keys") + "  metadata:\n    ${KEY}: 1\n    n: 2\n"
    item = load_one(tmp_path, text, values={"KEY": "k"})
    assert item.manifest.spec.metadata == {"${KEY}": 1, "n": 2}


def test_interpolation_reaches_lists_and_block_scalars(tmp_path: Path):
    text = MANIFEST.format(name="deep") + (
        "  config:\n    tags: [a, '${TAG}']\n    configurable:\n      prompt: |\n        Hello ${WHO}.\n"
    )
    item = load_one(tmp_path, text, values={"TAG": "t"}, environ={"WHO": "world"})
    assert item.manifest.spec.config["tags"] == ["a", "t"]
    assert item.manifest.spec.config["configurable"]["prompt"] == "Hello world.\n"
    assert item.sensitive == frozenset({("spec", "config", "configurable", "prompt")})


def test_environment_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONTROLLER_TEST_MODEL", "from-os")
    path = write(tmp_path / "m.yaml", INTERP.format(value="${CONTROLLER_TEST_MODEL}"))
    (item,) = load([str(path)])
    assert item.manifest.spec.config["configurable"]["model"] == "from-os"
    assert item.sensitive == frozenset({MODEL})


def test_unset_variable_names_variable_file_and_line(tmp_path: Path):
    path = write(tmp_path / "m.yaml", INTERP.format(value="${NOPE}"))
    (problem,) = problems_of([path], values={"OTHER": "x"})
    assert str(problem).startswith(f"{path}:9: spec.config.configurable.model: variable NOPE is not set")


def test_problem_paths_stay_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path / "assistants" / "m.yaml", MANIFEST.format(name="m") + "  confg: {}\n")
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of(["assistants"])
    assert str(problem) == (
        f"{os.path.join('assistants', 'm.yaml')}:7: spec.confg: unknown field (did you mean 'config'?)"
    )


def test_a_store_in_memory_reloads_only_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import controller.config.loader as loader
    from controller.config.store import LoadStore

    a = write(tmp_path / "a.yaml", MANIFEST.format(name="a"))
    b = write(tmp_path / "b.yaml", MANIFEST.format(name="b"))
    parsed: list[str] = []
    real = loader.load_documents
    monkeypatch.setattr(loader, "load_documents", lambda text: parsed.append(text) or real(text))
    store = LoadStore(None)  # a watch's: kept for the process only
    first = load([str(tmp_path)], environ={}, store=store)
    assert len(parsed) == 2
    b.write_text(MANIFEST.format(name="b") + "  description: changed\n")
    second = load([str(tmp_path)], environ={}, store=store)
    assert len(parsed) == 3 and "changed" in parsed[-1]  # only b was parsed again
    assert [m.name for m in second] == [m.name for m in first] == ["a", "b"]
    assert second[1].manifest.spec.description == "changed"
    a.unlink()
    assert [m.name for m in load([str(tmp_path)], environ={}, store=store)] == ["b"]
    assert not (tmp_path / ".controller").exists()  # nothing written: a store without a folder
