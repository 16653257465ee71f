"""Judging a run's output (smoke/checks.py): paths into the output, each matcher, and the
reason a failure gives."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config.manifest import Expect
from controller.core.paths import parse_path
from controller.smoke.checks import Failure, check, walk


def expect(**kwargs: Any) -> Expect:
    return Expect.model_validate(kwargs)


OUTPUT = {
    "messages": [{"type": "human", "content": "hi"}, {"type": "ai", "content": "hello there"}],
    "grid": [[1, 2], [3, 4]],
    "a": {"b": [{"c": 7}]},
    "my-key": {"with-dash": True},
    "dotted.key": 1,
    "nothing": None,
}


@pytest.mark.parametrize("path, value", [
    ("", OUTPUT),
    ("messages[-1].content", "hello there"),
    ("messages[0].type", "human"),
    ("messages[-2].content", "hi"),
    ("grid[1][0]", 3),
    ("grid[-1][-1]", 4),
    ("a.b[0].c", 7),
    ("my-key.with-dash", True),
    ('["dotted.key"]', 1),
    ("['my-key']['with-dash']", True),
    ("nothing", None),
])
def test_resolve_finds(path: str, value: Any) -> None:
    assert walk(OUTPUT, path)[:2] == (True, value)


@pytest.mark.parametrize("path", [
    "missing", "a.missing", "messages[2]", "messages[-3]", "grid[0][5]",
    "a.b.c",            # key on a list
    "messages[0][0]",   # index on a mapping
    "messages[0].content.length",  # key on a string
    "nothing.x",        # key on null
])
def test_resolve_misses(path: str) -> None:
    assert walk(OUTPUT, path)[:2] == (False, None)


def test_resolve_on_a_scalar_output() -> None:
    assert walk("just text", "")[:2] == (True, "just text")
    assert walk("just text", "[0]")[:2] == (False, None)  # strings are not indexable lists


@pytest.mark.parametrize("path, fragment", [
    ("a..b", "expected a key after '.'"),
    ("a.", "expected a key after '.'"),
    (".a", "expected a key or [index] to start"),
    ("a[", "expected [integer]"),
    ("a[1", "expected [integer]"),
    ("a[x]", "expected [integer]"),
    ("a[]", "expected [integer]"),
    ("a[1.5]", "expected [integer]"),
    ("a]", "unexpected ']'"),
    ("a[0]b", "unexpected 'b'"),
    ("a b", "unexpected ' '"),
    (" a", "expected a key"),
])
def test_malformed_paths_raise(path: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid path") as info:
        parse_path(path)
    assert fragment in str(info.value)
    assert repr(path) in str(info.value)
    with pytest.raises(ValueError):
        walk(OUTPUT, path)[:2]


@pytest.mark.parametrize("spec", [
    {"path": "a", "equals": {"b": [{"c": 7}]}},
    {"path": "grid[0]", "equals": [1, 2]},
    {"path": "grid[0][0]", "equals": 1.0},          # JSON numbers: 1 == 1.0
    {"path": "nothing", "equals": None},
    {"path": "messages[-1].content", "contains": "there"},
    {"path": "grid[0]", "contains": 2},
    {"path": "messages", "contains": {"type": "human", "content": "hi"}},
    {"path": "a", "contains": "b"},                  # key of a mapping
    {"path": "", "contains": "my-key"},
    {"path": "messages[-1].content", "matches": r"^hello\s+\w+$"},
    {"path": "messages[-1].content", "matches": "ell"},  # search, not fullmatch
    {"path": "messages[-1]", "exists": True},
    {"path": "messages[9]", "exists": False},
    {"path": "nothing", "exists": True},              # null is a value
    {"path": "messages", "schema": {"type": "array", "items": {"required": ["type", "content"]}}},
    {"path": "", "schema": {"type": "object", "required": ["messages"]}},
])
def test_matchers_pass(spec: dict[str, Any]) -> None:
    assert check(expect(**spec), OUTPUT) is None


def test_contains_number_in_string() -> None:
    assert check(expect(path="", contains=42), "the answer is 42") is None
    failure = check(expect(path="", contains=43), "the answer is 42")
    assert failure is not None and failure.expected == 43  # the raw value, not the text searched for


@pytest.mark.parametrize("spec, message", [
    ({"path": "grid[0][0]", "equals": 2}, "values differ"),
    ({"path": "my-key.with-dash", "equals": 1}, "expected a number, got a boolean"),  # True is not 1
    ({"path": "grid[0][0]", "equals": "1"}, "expected a string, got a number"),
    ({"path": "a", "equals": {"b": []}}, "values differ"),
    ({"path": "missing", "equals": 1}, "path not found: the output has no key 'missing'"),
    ({"path": "messages[5].content", "equals": "x"}, "index [5] out of range: messages has 2 item(s)"),
    ({"path": "messages[-1].content", "contains": "goodbye"}, "does not contain"),
    ({"path": "grid[0]", "contains": 9}, "no item of the list"),
    ({"path": "grid[0]", "contains": "1"}, "no item of the list"),  # no coercion inside lists
    ({"path": "a", "contains": "z"}, "the mapping has no such key"),
    ({"path": "grid[0][0]", "contains": 1}, "contains needs a string, list or mapping, got a number"),
    ({"path": "nothing", "contains": "x"}, "got null"),
    ({"path": "messages[-1].content", "contains": ["x"]}, "contains on a string needs a string"),
    ({"path": "messages[-1].content", "matches": "^there"}, "does not match the regular expression"),
    ({"path": "grid", "matches": "1"}, "matches needs a string, got a list"),
    ({"path": "nope", "matches": "x"}, "path not found"),
    ({"path": "messages[9]", "exists": True}, "path not found: index [9] out of range"),
    ({"path": "messages", "exists": False}, "path exists but should not"),
    ({"path": "nope", "schema": {"type": "string"}}, "path not found"),
])
def test_matchers_fail(spec: dict[str, Any], message: str) -> None:
    failure = check(expect(**spec), OUTPUT)
    assert isinstance(failure, Failure)
    assert failure.kind == "assertion"
    assert message in failure.message
    assert failure.path == spec["path"]
    assert failure.matcher == next(k for k in spec if k != "path")


def test_failure_keeps_raw_expected_and_actual() -> None:
    failure = check(expect(path="messages[-1]", equals={"type": "ai"}), OUTPUT)
    assert failure is not None and failure.found
    assert failure.expected == {"type": "ai"}
    assert failure.actual == {"type": "ai", "content": "hello there"}
    missing = check(expect(path="nope", equals=1), OUTPUT)
    assert missing is not None and not missing.found


def test_schema_failure_reports_first_error_with_path() -> None:
    schema = {"type": "array", "items": {"properties": {"content": {"type": "integer"}}}}
    failure = check(expect(path="messages", schema=schema), OUTPUT)
    assert failure is not None and failure.matcher == "schema"
    assert "at messages[0].content" in failure.message
    assert "'hi' is not of type 'integer'" in failure.message
    whole = check(expect(path="", schema={"required": ["absent"]}), OUTPUT)
    assert whole is not None and "at (whole output): 'absent' is a required property" in whole.message


def test_schema_failure_descends_into_any_of() -> None:
    schema = {"type": "object", "properties": {"n": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "null"}]}}}
    failure = check(expect(path="", schema=schema), {"n": 3})
    assert failure is not None and "at n: 3 is less than the minimum of 10" in failure.message
