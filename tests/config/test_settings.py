"""controller.yaml discovery, target resolution, API keys and owner."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from controller.config.settings import (
    API_KEY_ENVS,
    OwnerRequired,
    TargetSpec,
    git_revision,
    git_toplevel,
    load_settings,
)
from controller.core.errors import InvalidInput, Problem
from controller.engine.pipeline import Workspace

CONFIG = """\
apiVersion: assistant-controller/v1
kind: Config
owner: acme-agents
defaultTarget: local
targets:
  local: {embedded: .controller/state.db, graphs: ./langgraph.json}
  staging: {url: "https://staging.example.com/", apiKeyEnv: STAGING_KEY, values: {MODEL: "openai:gpt-4.1-mini"}}
  prod: {url: https://prod.example.com, smoke: before, maxDeletes: 3, concurrency: 2}
"""


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)
    return path


def invalid(call, *args, **kwargs) -> list[Problem]:
    with pytest.raises(InvalidInput) as info:
        call(*args, **kwargs)
    for problem in info.value.problems:
        assert "\n" not in str(problem)
    return info.value.problems


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree named acme, manifests two folders down."""
    root = git_init(tmp_path / "acme")
    (root / "deploy" / "assistants").mkdir(parents=True)
    return root


@pytest.fixture(autouse=True)
def no_controller_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTROLLER_TARGET", raising=False)
    monkeypatch.delenv("CONTROLLER_OWNER", raising=False)


# --- discovery ---------------------------------------------------------------------


def test_config_is_found_by_walking_up(repo: Path):
    config = write(repo / "controller.yaml", CONFIG)
    settings = load_settings(cwd=str(repo / "deploy" / "assistants"))
    assert settings.config_file == str(config)
    assert settings.root == str(repo)
    assert settings.owner == "acme-agents"
    assert settings.config is not None and set(settings.config.targets) == {"local", "staging", "prod"}


def test_the_yml_spelling_is_found_too(repo: Path):
    config = write(repo / "controller.yml", CONFIG)
    assert load_settings(cwd=str(repo / "deploy")).config_file == str(config)


def test_the_nearest_config_wins(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    near = write(repo / "deploy" / "controller.yaml", CONFIG.replace("acme-agents", "deploy-team"))
    settings = load_settings(cwd=str(repo / "deploy" / "assistants"))
    assert settings.config_file == str(near) and settings.owner == "deploy-team"


def test_walking_up_stops_at_the_git_root(tmp_path: Path):
    write(tmp_path / "controller.yaml", CONFIG)  # outside the repository: not ours
    repo = git_init(tmp_path / "project")
    (repo / "assistants").mkdir()
    settings = load_settings(cwd=str(repo / "assistants"))
    assert settings.config_file is None and settings.config is None
    assert settings.owner == "project"


def test_paths_default_to_the_working_directory(repo: Path, monkeypatch: pytest.MonkeyPatch):
    config = write(repo / "controller.yaml", CONFIG)
    monkeypatch.chdir(repo / "deploy")
    settings = load_settings()
    assert os.path.samefile(settings.config_file, config)


def test_config_flag_overrides_discovery(repo: Path, tmp_path: Path):
    write(repo / "controller.yaml", CONFIG)
    other = write(tmp_path / "elsewhere" / "ci.yaml", CONFIG.replace("acme-agents", "ci-owner"))
    settings = load_settings(cwd=str(repo / "deploy" / "assistants"), config_file=str(other))
    assert settings.config_file == str(other)
    assert settings.owner == "ci-owner"
    assert settings.root == str(tmp_path / "elsewhere")
    local = settings.target()
    assert local.embedded == str(tmp_path / "elsewhere" / ".controller" / "state.db")
    assert local.graphs == str(tmp_path / "elsewhere" / "langgraph.json")


def test_relative_config_flag_gives_absolute_paths(repo: Path, monkeypatch: pytest.MonkeyPatch):
    write(repo / "conf" / "controller.yaml", CONFIG)
    monkeypatch.chdir(repo)
    spec = load_settings(config_file=os.path.join("conf", "controller.yaml")).target()
    assert spec.embedded == str(repo / "conf" / ".controller" / "state.db")
    assert os.path.isabs(spec.graphs)


def test_missing_config_flag_file_is_an_error(tmp_path: Path):
    (problem,) = invalid(load_settings, cwd=str(tmp_path), config_file=str(tmp_path / "nope.yaml"))
    assert "cannot read" in str(problem) and "nope.yaml" in str(problem)


# --- validation of controller.yaml --------------------------------------------------


def test_default_target_must_exist(repo: Path):
    config = write(repo / "controller.yaml", CONFIG.replace("defaultTarget: local", "defaultTarget: staging-eu"))
    (problem,) = invalid(load_settings, cwd=str(repo))
    assert (problem.file, problem.line, problem.path) == (str(config), 4, "defaultTarget")
    assert "'staging-eu' is not one of the targets (local, staging, prod)" in str(problem)


@pytest.mark.parametrize(
    "target, line",
    [("both: {embedded: a.db, url: 'https://x.example.com'}", 6), ("neither: {values: {A: b}}", 6)],
    ids=["both", "neither"],
)
def test_a_target_needs_exactly_one_of_embedded_or_url(repo: Path, target: str, line: int):
    config = write(repo / "controller.yaml", f"apiVersion: assistant-controller/v1\nkind: Config\ntargets:\n  ok: {{embedded: a.db}}\n  # next\n  {target}\n")
    (problem,) = invalid(load_settings, cwd=str(repo))
    name = target.split(":")[0]
    assert str(problem) == f"{config}:{line}: targets.{name}: give exactly one of embedded or url"


def test_all_target_problems_are_reported_together(repo: Path):
    write(repo / "controller.yaml", """\
apiVersion: assistant-controller/v1
kind: Config
targets:
  a: {embedded: a.db, url: "http://a"}
  b: {}
  c:
    url: http://c
    graphs: ./langgraph.json
  d: {embeded: d.db}
""")
    problems = invalid(load_settings, cwd=str(repo))
    assert [(p.line, p.path) for p in problems] == [
        (4, "targets.a"), (5, "targets.b"), (8, "targets.c.graphs"), (9, "targets.d.embeded"),
    ], [str(p) for p in problems]
    assert "only for embedded targets" in str(problems[2])
    assert "did you mean 'embedded'?" in str(problems[3])


def test_unknown_field_in_config_has_did_you_mean(repo: Path):
    write(repo / "controller.yaml", CONFIG.replace("defaultTarget:", "defaultTarge:"))
    problems = invalid(load_settings, cwd=str(repo))
    assert any(p.line == 4 and "defaultTarge: unknown field (did you mean 'defaultTarget'?)" in str(p) for p in problems)


def test_yaml_error_in_config_has_its_line(repo: Path):
    write(repo / "controller.yaml", "apiVersion: assistant-controller/v1\nkind: Config\ntargets:\n  local: {embedded: a.db\n")
    (problem,) = invalid(load_settings, cwd=str(repo))
    assert problem.line == 5 and "YAML syntax" in str(problem)


def test_config_file_without_a_config_document(repo: Path):
    write(repo / "controller.yaml", "services: {}\n")
    (problem,) = invalid(load_settings, cwd=str(repo))
    assert "expected exactly one document with kind: Config" in str(problem)


# --- picking a target ----------------------------------------------------------------


def test_unknown_target_lists_the_targets(repo: Path):
    config = write(repo / "controller.yaml", CONFIG)
    settings = load_settings(cwd=str(repo))
    (problem,) = invalid(settings.target, "staging-eu", environ={})
    assert str(problem) == f"unknown target 'staging-eu' (targets in {config}: local, staging, prod)"


def test_unknown_target_without_config(repo: Path):
    (problem,) = invalid(load_settings(cwd=str(repo)).target, "prod", environ={})
    assert "unknown target 'prod'" in str(problem) and "no controller.yaml" in str(problem)


def test_default_target_and_explicit_choice(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    settings = load_settings(cwd=str(repo))
    assert settings.target(environ={}).name == "local"
    prod = settings.target("prod", environ={})
    assert (prod.kind, prod.url, prod.smoke, prod.max_deletes, prod.concurrency) == (
        "remote", "https://prod.example.com", "before", 3, 2,
    )
    staging = settings.target("staging", environ={}, concurrency=16)
    assert staging.url == "https://staging.example.com"  # trailing slash dropped
    assert dict(staging.values) == {"MODEL": "openai:gpt-4.1-mini"}
    assert staging.concurrency == 16 and staging.max_deletes == 10 and staging.smoke == "after"


def test_controller_target_env_picks_a_target(repo: Path, monkeypatch: pytest.MonkeyPatch):
    write(repo / "controller.yaml", CONFIG)
    settings = load_settings(cwd=str(repo))
    assert settings.target(environ={"CONTROLLER_TARGET": "staging"}).name == "staging"
    assert settings.target("prod", environ={"CONTROLLER_TARGET": "staging"}).name == "prod"  # -t wins
    monkeypatch.setenv("CONTROLLER_TARGET", "prod")
    assert settings.target().name == "prod"  # os.environ by default
    (problem,) = invalid(settings.target, environ={"CONTROLLER_TARGET": "qa"})
    assert "unknown target 'qa'" in str(problem)


def test_a_single_target_is_the_default(repo: Path):
    write(repo / "controller.yaml", "apiVersion: assistant-controller/v1\nkind: Config\ntargets:\n  only: {url: http://h:1}\n")
    assert load_settings(cwd=str(repo)).target(environ={}).name == "only"


def test_url_alone_is_an_ad_hoc_target_that_says_which_values_it_does_not_use(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    spec = load_settings(cwd=str(repo)).target(url="http://127.0.0.1:2024/", environ={})
    assert (spec.kind, spec.url, spec.api_key_env, spec.embedded, dict(spec.values)) == (
        "remote", "http://127.0.0.1:2024", None, None, {})
    (note,) = spec.notes
    assert "no target of controller.yaml" in note and "MODEL" in note and "-t NAME" in note
    assert "openai" not in note  # names the variables, never their values


def test_url_alone_that_a_target_has_is_that_target(repo: Path):
    """A service deployed with the URL and a CI job run with -t write the same content."""
    write(repo / "controller.yaml", CONFIG)
    spec = load_settings(cwd=str(repo)).target(url="https://staging.example.com", environ={})
    assert (spec.name, spec.api_key_env, dict(spec.values), spec.notes) == (
        "staging", "STAGING_KEY", {"MODEL": "openai:gpt-4.1-mini"}, ())


def test_a_named_target_at_another_url_keeps_its_settings(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    settings = load_settings(cwd=str(repo))
    for spec in (settings.target("prod", url="http://10.0.0.7:8000/", environ={}),
                 settings.target(url="http://10.0.0.7:8000", environ={"CONTROLLER_TARGET": "prod"})):
        assert (spec.name, spec.url, spec.smoke, spec.max_deletes, spec.concurrency) == (
            "prod", "http://10.0.0.7:8000", "before", 3, 2)
        assert spec.url_source == "--url"
    with pytest.raises(InvalidInput, match="target 'local' is embedded; --url names an Agent Server"):
        settings.target("local", url="http://127.0.0.1:2024", environ={})


def test_default_target_without_config_is_embedded_at_the_git_top_level(repo: Path):
    graphs = write(repo / "langgraph.json", "{}")
    write(repo / "deploy" / "langgraph.json", "{}")  # below the root: not the project's
    settings = load_settings(cwd=str(repo / "deploy" / "assistants"))
    assert settings.config_file is None and settings.root == str(repo)
    spec = settings.target(environ={})
    assert spec.name == "default" and spec.kind == "embedded"
    assert spec.embedded == str(repo / ".controller" / "state.db")
    assert spec.graphs == str(graphs)
    assert spec.label.startswith("embedded ")


def test_embedded_target_from_config_defaults_graphs_to_nearest_langgraph_json(repo: Path):
    write(repo / "controller.yaml", "apiVersion: assistant-controller/v1\nkind: Config\ntargets:\n  local: {embedded: state/db.sqlite}\n")
    graphs = write(repo / "langgraph.json", "{}")
    spec = load_settings(cwd=str(repo / "deploy")).target(environ={})
    assert spec.embedded == str(repo / "state" / "db.sqlite")
    assert spec.graphs == str(graphs)


# --- API keys ------------------------------------------------------------------------


def test_api_key_default_order():
    spec = TargetSpec(name="t", url="http://x")
    assert API_KEY_ENVS == ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")
    every = {"LANGGRAPH_API_KEY": "lg", "LANGSMITH_API_KEY": "ls", "LANGCHAIN_API_KEY": "lc"}
    assert spec.api_key(every) == "lg"
    assert spec.api_key({"LANGSMITH_API_KEY": "ls", "LANGCHAIN_API_KEY": "lc"}) == "ls"
    assert spec.api_key({"LANGCHAIN_API_KEY": "lc"}) == "lc"
    assert spec.api_key({"LANGGRAPH_API_KEY": "  ", "LANGCHAIN_API_KEY": "lc"}) == "lc"  # blank counts as unset
    assert spec.api_key({}) is None


@pytest.mark.parametrize("raw", ["sk-123", "  sk-123\n", '"sk-123"', "'sk-123'", ' " sk-123 " '])
def test_api_key_whitespace_and_quotes_are_stripped(raw: str):
    assert TargetSpec(name="t", url="http://x").api_key({"LANGSMITH_API_KEY": raw}) == "sk-123"


def test_api_key_from_the_named_variable_only(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    staging = load_settings(cwd=str(repo)).target("staging", environ={})
    assert staging.api_key_env == "STAGING_KEY"
    assert staging.api_key({"STAGING_KEY": "'st-1'", "LANGSMITH_API_KEY": "ls"}) == "st-1"
    assert staging.api_key({"LANGSMITH_API_KEY": "ls"}) is None  # named: no fallback to the defaults


def test_api_key_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch):
    for name in API_KEY_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGCHAIN_API_KEY", "from-os")
    assert TargetSpec(name="t", url="http://x").api_key() == "from-os"


def test_api_key_is_never_part_of_the_target_description(repo: Path):
    spec = TargetSpec(name="t", url="http://x", api_key_env="K")
    assert "secret" not in repr(spec) + spec.label
    assert spec.api_key({"K": "secret"}) == "secret"


# --- owner ---------------------------------------------------------------------------


def test_owner_from_config(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    assert load_settings(cwd=str(repo)).owner == "acme-agents"


def test_owner_defaults_to_the_project_root_folder_name(repo: Path):
    write(repo / "deploy" / "controller.yaml", CONFIG.replace("owner: acme-agents\n", ""))
    settings = load_settings(cwd=str(repo / "deploy" / "assistants"))
    assert settings.config_file is not None and settings.config.owner is None
    assert settings.owner == "deploy"  # the root is the config's folder
    assert settings.owner_label == "owner 'deploy' (default: name of the project root folder)"
    assert not settings.owner_explicit


def test_owner_without_config_is_the_git_folder_name(repo: Path):
    assert load_settings(cwd=str(repo / "deploy" / "assistants")).owner == "acme"


def test_owner_outside_git_is_the_folder_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never find a work tree above it
    assert git_toplevel(str(tmp_path)) is None
    folder = tmp_path / "team-bots"
    folder.mkdir()
    assert load_settings(cwd=str(folder)).owner == "team-bots"


def test_invalid_owner_is_an_error(repo: Path):
    write(repo / "controller.yaml", CONFIG.replace("owner: acme-agents", "owner: 'acme agents'"))
    (problem,) = invalid(load_settings, cwd=str(repo))
    assert problem.line == 3 and problem.path == "owner"


def test_owner_precedence_flag_then_environment_then_config(repo: Path):
    write(repo / "controller.yaml", CONFIG)
    env = {"CONTROLLER_OWNER": "from-env"}
    flag = load_settings(cwd=str(repo), owner="from-flag", environ=env)
    assert (flag.owner, flag.owner_label) == ("from-flag", "owner 'from-flag' (--owner)")
    from_env = load_settings(cwd=str(repo), environ=env)
    assert (from_env.owner, from_env.owner_label) == ("from-env", "owner 'from-env' (CONTROLLER_OWNER)")
    config = load_settings(cwd=str(repo), environ={"CONTROLLER_OWNER": "  "})  # blank counts as unset
    assert (config.owner, config.owner_label) == ("acme-agents", "owner 'acme-agents' (controller.yaml)")
    assert flag.owner_explicit and from_env.owner_explicit and config.owner_explicit


@pytest.mark.parametrize("source", ["--owner", "CONTROLLER_OWNER"])
def test_invalid_owner_from_flag_or_environment_is_an_error(repo: Path, source: str):
    kwargs = {"owner": "acme agents"} if source == "--owner" else {"environ": {"CONTROLLER_OWNER": "acme agents"}}
    (problem,) = invalid(load_settings, cwd=str(repo), **kwargs)
    assert str(problem).startswith(f"{source}: invalid owner 'acme agents'")


def test_a_remote_target_needs_an_explicit_owner(repo: Path):
    settings = load_settings(cwd=str(repo), environ={})
    remote = settings.target(url="http://127.0.0.1:9", environ={})
    with pytest.raises(OwnerRequired) as info:
        settings.require_owner(remote)
    assert str(info.value) == (
        "no owner for the remote target http://127.0.0.1:9: "
        "set owner: in controller.yaml, or pass --owner NAME, or set CONTROLLER_OWNER"
    )
    settings.require_owner(settings.target(environ={}))  # embedded: the folder name will do
    load_settings(cwd=str(repo), owner="ci", environ={}).require_owner(remote)


def test_the_root_never_comes_from_a_path_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    project = tmp_path / "project"
    (project / "assistants").mkdir(parents=True)
    monkeypatch.chdir(project)
    ws = Workspace.load(["assistants"])
    assert ws.settings.root == str(project) and ws.settings.owner == "project"
    assert ws.spec.embedded == str(project / ".controller" / "state.db")


def test_revision_is_marked_dirty_when_a_manifest_is_not_committed(repo: Path):
    manifest = write(repo / "a.yaml", "one\n")
    other = write(repo / "b.yaml", "two\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "x"], check=True, env=env)
    sha = git_revision(str(repo), [str(manifest)])
    assert sha is not None and len(sha) == 40
    other.write_text("changed\n")
    assert git_revision(str(repo), [str(manifest)]) == sha  # only the loaded manifests count
    assert git_revision(str(repo), [str(manifest), str(other)]) == f"{sha}-dirty"
    new = write(repo / "c.yaml", "new\n")
    assert git_revision(str(repo), [str(manifest), str(new)]) == f"{sha}-dirty"  # untracked


def test_write_timeout_reaches_the_remote_target_and_is_refused_on_an_embedded_one(repo: Path):
    from controller.targets import connect

    write(repo / "controller.yaml", CONFIG.replace("concurrency: 2}", "concurrency: 2, writeTimeout: 45}"))
    settings = load_settings(cwd=str(repo))
    prod, staging = connect(settings.target("prod"), {}), connect(settings.target("staging"), {"STAGING_KEY": "k"})
    assert (prod.write_timeout, prod.settle_window) == (45, 90)  # type: ignore[attr-defined]
    assert staging.write_timeout == 120  # type: ignore[attr-defined]
    write(repo / "controller.yaml", CONFIG.replace("graphs: ./langgraph.json}", "graphs: ./langgraph.json, writeTimeout: 5}"))
    (problem,) = invalid(load_settings, cwd=str(repo))
    assert (problem.line, problem.path) == (6, "targets.local.writeTimeout")
    assert "only for url targets" in str(problem)
