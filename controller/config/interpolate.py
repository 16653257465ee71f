"""``${NAME}`` / ``${NAME:-default}`` interpolation in string values, ``$${`` escapes.

Values come from the target's ``values`` first, then the environment. A string that
took any part from the environment is *sensitive*: its path is recorded so that every
later output (plan, diff, logs, plan files) can mask it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.config.yamlio import Path

_TOKEN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


class UnsetVariable(Exception):
    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path


@dataclass
class Interpolated:
    data: Any
    #: Paths whose string value took something from the environment.
    sensitive: set[Path] = field(default_factory=set)
    #: The template (as written) of each sensitive string, for plan files.
    templates: dict[Path, str] = field(default_factory=dict)
    #: Strings naming a variable that is not set: left as written, so the rest can still be validated.
    unset: list[UnsetVariable] = field(default_factory=list)


def interpolate(data: Any, values: Mapping[str, str], environ: Mapping[str, str]) -> Interpolated:
    """Interpolate every string value in ``data`` (keys are left alone)."""
    result = Interpolated(data=None)

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            try:
                text, from_env = substitute(value, values, environ)
            except UnsetVariable as exc:
                result.unset.append(UnsetVariable(path, str(exc)))
                return value
            if from_env:
                result.sensitive.add(path)
                result.templates[path] = value
            return text
        return value

    result.data = walk(data, ())
    return result


def substitute(text: str, values: Mapping[str, str], environ: Mapping[str, str]) -> tuple[str, bool]:
    """Resolve one string; also say whether any part came from the environment."""
    from_env = False

    def replace(m: re.Match[str]) -> str:
        nonlocal from_env
        token = m.group(0)
        if token == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name is None:
            raise UnsetVariable((), f"malformed variable reference {token!r}: use ${{NAME}} or ${{NAME:-default}}")
        if name in values:
            return values[name]
        if name in environ:
            from_env = True
            return environ[name]
        if default is not None:
            return default
        raise UnsetVariable((), f"variable {name} is not set (give it a value, or write ${{{name}:-default}})")

    return _TOKEN.sub(replace, text), from_env
