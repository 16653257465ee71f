"""``${NAME}`` / ``${NAME:-default}`` interpolation in string values, ``$${`` escapes.

Values come from the target's ``values`` first, then the environment. A string that
references any variable the target's ``values`` do not give is *sensitive*, whichever
branch of ``${X:-default}`` was taken this time: a run with ``X`` set wrote the secret
to the target, and a later run without it must not show that live value either. Its
path is recorded so that every later output (plan, diff, logs, plan files) masks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.config.yamlio import Path

_TOKEN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


class Values(dict[str, str]):
    """The target's ``values``, carrying the variables controller.yaml declares ``plain``:
    names whose values are not secret (a model name, a region). A string built only from
    these and from ``values`` is shown in plans and output; a plain variable is still read
    from the environment, or takes its default."""

    def __init__(self, values: Mapping[str, str] | None = None, plain: Iterable[str] = ()):
        super().__init__(values or {})
        self.plain = frozenset(plain)


def is_plain(name: str, values: Mapping[str, str]) -> bool:
    """``name`` is declared plain (:class:`Values`): its value never makes a string sensitive."""
    return name in getattr(values, "plain", ())


class UnsetVariable(Exception):
    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path


@dataclass
class Interpolated:
    data: Any
    #: Paths whose string references a variable not given by the target's values.
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
                text, sensitive = substitute(value, values, environ)
            except UnsetVariable as exc:
                result.unset.append(UnsetVariable(path, str(exc)))
                return value
            if sensitive:
                result.sensitive.add(path)
                result.templates[path] = value
            return text
        return value

    result.data = walk(data, ())
    return result


def substitute(text: str, values: Mapping[str, str], environ: Mapping[str, str]) -> tuple[str, bool]:
    """Resolve one string; also say whether it is sensitive: it references a variable
    that ``values`` does not give (set in the environment now or not: a default taken
    this time says nothing about what an earlier run with the variable set wrote)."""
    sensitive = False

    def replace(m: re.Match[str]) -> str:
        nonlocal sensitive
        token = m.group(0)
        if token == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name is None:
            raise UnsetVariable((), f"malformed variable reference {token!r}: use ${{NAME}} or ${{NAME:-default}}")
        if name in values:
            return values[name]
        sensitive = sensitive or not is_plain(name, values)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise UnsetVariable((), f"variable {name} is not set (give it a value, or write ${{{name}:-default}})")

    return _TOKEN.sub(replace, text), sensitive


def referenced(data: Any) -> set[str]:
    """The names of the variables the strings in ``data`` reference (``$${`` escapes are not
    references): what a loaded result depends on besides the text."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and "$" in value:
            names.update(m.group(1) for m in _TOKEN.finditer(value) if m.group(1))

    walk(data)
    return names
