"""Pydantic's validation errors as the manifest's own problems: at the line of the offending
value, in the words of the YAML (no class names), with a did-you-mean for unknown fields.

Shared by manifests and controller.yaml, so every file a user writes reports alike.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, get_args, get_origin

from controller.config.yamlio import Document, Path
from controller.core.errors import Problem
from controller.core.paths import dotted
from controller.core.suggest import did_you_mean

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


def pydantic_problems(exc: ValidationError, model: type[BaseModel], doc: Document, file: str) -> list[Problem]:
    """One Problem per pydantic error, at the line of the offending value."""
    problems: dict[tuple[str, str], Problem] = {}
    for err in exc.errors():
        path = _data_path(doc.data, err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            known = _field_names(model, path[:-1])
            hint = did_you_mean(str(path[-1]), known)
            message = "unknown field" + hint
            if known and not hint:
                message += f"; expected one of: {', '.join(known)}"
        elif kind == "missing":
            message = "required field missing"
        elif kind == "string_pattern_mismatch" and path[-1:] == ("name",):
            message = f"invalid name {err['input']!r}: use lowercase letters, digits and '-', 1-63 characters, starting and ending with a letter or digit"
        elif kind == "string_pattern_mismatch" and path[-1:] == ("assistantId",):
            message = f"invalid assistant id {_short(err['input'])}: expected a UUID such as 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
        elif kind == "string_pattern_mismatch":
            message = f"invalid value {_short(err['input'])}"
        else:
            message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            message = message[0].lower() + message[1:] if message else message
            # pydantic's wording → the manifest's: no class names, no "after validation".
            message = re.sub(r" or instance of \w+", "", message).replace(" after validation", "")
            message = message.replace("a valid dictionary", "a mapping")
            if kind in {"literal_error"} or kind.endswith("_type") or kind.endswith("_parsing"):
                message += f", got {_short(err['input'])}"
            path, message = _narrow(doc.data, path, message)
        key = (dotted(path), message)
        problems.setdefault(key, Problem(file, doc.line_of(path), dotted(path), message))
    return list(problems.values())


def _narrow(data: Any, path: Path, message: str) -> tuple[Path, str]:
    """``spec.config`` + ``"tags: must be ..."`` → ``spec.config.tags`` + ``"must be ..."``.

    A validator of a whole mapping names the key it objects to at the start of its
    message; point at that key (and its line) instead of the mapping.
    """
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return path, message
    while isinstance(node, dict):
        head, sep, rest = message.partition(": ")
        if not sep or head not in node:
            break
        path, message, node = (*path, head), rest, node[head]
    return path, message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Keep the parts of a pydantic ``loc`` that are real keys/indices in ``data``."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif i == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            path.append(part)  # a missing or unknown key: name it
        else:
            continue  # union branch names such as 'literal[...]' or 'int'
    return tuple(path)


def _field_names(model: type[BaseModel], path: Path) -> list[str]:
    """Field names (as written in YAML) of the model found at ``path``, for did-you-mean."""
    from pydantic import BaseModel  # loaded already: this runs only after pydantic refused something

    current: Any = model
    for part in path:
        keyed = _is_dict(current)
        current = _unwrap(current)
        if isinstance(part, int) or keyed:
            continue  # a list index or a dict key (targets.<name>): the element's model is next
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field_info = next(
            (f for n, f in current.model_fields.items() if (f.alias or n) == part), None
        )
        if field_info is None:
            return []
        current = field_info.annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _is_dict(tp: Any) -> bool:
    """``dict[K, V]``, possibly inside ``Annotated``/``| None``."""
    while (origin := get_origin(tp)) is not None and origin is not dict:
        args = [a for a in get_args(tp) if a is not type(None)]
        if not args:
            return False
        tp = args[0]
    return get_origin(tp) is dict


def _unwrap(tp: Any) -> Any:
    """list[X] / X | None / Annotated[X, ...] → X (the first model among the args)."""
    from pydantic import BaseModel

    while get_origin(tp) is not None:
        args = [a for a in get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if models else (args[0] if args else tp)
        if not models and get_origin(tp) is None:
            break
    return tp
