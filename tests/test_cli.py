"""The CLI surface: what a user types and reads, independent of any target."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from controller.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
BAD = sorted((ROOT / "tests" / "corpus" / "bad").glob("*.yaml"))
HEADER = re.compile(r"^# expect: (\d+): (.+)$")
COMMANDS = ("validate", "plan", "apply", "watch", "test", "history", "rollback", "import", "schema")


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_every_bad_input_exits_1_with_one_line_errors_and_no_traceback(path: Path, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no controller.yaml above: the defaults apply
    line, message = HEADER.match(path.read_text(encoding="utf-8").split("\n", 1)[0]).groups()
    code = main(["validate", "--require-env", str(path)])  # var-unset-*: an error only with --require-env
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert re.fullmatch(r"\d+ errors?\.", lines[-1])  # validate writes nothing, and does not say so
    where = f"{path.name}:{line}:" if line != "0" else f"{path.name}:"  # line 0: the file as a whole
    assert any(where in e and message in e for e in lines[:-1]), err
    assert "Traceback" not in err


def test_errors_as_json_are_one_object(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = ROOT / "tests" / "corpus" / "bad" / "unknown-spec-confg.yaml"
    assert main(["validate", str(bad), "-o", "json"]) == 1
    out, _ = capsys.readouterr()
    body = json.loads(out)
    assert body["ok"] is False and any("spec.confg: unknown field (did you mean 'config'?)" in e for e in body["errors"])


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
