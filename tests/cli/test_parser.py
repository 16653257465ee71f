"""The command line (cli/parser.py): every command has help and is in the README; a bad flag is one
line and exit 1."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT, run

from controller.cli import build_parser, main

COMMANDS = ("validate", "plan", "apply", "watch", "test", "history", "rollback", "import", "schema")


def test_every_command_has_help_and_is_in_the_readme(capsys):
    parser = build_parser()
    readme = (ROOT / "README.md").read_text()
    top = parser.format_help()
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", top, re.M), f"{command} missing from controller --help"
        assert f"controller {command}" in readme
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert f"usage: controller {command}" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--listen", "nowhere"], "--listen: expected HOST:PORT"),
    (["--webhook-secret-env", "NO_SUCH_VARIABLE_SET"], "NO_SUCH_VARIABLE_SET is not set or empty"),
    (["--notify-url", "ftp://x"], "--notify-url: expected an http:// or https:// URL"),
    (["--workdir", "wd"], "--workdir: only with --git URL"),
    (["--lock-timeout", "soon"], "--lock-timeout: invalid duration"),
])
def test_bad_watch_flags_are_one_line_and_exit_1(repo, capsys, monkeypatch, flags, message):
    monkeypatch.delenv("NO_SUCH_VARIABLE_SET", raising=False)
    code, _, err = run(capsys, "watch", ".", *flags)
    assert code == 1 and message in err, err
    assert not (repo / ".controller").exists()
