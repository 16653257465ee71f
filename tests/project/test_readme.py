"""The README's examples are runnable: this runs them as they are written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import GIT_IDENTITY, ROOT

README = (ROOT / "README.md").read_text()


def test_tour_runs_as_written(tmp_path: Path):
    block = re.search(r"<!-- readme-test -->\s*```bash\n(.*?)```", README, re.S)
    assert block, "README has no <!-- readme-test --> bash block"
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "manifests", repo / "manifests", ignore=shutil.ignore_patterns(".controller", "__pycache__"))
    shutil.copytree(ROOT / "schemas", repo / "schemas")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    env.pop("MODEL", None)
    # where the first screen's command leaves a user: the example applied already
    first = subprocess.run(["controller", "apply", "--auto-approve", "--no-smoke"], cwd=repo / "manifests", env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    script = "set -euo pipefail\n" + block.group(1)
    done = subprocess.run(["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"README tour failed:\n{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert "5 manifests valid, 1 Defaults" in out
    assert "# assistants/tweet-writer.yaml:2 (prompts: assistants/prompts/tweet-writer.md)" in out  # render
    assert "      system_prompt: |\n        # Tweet writer\n" in out and "      model: (sensitive)\n" in out
    assert "Plan: 5 to create, 0 to update, 0 to repin, 0 to delete." in out
    assert '~ config.configurable.style: "tweet" → "plain"' in out
    assert "tweet-writer: v2 → v1 (repinned; cases: the manifests (the cases it was written with))." in out
    assert "Smoke: 1 passed, 0 failed." in out
    assert "faq-bot › answers product questions (6 cases × 3 runs)" in out
    assert "Evals: 1 passed, 0 failed." in out and "Evals: 0 passed, 1 failed." in out  # the active version, the worse candidate


def test_ci_runs_exactly_the_readme_test_command():
    first_screen = README.split("## Contents")[0]
    commands = re.findall(r"^python3 -m venv .*$", first_screen, re.M)
    assert len(commands) == 2, "the first screen gives the run command and the test command"
    assert "cd manifests && ../.venv/bin/controller apply --auto-approve" in commands[0]
    test_command = commands[1].split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


def test_the_first_screen_apply_runs_as_written(tmp_path: Path):
    """The install step aside, the first command's apply runs as written, and again is a no-op."""
    first_screen = README.split("## Contents")[0]
    command = re.findall(r"^python3 -m venv .*$", first_screen, re.M)[0]
    apply = command.split("&&", 2)[-1].strip()  # cd manifests && ../.venv/bin/controller apply ...
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests", ignore=shutil.ignore_patterns(".controller", "__pycache__"))
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "controller").symlink_to(Path(sys.executable).parent / "controller")
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("MODEL", None)
    for expected in ("Apply complete: 5 created", "No changes."):
        done = subprocess.run(["bash", "-c", apply], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr


def test_the_readme_says_what_the_test_command_needs_before_it():
    first_screen = README.split("## Contents")[0]
    before = first_screen.split(".venv/bin/python -m pytest\n```")[0].rsplit("python3 -m venv", 1)[0]
    for need in ("PostgreSQL", "initdb", "Python 3.12", '-m "not aegra"'):
        assert need in before, need
    markers = (ROOT / "pyproject.toml").read_text()
    assert '"aegra: ' in markers  # the marker the README's command deselects


def test_your_own_project_runs_as_written(tmp_path: Path):
    """The section's files, each the block after its `name`, make a project whose commands run."""
    section = README.split("\n## Your own project\n", 1)[1].split("\n## ", 1)[0]
    files = re.findall(r"^`([^`\s]+)`(?:(?!```).)*?:\n\n```\w*\n(.*?)```", section, re.S | re.M)
    assert [name for name, _ in files] == ["graphs/greeter.py", "langgraph.json", "controller.yaml",
                                           "assistants/greeter.yaml", ".gitignore"]
    project = tmp_path / "my-assistants"
    for name, text in files:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    commands = re.search(r"<!-- readme-test: own-project -->\s*```bash\n(.*?)```", section, re.S)
    assert commands
    env = {**os.environ, **GIT_IDENTITY, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + commands.group(1)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 manifest valid (owner my-team, target local)." in done.stdout
    assert "✓ greeter › greets by name" in done.stdout and "Apply complete: 1 created" in done.stdout
    assert done.stdout.rstrip().endswith("No changes. The target matches the manifests.")
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project, capture_output=True,
                            text=True, check=True)
    assert status.stdout == ""  # the state and caches are ignored: nothing to commit by mistake
