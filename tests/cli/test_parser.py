"""The command line (cli/parser.py): every command has help and is in the README; a bad flag is one
line and exit 1."""

from __future__ import annotations

import argparse
import re

import pytest
from helpers import ROOT, run

from controller.cli import build_parser, main

#: Every command the parser has: one added later is checked without a list here to keep up.
(_SUBCOMMANDS,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
COMMANDS = tuple(_SUBCOMMANDS.choices)


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


def test_help_points_to_a_readme_section_that_exists_not_to_a_file(capsys):
    """A pip user has no README.md beside the command: help names the README and a section of it."""
    headings = set(re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(), re.M))
    for argv in ([], *([command] for command in COMMANDS)):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        text = " ".join(capsys.readouterr().out.split())  # (help wraps its lines)
        section = re.search(r'Docs: the assistant-controller README, section "([^"]+)"', text)
        assert section and section.group(1) in headings, (argv, text[-300:])
        assert "README.md" not in text


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
