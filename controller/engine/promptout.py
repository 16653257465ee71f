"""`controller import`'s prompt files: long multi-line strings written beside the manifest.

An adopted assistant should start in the layout a team would choose: prompts as Markdown
files reviewers read with clean diffs, referenced as ``${file:prompts/NAME.KEY.md}``. A
prompt file's text is taken verbatim by the loader (no ``${`` in it is interpolated), so
it is written exactly as the server has it, and a plan right after says "No changes".
"""

from __future__ import annotations

import re
from typing import Any

from controller.core.paths import Path, replaced

FOLDER = "prompts"
#: Strings of more lines than this go to files (shorter ones read better inline).
MAX_INLINE_LINES = 5


def long_strings(spec: dict[str, Any]) -> dict[Path, str]:
    """Multi-line strings of more than MAX_INLINE_LINES lines in ``spec``, by path. One that
    starts with a byte-order mark stays inline: a file's mark is not part of its text."""
    found: dict[Path, str] = {}

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif isinstance(value, str) and len(value.splitlines()) > MAX_INLINE_LINES and not value.startswith("\ufeff"):
            found[path] = value

    walk(spec, ())
    return found


def file_names(name: str, paths: list[Path]) -> dict[Path, str]:
    """Each path's file, from the manifest's folder: ``prompts/NAME.KEY.md`` by the value's own
    key, or by its whole path where two values share a key."""
    def key(path: Path, whole: bool) -> str:
        text = ".".join(str(p) for p in (path if whole else path[-1:]))
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "prompt"

    short = [key(p, False) for p in paths]
    return {p: f"{FOLDER}/{name}.{key(p, short.count(s) > 1)}.md" for p, s in zip(paths, short, strict=True)}


def reference(spec: dict[str, Any], files: dict[Path, str]) -> dict[str, Any]:
    """``spec`` with the value at each path replaced by a reference to its file."""
    return replaced(spec, {path: f"${{file:{file}}}" for path, file in files.items()})
