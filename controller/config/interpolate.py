"""``${NAME}`` / ``${NAME:-default}`` interpolation and ``${file:PATH}`` prompt files in
string values; ``$${`` escapes.

Values come from the target's ``values`` first, then the environment. A string that
references any variable the target's ``values`` do not give is *sensitive*, whichever
branch of ``${X:-default}`` was taken this time: a run with ``X`` set wrote the secret
to the target, and a later run without it must not show that live value either. Its
path is recorded so that every later output (plan, diff, logs, plan files) masks it.

``${file:PATH}`` is replaced by the text of that file (config/promptfiles.py), relative to
the manifest's folder. The text is taken verbatim: a ``${`` in a prompt is text, and a
``${file:…}`` in it is not followed (prompts hold braces and dollar signs of their own).
PATH itself may use variables (``${file:prompts/${LOCALE:-en}/blog.md}``); a file's text is
not sensitive, but a PATH built from the environment makes the value sensitive by the rule
above, and the file is then named by its template, never by the path it resolved to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.config.promptfiles import PromptFileError, PromptFiles
from controller.config.yamlio import Path

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_FILE = "${file:"
#: Leads a stored template that reads prompt files: the folder (from the root) its paths are
#: relative to, so the template resolves alike wherever it is used again (store, plan file).
_BASE = "${base:"


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


class InterpolationError(Exception):
    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path


class UnsetVariable(InterpolationError):
    """A variable without a value or a default (a warning for ``validate`` without secrets)."""


class BadReference(InterpolationError):
    """A ``${file:PATH}`` that cannot be read, or a malformed reference: always an error."""


@dataclass(frozen=True)
class Read:
    """A prompt file a string read: its path from the root, and how output names it (the path,
    or its template when the path was built from the environment)."""

    path: str
    shown: str


@dataclass
class Expanded:
    text: str
    sensitive: bool = False
    reads: list[Read] = field(default_factory=list)


@dataclass
class Interpolated:
    data: Any
    #: Paths whose string references a variable not given by the target's values.
    sensitive: set[Path] = field(default_factory=set)
    #: The template (as written) of each sensitive string, for plan files.
    templates: dict[Path, str] = field(default_factory=dict)
    #: Strings naming a variable that is not set: left as written, so the rest can still be validated.
    unset: list[UnsetVariable] = field(default_factory=list)
    #: Prompt files that cannot be read, malformed references: errors even where unset is a warning.
    errors: list[BadReference] = field(default_factory=list)
    #: The prompt files each string read.
    reads: dict[Path, tuple[Read, ...]] = field(default_factory=dict)


def interpolate(data: Any, values: Mapping[str, str], environ: Mapping[str, str],
                files: PromptFiles | None = None, base: str = "") -> Interpolated:
    """Interpolate every string value in ``data`` (keys are left alone); ``base``: the folder,
    from the project root, that ``${file:PATH}`` paths are relative to."""
    result = Interpolated(data=None)

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            try:
                done = expand(value, values, environ, files, base)
            except UnsetVariable as exc:
                result.unset.append(UnsetVariable(path, str(exc)))
                return value
            except InterpolationError as exc:
                result.errors.append(BadReference(path, str(exc)))
                return value
            if done.sensitive:
                result.sensitive.add(path)
                result.templates[path] = with_base(value, base)
            if done.reads:
                result.reads[path] = tuple(done.reads)
            return done.text
        return value

    result.data = walk(data, ())
    return result


def substitute(text: str, values: Mapping[str, str], environ: Mapping[str, str],
               files: PromptFiles | None = None) -> tuple[str, bool]:
    """Resolve one string (a template as stored, possibly led by its base folder); also say
    whether it is sensitive: it references a variable that ``values`` does not give (set in the
    environment now or not: a default taken this time says nothing about what an earlier run
    with the variable set wrote)."""
    base = ""
    if text.startswith(_BASE):
        end = text.index("}")
        base, text = text[len(_BASE):end], text[end + 1:]
    done = expand(text, values, environ, files, base)
    return done.text, done.sensitive


def expand(text: str, values: Mapping[str, str], environ: Mapping[str, str],
           files: PromptFiles | None, base: str) -> Expanded:
    """``text`` with its variables and prompt files resolved (raises InterpolationError)."""
    out: list[str] = []
    done = Expanded("")
    i = 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
        elif text.startswith(_FILE, j):
            end = _closing(text, j + len(_FILE))
            if end < 0:
                raise BadReference((), f"malformed prompt file reference {text[j:j + 40]!r}: write ${{file:PATH}}")
            out.append(_read(text[j + len(_FILE):end], values, environ, files, base, done))
            i = end + 1
        elif text.startswith("${", j):
            m = _VARIABLE.match(text, j)
            if m is None:
                token = text[j:text.find("}", j) + 1 or len(text)]
                raise BadReference((), f"malformed variable reference {token!r}: use ${{NAME}} or ${{NAME:-default}}")
            out.append(_variable(m.group(1), m.group(2), values, environ, done))
            i = m.end()
        else:
            out.append("$")
            i = j + 1
    out.append(text[i:])
    done.text = "".join(out)
    return done


def _variable(name: str, default: str | None, values: Mapping[str, str], environ: Mapping[str, str],
              done: Expanded) -> str:
    if name in values:
        return values[name]
    done.sensitive = done.sensitive or not is_plain(name, values)
    if name in environ:
        return environ[name]
    if default is not None:
        return default
    raise UnsetVariable((), f"variable {name} is not set (give it a value, or write ${{{name}:-default}})")


def _read(template: str, values: Mapping[str, str], environ: Mapping[str, str], files: PromptFiles | None,
          base: str, done: Expanded) -> str:
    """The text of the prompt file ``template`` names (its variables resolved first)."""
    if files is None:
        raise BadReference((), "${file:…} is not available here")
    path = expand(template, values, environ, None, base)  # a ${file:} inside a path is malformed
    done.sensitive |= path.sensitive
    shown = template if path.sensitive else path.text  # never the value of an environment variable
    try:
        found = files.read(base, path.text)
    except PromptFileError as exc:
        raise BadReference((), f"prompt file {shown}: {exc}") from None
    done.reads.append(Read(found.path, os.path.normpath(os.path.join(base, template)) if path.sensitive else found.path))
    return found.text


def _closing(text: str, start: int) -> int:
    """The index of the ``}`` that closes a reference opened before ``start`` (nested ``${…}`` skipped)."""
    depth, k = 0, start
    while k < len(text):
        if text.startswith("$${", k):
            k += 3
            continue
        if text.startswith("${", k):
            depth, k = depth + 1, k + 2
            continue
        if text[k] == "}":
            if depth == 0:
                return k
            depth -= 1
        k += 1
    return -1


def with_base(template: str, base: str) -> str:
    """A template to store: led by its base folder when it reads prompt files."""
    return f"{_BASE}{base}}}{template}" if _FILE in template else template


def shown_template(template: str) -> str:
    """A stored template as its manifest wrote it (for messages)."""
    return template[template.index("}") + 1:] if template.startswith(_BASE) else template


def _strings(data: Any) -> list[str]:
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and "$" in value:
            out.append(value)

    walk(data)
    return out


def referenced(data: Any) -> set[str]:
    """The names of the variables the strings in ``data`` reference, in prompt file paths too
    (``$${`` escapes are not references): part of what a loaded result depends on."""
    names: set[str] = set()
    for text in _strings(data):
        names.update(m.group(1) for m in _VARIABLE.finditer(text.replace("$${", "")))
    return names


def file_refs(data: Any) -> set[str]:
    """The paths (as written) of the prompt files the strings in ``data`` read."""
    refs: set[str] = set()
    for text in _strings(data):
        start = 0
        while (j := text.find(_FILE, start)) >= 0:
            if j > 0 and text[j - 1] == "$":  # $${file:…}: escaped
                start = j + 1
                continue
            end = _closing(text, j + len(_FILE))
            if end < 0:
                break
            refs.add(text[j + len(_FILE):end])
            start = end + 1
    return refs
