"""``python: evals/score.py:tone_ok`` evaluators: a function in a file under the project root.

Checking one (``validate``, ``plan``) reads the file's syntax tree and never runs it: a
hook in CI must not execute repository code just to say a name is missing. Only an
evaluation imports it, once per process and file.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from typing import Any

from controller.core.errors import ControllerError

_loaded: dict[str, Any] = {}


def split_ref(ref: str) -> tuple[str, str]:
    """``evals/score.py:tone_ok`` → (``evals/score.py``, ``tone_ok``)."""
    file, _, name = ref.rpartition(":")
    return file, name


def ref_problem(ref: str, root: str) -> str | None:
    """Why ``ref`` cannot name a function (a missing file, a syntax error, no such name), or None."""
    file, name = split_ref(ref)
    path = os.path.join(root, file)
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), filename=file)
    except FileNotFoundError:
        return f"no file {file} under the project root ({root})"
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {file}: {exc}"
    except SyntaxError as exc:
        return f"{file}:{exc.lineno}: syntax error: {exc.msg}"
    if name not in _top_level_names(tree):
        return f"{file} defines no function {name!r}"
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level: functions, classes, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def load_function(ref: str, root: str) -> Callable[..., Any]:
    """The function ``ref`` names, its file imported from the project root (once per process)."""
    from controller.targets.pyfile import import_file

    file, name = split_ref(ref)
    path = os.path.abspath(os.path.join(root, file))
    module = _loaded.get(path)
    if module is None:
        try:
            module = _loaded[path] = import_file(path, "controller_evaluator")
        except Exception as exc:
            raise ControllerError(f"python evaluator {ref}: importing {file} raised {type(exc).__name__}: {exc}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ControllerError(f"python evaluator {ref}: {file} has no function {name!r}")
    return function
