"""Paths into nested data (core/paths.py): the one grammar that manifest errors, plan diffs and
smoke checks read paths with."""

from __future__ import annotations

from controller.core.paths import parse_path


def test_parse_path_tokens() -> None:
    assert parse_path("") == ()
    assert parse_path("messages[-1].content") == ("messages", -1, "content")
    assert parse_path("a.b[0][1]") == ("a", "b", 0, 1)
    assert parse_path("[0].x") == (0, "x")
    assert parse_path('a["x.y"].z') == ("a", "x.y", "z")


def test_validate_path_accepts_good_paths() -> None:
    for path in ("", "messages[-1].content", "a.b[0][1]", "my-key", "x_y.z9"):
        parse_path(path)
