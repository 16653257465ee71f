"""Durations as people write them (``30s``, ``2m``, ``500ms``): one grammar for manifests,
controller.yaml and flags, and one way to print them back."""

from __future__ import annotations

import re
from typing import Any

DURATION_PATTERN = r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``30s``, ``2m``, ``1.5h``, ``500ms`` or a bare number of seconds → seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 2m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: expected e.g. 30s, 2m, 500ms")
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{int(round(seconds * 1000))}ms"
