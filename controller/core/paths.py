"""Paths into nested data: one grammar to read them, one way to print them.

Manifest errors (``spec.smoke[0].expect``), plan diffs (``config.configurable.model``)
and smoke assertions (``messages[-1].content``) all name a place in nested data. They
share this module so a path a user reads in one output can be typed into another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from controller.core.content import plain_copy

Path = tuple[str | int, ...]

_KEY = re.compile(r"[^.\[\]\s'\"]+")
_BRACKET = re.compile(r"\[(?:(-?\d+)|'([^']*)'|\"([^\"]*)\")\]")


def parse_path(path: str) -> Path:
    """``messages[-1].content`` → ``("messages", -1, "content")``; ``''`` → ``()``.

    ``.key`` reads a mapping, ``[n]`` indexes a list (negative counts from the end),
    ``["a.b"]`` reads a key that has dots or spaces. Anything else is a ValueError, so
    a typo in a manifest fails at load time instead of as a puzzling "not found".
    """
    tokens: list[str | int] = []
    i = 0
    while i < len(path):
        if path[i] == "[":
            m = _BRACKET.match(path, i)
            if not m:
                raise ValueError(f"invalid path {path!r}: at position {i}, expected [integer] or [\"key\"]")
            index, single, double = m.groups()
            tokens.append(int(index) if index is not None else single if single is not None else double)
        elif not tokens or path[i] == ".":
            m = _KEY.match(path, i + 1 if tokens else i)
            if not m:
                what = "a key after '.'" if tokens else "a key or [index] to start"
                raise ValueError(f"invalid path {path!r}: at position {i}, expected {what}")
            tokens.append(m.group())
        else:
            raise ValueError(f"invalid path {path!r}: unexpected {path[i]!r} at position {i}, expected '.' or '['")
        i = m.end()
    return tuple(tokens)


def dotted(path: Iterable[str | int]) -> str:
    """``("spec", "smoke", 0, "expect")`` → ``spec.smoke[0].expect``.

    A key that is empty or not printable is shown quoted in brackets, so the path stays
    on one line: ``spec['a\\nb']``.
    """
    out = ""
    for part in path:
        if isinstance(part, int) or not str(part).isprintable() or not part:
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def replaced(data: Any, values: Mapping[Path, Any]) -> Any:
    """A copy of ``data`` with the value at each path of ``values`` replaced (``data`` itself when
    there are none, so the common case copies nothing). Every path must exist in ``data``."""
    if not values:
        return data
    out = plain_copy(data)
    for path, value in values.items():
        node = out
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return out
