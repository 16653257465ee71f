"""How the CLI speaks (cli/console.py, cli/__init__.py): -q prints only errors and the summary; a
reader that stops early is no error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import run


def test_quiet_prints_only_errors_and_the_summary(repo, capsys):
    code, out, err = run(capsys, "plan", ".", "-q")
    assert code == 0 and out == "Plan: 5 to create, 0 to update, 0 to repin, 0 to delete.\n" and err == ""
    code, out, err = run(capsys, "apply", ".", "-q", "--auto-approve")
    assert code == 0
    assert out.splitlines() == ["Plan: 5 to create, 0 to update, 0 to repin, 0 to delete.",
                                "Apply complete: 5 created, 0 updated, 0 repinned, 0 deleted. Smoke: 3 passed, 0 failed. "
                                "Evals: 1 passed, 0 failed."], out


@pytest.mark.parametrize("reader", ["head -1", "true"])  # true: gone before the first write, every time
def test_plan_into_a_reader_that_stops_early_exits_quietly(repo, reader):
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "CONTROLLER_TARGET")}
    script = f"{sys.executable} -c 'import sys; from controller.cli import main; sys.exit(main())' plan . | {reader}"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script], check=False, capture_output=True, text=True, env=env, cwd=repo)
    if reader.startswith("head"):
        assert done.stdout == "Plan for owner demo-agents on embedded .controller/state.db (owner from controller.yaml)\n"
    assert done.stderr == "" and done.returncode == 0, done.stderr
