"""Saved plans: ``plan --out FILE`` writes one, ``apply FILE`` applies exactly it.

A plan file never holds a value that came from the environment. In its place it
keeps the template as written (``${MODEL}``) and a salted SHA-256 of the resolved
value; apply resolves the template again and refuses if the value changed since the
plan, so what is applied is still exactly what was reviewed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from controller.config.interpolate import InterpolationError, shown_template, substitute
from controller.config.promptfiles import PromptFiles
from controller.core.content import Content
from controller.core.errors import ControllerError
from controller.core.mask import MASK
from controller.engine.desired import Declaration
from controller.engine.diff import change_diff
from controller.engine.plan import Change, Plan
from controller.evals.dataset import Home

FORMAT = "assistant-controller/plan-v1"


def _digest(salt: str, value: Any) -> str:
    return hashlib.sha256((salt + json.dumps(value, sort_keys=True)).encode()).hexdigest()


def _get(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        tree = tree[part]
    tree[path[-1]] = value


def _content_out(content: Content | None, change: Change, salt: str) -> dict | None:
    if content is None:
        return None
    data = content.to_api()
    for path in change.sensitive:
        try:
            value = _get(data, path)
        except (KeyError, IndexError, TypeError):
            continue
        _set(data, path, {"$sensitive": change.templates.get(path, ""), "sha256": _digest(salt, value)})
    return data


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class _Body(_Loose):
    """An assistant's content as the plan file holds it (Agent Server shape)."""

    graph_id: str
    name: str = ""
    description: str | None = None
    config: dict[str, Any] = {}
    context: dict[str, Any] = {}
    metadata: dict[str, Any] = {}


class _Change(_Loose):
    action: Literal["create", "update", "repin", "delete", "noop"]
    name: str
    assistant_id: str
    seen_version: int | None
    to_version: int | None
    adopt: bool
    reason: str
    source: str
    warnings: list[str]
    mirror_as: Literal["configurable", "context"]
    before: _Body | None
    content: _Body | None
    sensitive: list[list[str | int]]
    smoke: list[dict[str, Any]]
    #: The evals, their datasets' cases inline: the apply runs what was reviewed.
    evals: list[dict[str, Any]] = []
    after: list[str] = []
    diff: list[dict[str, Any]] | None = None


class TargetRecord(_Loose):
    """Where the plan was made, so ``apply PLAN`` reopens it without ``-t``/``--url``."""

    name: str
    url: str | None = None
    embedded: str | None = None
    graphs: str | None = None


class _PlanFile(_Loose):
    format: Literal["assistant-controller/plan-v1"]
    salt: str
    owner: str
    target: str
    target_spec: TargetRecord | None = None
    owner_source: str = ""
    prune: bool
    warnings: list[str]
    changes: list[_Change]


def dumps(plan: Plan, where: TargetRecord | None = None) -> str:
    salt = secrets.token_hex(16)
    changes = []
    for c in plan.changes:
        changes.append({
            "action": c.action, "name": c.name, "assistant_id": c.assistant_id,
            "seen_version": c.seen_version, "to_version": c.to_version, "adopt": c.adopt,
            "reason": c.reason, "source": c.source, "warnings": list(c.warnings), "mirror_as": c.mirror_as,
            "before": _content_out(c.before, c, salt),
            "content": _content_out(c.content, c, salt),
            "sensitive": [list(p) for p in sorted(c.sensitive, key=str)],
            "smoke": [s.model_dump(mode="json", by_alias=True, exclude_unset=True) for s in c.smoke],
            "evals": _evals_out(c),
            "after": list(c.after),
            "diff": change_diff(c),  # what was reviewed: apply shows it, line for line
        })
    return json.dumps({
        "format": FORMAT, "salt": salt, "owner": plan.owner, "target": plan.target,
        "target_spec": where.model_dump() if where else None, "owner_source": plan.owner_source,
        "prune": plan.prune, "warnings": list(plan.warnings), "changes": changes,
    }, indent=2, sort_keys=True) + "\n"


def _evals_out(change: Change) -> list[dict[str, Any]]:
    if not change.evals:
        return []
    from controller.evals.dataset import DatasetMissing, inlined

    try:
        return [inlined(spec, home.file).model_dump(mode="json", by_alias=True, exclude_unset=True)
                for spec, home in zip(change.evals, change.eval_homes, strict=True)]
    except DatasetMissing as exc:
        raise ControllerError(f"{change.name}: an eval's dataset cannot be read ({exc}); the plan was not saved") from None


def save(plan: Plan, path: str, where: TargetRecord | None = None) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dumps(plan, where))
    os.replace(tmp, path)


def is_plan_file(path: str) -> bool:
    """True for a file meant as a saved plan: a manifest (``.yaml``/``.yml``) never is.

    Deliberately loose (JSON-looking, binary, or naming the plan format), so that a
    plan cut short or edited into invalid JSON is refused as a plan file, by name,
    instead of being read as a manifest and failing with a YAML message.
    """
    if not os.path.isfile(path) or path.endswith((".yaml", ".yml")):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if FORMAT.encode() in head or head.lstrip().startswith(b"{"):
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # binary, not just a character cut at the 4 KB boundary
    return False


def _invalid(path: str, reason: str) -> ControllerError:
    return ControllerError(f"not a valid plan file: {path}: {reason}")


def read(path: str) -> dict[str, Any]:
    """The file's JSON, checked against the plan-file shape (raises ControllerError, never KeyError).

    A plan file edited by hand, cut short or written by something else is refused
    whole, with the first thing wrong in it, before anything is applied.
    """
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))
    except OSError as exc:
        raise ControllerError(f"cannot read plan file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _invalid(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _invalid(path, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise _invalid(path, "nested too deeply") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _invalid(path, f"not a plan of this controller (expected format {FORMAT})")
    try:
        _PlanFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"])) or "(top)"
        raise _invalid(path, f"{where}: {err['msg'].lower()}") from None
    except RecursionError:
        raise _invalid(path, "nested too deeply") from None
    return data


def recorded_target(path: str) -> TargetRecord | None:
    """The target a saved plan was made for (None in plan files written before it was recorded)."""
    record = read(path).get("target_spec")
    return TargetRecord.model_validate(record) if record else None


def load(path: str, values: Mapping[str, str], environ: Mapping[str, str], files: PromptFiles | None = None) -> Plan:
    """Read a saved plan, resolving its sensitive values again (refusing if they changed);
    ``files``: the project's prompt files, for a value whose file path came from the environment."""
    data = read(path)
    try:
        return _build(path, data, lambda template: substitute(template, values, environ, files)[0])
    except ControllerError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, ValidationError) as exc:
        raise _invalid(path, f"{type(exc).__name__}: {exc}".splitlines()[0]) from None


def _build(path: str, data: dict[str, Any], resolve: Callable[[str], Any]) -> Plan:
    salt = data["salt"]
    changes = []
    for c in data["changes"]:
        sensitive = frozenset(tuple(p) for p in c["sensitive"])
        templates: dict[tuple, str] = {}
        contents = {}
        for key in ("before", "content"):
            body = c[key]
            if body is not None:
                for p in sensitive:
                    try:
                        slot = _get(body, p)
                    except (KeyError, IndexError, TypeError):
                        continue
                    if isinstance(slot, dict) and "$sensitive" in slot:
                        if not isinstance(slot["$sensitive"], str) or not isinstance(slot.get("sha256"), str):
                            raise _invalid(path, f"{c['name']}: a sensitive value is malformed")
                        templates[p] = slot["$sensitive"]
                        # "before" is shown only (rollback re-reads the target), so it stays masked
                        shown = MASK if key == "before" else _resolve(slot, salt, resolve, c["name"], path)
                        _set(body, p, shown)
            contents[key] = Content.from_api(body) if body is not None else None
        try:
            from controller.config.manifest import SmokeCase  # a plan with smoke cases: they are validated again

            smoke = tuple(SmokeCase.model_validate(s) for s in c["smoke"])
        except ValidationError as exc:
            raise _invalid(path, f"{c['name']}: smoke: {exc.errors()[0]['msg'].lower()}") from None
        evals = _evals_in(c, path)
        declared = Declaration(
            name=c["name"], assistant_id=c["assistant_id"], source=c["source"], cases=smoke,
            sensitive=sensitive, templates=templates, mirror_as=c["mirror_as"],
            evaluations=evals, eval_homes=tuple(Home(path) for _ in evals),  # (cases inline: no dataset to find)
        )
        changes.append(Change(
            action=c["action"], declared=declared, seen_version=c["seen_version"], before=contents["before"],
            content=contents["content"], to_version=c["to_version"], adopt=c["adopt"],
            warnings=tuple(c["warnings"]), reason=c["reason"], after=tuple(c.get("after", ())),
            reviewed=tuple(c["diff"]) if c.get("diff") is not None else None,
        ))
    return Plan(owner=data["owner"], target=data["target"], changes=tuple(changes),
                prune=data["prune"], warnings=tuple(data["warnings"]),
                owner_source=data.get("owner_source", ""))


def _evals_in(change: Mapping[str, Any], path: str) -> tuple[Any, ...]:
    """A saved change's evals, validated again (as its smoke cases are)."""
    if not change.get("evals"):
        return ()
    from controller.config.manifest import EvalSpec

    try:
        return tuple(EvalSpec.model_validate(e) for e in change["evals"])
    except ValidationError as exc:
        raise _invalid(path, f"{change['name']}: evals: {exc.errors()[0]['msg'].lower()}") from None


def _resolve(slot: dict, salt: str, resolve: Callable[[str], Any], name: str, path: str) -> Any:
    try:
        value = resolve(slot["$sensitive"])
    except InterpolationError as exc:
        raise ControllerError(f"{path}: {name}: {exc}; the plan needs it to apply") from None
    if _digest(salt, value) != slot["sha256"]:
        raise ControllerError(
            f"{path}: {name}: a value from the environment ({shown_template(slot['$sensitive'])}) changed since the plan; plan again"
        )
    return value
