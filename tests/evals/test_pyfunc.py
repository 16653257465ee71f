"""python: evaluators: checked without running the file, loaded from the project root when evaluating."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.core.errors import ControllerError
from controller.evals.pyfunc import load_function, ref_problem


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "score.py").write_text(
        "import json\n"
        "open('ran', 'w').write('executed')  # a check must never run this\n"
        "def tone_ok(input, output, reference):\n    return 'please' in output['answer']\n"
        "async def later(input, output, reference):\n    return 1.0\n"
        "scorer = tone_ok\n")
    return tmp_path


def test_a_reference_is_checked_from_the_syntax_tree_alone(root: Path):
    assert ref_problem("evals/score.py:tone_ok", str(root)) is None
    assert ref_problem("evals/score.py:later", str(root)) is None
    assert ref_problem("evals/score.py:scorer", str(root)) is None
    assert ref_problem("evals/score.py:brief", str(root)) == "evals/score.py defines no function 'brief'"
    assert ref_problem("evals/none.py:f", str(root)) == f"no file evals/none.py under the project root ({root})"
    assert not (root / "ran").exists()


def test_a_syntax_error_names_its_line(root: Path):
    (root / "evals" / "broken.py").write_text("def f(:\n")
    assert ref_problem("evals/broken.py:f", str(root)) == "evals/broken.py:1: syntax error: invalid syntax"


def test_loading_imports_the_file_once(root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(root)
    tone_ok = load_function("evals/score.py:tone_ok", str(root))
    assert tone_ok({}, {"answer": "yes, please"}, None) is True
    assert load_function("evals/score.py:scorer", str(root)) is tone_ok  # the same module: imported once


def test_a_file_that_fails_to_import_is_an_error_of_the_command(tmp_path: Path):
    (tmp_path / "bad.py").write_text("raise RuntimeError('no model key')\ndef f(i, o, r):\n    return True\n")
    with pytest.raises(ControllerError, match="python evaluator bad.py:f: importing bad.py raised RuntimeError: no model key"):
        load_function("bad.py:f", str(tmp_path))
