"""Judging a run's output: one assertion (``expect``) at a time, with a reason on failure.

A failure names the matcher, the path, and where the path stopped resolving, so a
user reading a CI log can tell a wrong value from a wrong path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from controller.core.paths import dotted, parse_path

if TYPE_CHECKING:
    from controller.config.manifest import Expect


def walk(value: Any, path: str) -> tuple[bool, Any, str]:
    """Resolve ``path``; on a miss, the third item says where and why."""
    seen: list[str | int] = []
    for token in parse_path(path):
        here = dotted(seen) or "the output"
        if isinstance(token, int):
            if not isinstance(value, list | tuple):
                return False, None, f"{here} is {_kind(value)}, not a list, so [{token}] does not apply"
            if not -len(value) <= token < len(value):
                return False, None, f"index [{token}] out of range: {here} has {len(value)} item(s)"
            value = value[token]
            seen.append(token)
        else:
            if not isinstance(value, dict):
                return False, None, f"{here} is {_kind(value)}, not a mapping, so key {token!r} does not apply"
            if token not in value:
                keys = ", ".join(map(str, list(value)[:10])) + (", …" if len(value) > 10 else "")
                return False, None, f"{here} has no key {token!r} (keys: {keys or 'none'})"
            value = value[token]
            seen.append(token)
    return True, value, ""


def _kind(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", tuple: "a list", dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")


@dataclass(frozen=True)
class Failure:
    """Why a case failed: ``actual`` raw (rendering truncates it); ``found`` False = path missing."""
    kind: Literal["assertion", "error", "timeout", "interrupted"]
    message: str
    matcher: str | None = None
    path: str | None = None
    expected: Any = None
    actual: Any = None
    found: bool = True


def _same(a: Any, b: Any) -> bool:
    """Structural equality as JSON sees it: 1 equals 1.0, but True is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _contains(actual: Any, expected: Any, fail: Callable[[str], Failure]) -> Failure | None:
    """``contains``: a substring of a string, an item of a list, or a key of a mapping."""
    if isinstance(actual, str):
        number = isinstance(expected, int | float) and not isinstance(expected, bool)
        needle = str(expected) if number else expected  # `contains: 42` in YAML means the text "42"
        if not isinstance(needle, str):
            return fail(f"contains on a string needs a string, got {_kind(expected)}")
        return None if needle in actual else fail("the string does not contain the expected text")
    if isinstance(actual, list | tuple):
        return None if any(_same(item, expected) for item in actual) else fail("no item of the list equals the expected value")
    if isinstance(actual, dict):
        return None if isinstance(expected, str) and expected in actual else fail("the mapping has no such key")
    return fail(f"contains needs a string, list or mapping, got {_kind(actual)}")


def hidden_difference(failure: Failure, shown_expected: Any, shown_actual: Any) -> bool:
    """The failed assertion would hold on the values as shown (masked): what differs lies only
    inside masked parts, so the expected and actual a reader sees cannot show why it failed."""
    if failure.kind != "assertion" or not failure.found:
        return False
    if failure.matcher == "equals":
        return _same(shown_expected, shown_actual)
    if failure.matcher == "contains":
        return _contains(shown_actual, shown_expected, lambda m: Failure("assertion", m)) is None
    return False


def check(expect: Expect, output: Any) -> Failure | None:
    """Judge one assertion against a run's output; None when it holds."""
    matcher, expected, path = expect.matcher, expect.expected, expect.path
    found, actual, why = walk(output, path)

    def fail(message: str) -> Failure:
        return Failure("assertion", message, matcher, path, expected, actual, found)

    if matcher == "exists":
        return None if found == bool(expected) else fail(f"path not found: {why}" if expected else "path exists but should not")
    if not found:
        return fail(f"path not found: {why}")
    if matcher == "equals":
        return None if _same(actual, expected) else fail(
            "values differ" if _kind(actual) == _kind(expected) else f"values differ: expected {_kind(expected)}, got {_kind(actual)}")
    if matcher == "contains":
        return _contains(actual, expected, fail)
    if matcher == "matches":
        if not isinstance(actual, str):
            return fail(f"matches needs a string, got {_kind(actual)}")
        return None if re.search(expected, actual) else fail("the string does not match the regular expression")
    from jsonschema.exceptions import best_match  # matcher == "schema": Expect allows only these five
    from jsonschema.validators import validator_for

    cls = validator_for(expected)
    first = next(iter(cls(expected, format_checker=cls.FORMAT_CHECKER).iter_errors(actual)), None)
    if first is None:
        return None
    error = best_match([first])  # the first error, descended into anyOf/oneOf for the real cause
    where = dotted((*parse_path(path), *error.absolute_path))
    return fail(f"does not match the schema at {where or '(whole output)'}: {error.message}")
