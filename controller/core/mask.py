"""Masking of values that came from the environment.

A value interpolated from the environment may be a secret. Every output (plans, saved
plans, events, smoke failures) goes through here, so there is one mask and one rule
for what it covers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from controller.core.paths import Path

MASK = "(sensitive)"


def is_sensitive(path: Path, sensitive: Iterable[Path]) -> bool:
    """True when ``path`` is a sensitive path, lies under one, or holds one."""
    return any(path[: len(s)] == s or s[: len(path)] == path for s in sensitive)


def redact(value: Any, secrets: Collection[str]) -> Any:
    """``value`` with every occurrence of a secret replaced, in strings at any depth."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value
