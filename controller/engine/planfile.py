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
from collections.abc import Mapping
from typing import Any

from controller.config.interpolate import UnsetVariable, substitute
from controller.config.manifest import SmokeCase
from controller.core.content import Content
from controller.core.errors import ControllerError
from controller.core.mask import MASK
from controller.engine.desired import Declaration
from controller.engine.plan import Change, Plan

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


def dumps(plan: Plan) -> str:
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
        })
    return json.dumps({
        "format": FORMAT, "salt": salt, "owner": plan.owner, "target": plan.target,
        "owner_source": plan.owner_source, "prune": plan.prune, "warnings": list(plan.warnings), "changes": changes,
    }, indent=2, sort_keys=True) + "\n"


def save(plan: Plan, path: str) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dumps(plan))
    os.replace(tmp, path)


def is_plan_file(path: str) -> bool:
    """True for a file written by ``plan --out`` (any name); manifests are never plan files."""
    if not os.path.isfile(path) or path.endswith((".yaml", ".yml")):
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def load(path: str, values: Mapping[str, str], environ: Mapping[str, str]) -> Plan:
    """Read a saved plan, resolving its sensitive values again (refusing if they changed)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ControllerError(f"{path}: not a readable plan file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ControllerError(f"{path}: not a plan file of this controller (format {FORMAT})")
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
                        templates[p] = slot["$sensitive"]
                        # "before" is shown only (rollback re-reads the target), so it stays masked
                        shown = MASK if key == "before" else _resolve(slot, salt, values, environ, c["name"], path)
                        _set(body, p, shown)
            contents[key] = Content.from_api(body) if body is not None else None
        declared = Declaration(
            name=c["name"], assistant_id=c["assistant_id"], source=c["source"],
            smoke=tuple(SmokeCase.model_validate(s) for s in c["smoke"]),
            sensitive=sensitive, templates=templates, mirror_as=c["mirror_as"],
        )
        changes.append(Change(
            action=c["action"], declared=declared, seen_version=c["seen_version"], before=contents["before"],
            content=contents["content"], to_version=c["to_version"], adopt=c["adopt"],
            warnings=tuple(c["warnings"]), reason=c["reason"],
        ))
    return Plan(owner=data["owner"], target=data["target"], changes=tuple(changes),
                prune=data["prune"], warnings=tuple(data["warnings"]),
                owner_source=data.get("owner_source", ""))


def _resolve(slot: dict, salt: str, values: Mapping[str, str], environ: Mapping[str, str], name: str, path: str) -> Any:
    try:
        value, _ = substitute(slot["$sensitive"], values, environ)
    except UnsetVariable as exc:
        raise ControllerError(f"{path}: {name}: {exc}; the plan needs it to apply") from None
    if _digest(salt, value) != slot["sha256"]:
        raise ControllerError(
            f"{path}: {name}: a value from the environment ({slot['$sensitive']}) changed since the plan; plan again"
        )
    return value
