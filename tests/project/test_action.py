"""The pipeline a team copies: action.yml (a composite GitHub Action) is valid action metadata,
the README's example workflows are valid workflows (both with check-jsonschema's built-in,
offline schemas), and the action's own steps run as GitHub runs them: validate, a Markdown plan
in the job summary and a pull-request comment (created, then updated), apply on the default
branch, and the `changes` output and `detailed-exitcode` input."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT, example_repo, unavailable

ACTION = ROOT / "action.yml"
INSTALL = "Install assistant-controller"
README = (ROOT / "README.md").read_text()
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if tool is None:
        unavailable("check-jsonschema is not installed (pip install -e '.[dev]')")
    return subprocess.run([tool, "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True, timeout=120)


def readme_workflows() -> list[str]:
    ci = README.split("\n## CI\n", 1)[1].split("\n## ", 1)[0]
    return [block for block in re.findall(r"```yaml\n(.*?)```", ci, re.S) if "jobs:" in block]


def test_action_yml_is_valid_action_metadata():
    done = check_jsonschema("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_workflows_are_valid_workflows_and_install_from_the_repository(tmp_path: Path):
    workflows = readme_workflows()
    assert len(workflows) == 2, "the CI section shows the action, and the steps without it"
    files = []
    for i, text in enumerate(workflows):
        (tmp_path / f"workflow-{i}.yml").write_text(text)
        files.append(tmp_path / f"workflow-{i}.yml")
    done = check_jsonschema("vendor.github-workflows", *files)
    assert done.returncode == 0, done.stdout + done.stderr
    with_action, without = workflows
    assert "uses: your-org/assistant-controller@" in with_action
    assert not any("pip install assistant-controller" in w for w in workflows)  # not published: no such package
    assert re.search(r"pip install \"?git\+https://github\.com/your-org/assistant-controller", without)
    ci = README.split("\n## CI\n", 1)[1].split("\n## ", 1)[0]
    assert "not published" in ci and ".whl" in ci


# -- the action's steps, run as a runner runs them -------------------------------------------

class Runner:
    """Runs the action's `run` steps with bash -eo pipefail (as GitHub does) in ``workspace``,
    with the inputs' defaults and ``inputs`` over them; ``context`` gives github.* values."""

    def __init__(self, workspace: Path, tmp: Path, inputs: dict[str, str], context: dict[str, str]):
        action = yaml.safe_load(ACTION.read_text())
        self.steps = action["runs"]["steps"]
        self.inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | inputs
        self.context = {"github.action_path": str(ROOT), "github.repository": "acme/assistants", **context}
        self.workspace, self.tmp = workspace, tmp
        self.outputs: dict[str, dict[str, str]] = {}
        self.summary = tmp / "summary.md"
        bin_dir = tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        self.path = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

    def value(self, expression: str) -> Any:
        """The few expressions action.yml uses (inputs, steps' outputs, github context, ==, &&, ||)."""
        expression = expression.strip()
        for op in (" || ", " && "):
            if op in expression and not expression.startswith("("):
                left, right = expression.split(op, 1)
                a = self.value(left)
                return (a or self.value(right)) if op == " || " else (a and self.value(right))
        if expression.startswith("(") and expression.endswith(")"):
            return self.value(expression[1:-1])
        if " == " in expression or " != " in expression:
            op = " == " if " == " in expression else " != "
            left, right = expression.split(op, 1)
            same = self.value(left) == self.value(right)
            return same if op == " == " else not same
        if expression.startswith("'") and expression.endswith("'"):
            return expression[1:-1]
        if expression.startswith("format("):
            template, arg = re.fullmatch(r"format\('(.*)', (.*)\)", expression).groups()  # type: ignore[union-attr]
            return template.replace("{0}", str(self.value(arg)))
        if expression.startswith("inputs."):
            return self.inputs[expression.removeprefix("inputs.")]
        if expression.startswith("steps."):
            _, step, _, name = expression.split(".")
            return self.outputs.get(step, {}).get(name, "")
        return self.context.get(expression, "")

    def text(self, template: str) -> str:
        return _EXPRESSION.sub(lambda m: str(self.value(m.group(1))), template)

    def run(self) -> list[str]:
        """Runs every step whose `if` holds; their names, in order. Not run: setup-python (Python is
        this one) and the install (this checkout is installed already; the step is checked apart)."""
        ran = []
        for step in self.steps:
            if "if" in step and not self.value(" ".join(str(step["if"]).split())):
                continue
            if "uses" in step or step["name"] == INSTALL:
                continue
            out_file = self.tmp / f"output-{len(ran)}"
            out_file.write_text("")
            env = {**os.environ, "PATH": self.path, "RUNNER_TEMP": str(self.tmp), "GITHUB_OUTPUT": str(out_file),
                   "GITHUB_STEP_SUMMARY": str(self.summary), "NO_COLOR": "1",
                   **{k: self.text(str(v)) for k, v in step.get("env", {}).items()}}
            env.pop("MODEL", None)
            cwd = self.workspace / self.text(step.get("working-directory", "."))
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise StepFailed(step["name"], done.returncode, done.stdout + done.stderr)
            if "id" in step:
                self.outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
            ran.append(step["name"])
        return ran


class StepFailed(Exception):
    def __init__(self, name: str, code: int, output: str):
        super().__init__(f"{name}: exit {code}\n{output}")
        self.name, self.code = name, code


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A repository checkout holding the example project under manifests/."""
    root = tmp_path / "checkout"
    example_repo(root / "manifests")
    return root


FAKE_GH = """#!/usr/bin/env bash
# records each call; lists one earlier plan comment once one was posted
echo "$*" >> "$GH_CALLS"
if [ "$3" = "--paginate" ] && grep -q -- "--method POST" "$GH_CALLS"; then echo 4242; fi
"""


def fake_gh(runner: Runner) -> Path:
    """A `gh` on the runner's PATH that records its calls (in the returned file, named by GH_CALLS)."""
    gh = runner.tmp / "bin" / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    return runner.tmp / "gh-calls"


def test_the_action_installs_itself_from_its_own_checkout():
    """The package is not published: `uses: OWNER/assistant-controller@REF` installs the controller at REF."""
    step = next(s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("name") == INSTALL)
    assert step["env"]["PACKAGE"] == "${{ inputs.package || github.action_path }}"
    assert step["run"] == 'python3 -m pip install --quiet "$PACKAGE"'


PULL_REQUEST = {"github.event_name": "pull_request", "github.event.pull_request.number": "7", "github.ref": "refs/pull/7/merge",
                "github.event.repository.default_branch": "main"}
PUSH_MAIN = {"github.event_name": "push", "github.ref": "refs/heads/main", "github.event.repository.default_branch": "main"}


def test_on_a_pull_request_the_plan_goes_to_the_summary_and_one_comment(workspace, tmp_path, monkeypatch):
    inputs = {"working-directory": "manifests", "github-token": "a-token"}
    runner = Runner(workspace, tmp_path, inputs, PULL_REQUEST)
    calls = fake_gh(runner)
    monkeypatch.setenv("GH_CALLS", str(calls))
    ran = runner.run()
    assert ran == ["Validate", "Plan", "Comment the plan on the pull request"]
    assert runner.outputs["plan"]["changes"] == "true"
    summary = runner.summary.read_text()
    assert summary.startswith("### Plan for owner demo-agents") and "| create | 5 |" in summary
    first = calls.read_text().splitlines()
    assert first[-1].startswith("api --method POST repos/acme/assistants/issues/7/comments -F body=@")
    runner.run()  # the next push to the pull request: the same comment, updated
    assert calls.read_text().splitlines()[-1].startswith("api --method PATCH repos/acme/assistants/issues/comments/4242")
    assert not (workspace / "manifests" / ".controller" / "state.db").exists()  # a plan writes nothing


def test_on_the_default_branch_it_applies_and_detailed_exitcode_fails_on_changes(workspace, tmp_path):
    runner = Runner(workspace, tmp_path, {"working-directory": "manifests", "path": "assistants"}, PUSH_MAIN)
    assert runner.run()[-1] == "Apply"
    assert runner.outputs["plan"]["changes"] == "true"
    again = Runner(workspace, tmp_path, {"working-directory": "manifests", "detailed-exitcode": "true"}, PUSH_MAIN)
    assert "Fail on changes (detailed-exitcode)" not in again.run()
    assert again.outputs["plan"]["changes"] == "false"
    (workspace / "manifests" / "assistants" / "tweet-writer.yaml").write_text(
        (workspace / "manifests" / "assistants" / "tweet-writer.yaml").read_text().replace("style: tweet", "style: plain"))
    drift_check = Runner(workspace, tmp_path, {"working-directory": "manifests", "detailed-exitcode": "true", "apply": "false"},
                         {**PUSH_MAIN, "github.event_name": "schedule"})
    with pytest.raises(StepFailed) as failed:
        drift_check.run()
    assert failed.value.name == "Fail on changes (detailed-exitcode)" and failed.value.code == 2


def test_an_invalid_manifest_stops_the_action_at_validate(workspace, tmp_path):
    blog = workspace / "manifests" / "assistants" / "blog-writer.yaml"
    blog.write_text(blog.read_text().replace("graph: writer", "graph: writr"))
    with pytest.raises(StepFailed) as failed:
        Runner(workspace, tmp_path, {"working-directory": "manifests"}, PUSH_MAIN).run()
    assert failed.value.name == "Validate" and "unknown graph 'writr'" in str(failed.value)
