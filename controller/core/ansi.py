"""Terminal colour: one way to paint text, and only when asked to."""

from __future__ import annotations

GREEN, YELLOW, CYAN, RED, MAGENTA, DIM = "32", "33", "36", "31", "35", "2"


def paint(code: str | None, text: str, color: bool) -> str:
    """``text`` in SGR colour ``code`` when ``color`` is on (a TTY without NO_COLOR)."""
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text
