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


def test_parse_path_reads_keys_with_dashes_underscores_and_digits() -> None:
    assert parse_path("my-key") == ("my-key",)
    assert parse_path("x_y.z9") == ("x_y", "z9")
