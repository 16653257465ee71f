"""Plans and diffs for people (Terraform-style text) and for machines (stable JSON).

Values that came from the environment are masked here, at the only place plans
become text, so no output path can leak them: a masked path shows ``(sensitive)``
on both sides of a change, since the server's old value may be a secret too.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from deepdiff import DeepDiff

from controller.core.content import Content, canonical
from controller.engine.desired import ContentPath
from controller.engine.plan import ACTIONS, Change, Plan

MASK = "(sensitive)"
#: Version of the JSON shape of ``plan -o json`` (documented in the README).
JSON_FORMAT = 1

_SYMBOL = {"create": "+", "update": "~", "repin": "↺", "delete": "-", "noop": " "}
_COLOR = {"+": "32", "~": "33", "↺": "36", "-": "31", "!": "35"}


def field_diff(before: Content | None, after: Content | None, sensitive: frozenset[ContentPath] = frozenset(),
               mirror_as: str = "configurable") -> list[dict[str, Any]]:
    """Leaf-level differences ``{op, path, before, after}`` between two contents, masked."""
    old = canonical(before, mirror_as) if before else {}
    new = canonical(after, mirror_as) if after else {}
    entries: list[dict[str, Any]] = []
    if not old or not new:  # a create or a delete: every leaf, one side only
        op, side = ("+", new) if new else ("-", old)
        for path, value in _leaves((), side):
            if value is None or value == {}:
                continue
            entries.append({"op": op, "path": path, "before": value if op == "-" else None,
                            "after": value if op == "+" else None})
    diff = DeepDiff(old, new, view="tree", verbose_level=2, threshold_to_diff_deeper=0) if old and new else {}
    for report in ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed",
                   "iterable_item_added", "iterable_item_removed"):
        for level in diff.get(report, []):
            path = tuple(level.path(output_format="list"))
            t1 = None if _absent(level.t1) else level.t1
            t2 = None if _absent(level.t2) else level.t2
            if report.endswith("_added"):
                for leaf_path, value in _leaves(path, t2):
                    entries.append({"op": "+", "path": leaf_path, "before": None, "after": value})
            elif report.endswith("_removed"):
                for leaf_path, value in _leaves(path, t1):
                    entries.append({"op": "-", "path": leaf_path, "before": value, "after": None})
            else:
                entries.append({"op": "~", "path": path, "before": t1, "after": t2})
    for e in entries:
        if _is_sensitive(e["path"], sensitive):
            e["before"] = MASK if e["before"] is not None else None
            e["after"] = MASK if e["after"] is not None else None
        e["path"] = dotted(e["path"])
    return sorted(entries, key=lambda e: e["path"])


def _absent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _leaves(path: tuple, value: Any) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves((*path, k), v)]
    return [(path, value)]


def _is_sensitive(path: tuple, sensitive: frozenset[ContentPath]) -> bool:
    return any(path[: len(s)] == s or s[: len(path)] == path for s in sensitive)


def dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def change_diff(change: Change) -> list[dict[str, Any]]:
    if change.action == "delete":
        return field_diff(change.before, None, change.sensitive, change.mirror_as)
    if change.action == "noop":
        return []
    return field_diff(change.before, change.content, change.sensitive, change.mirror_as)


def _headline(change: Change) -> str:
    if change.action == "create":
        return f"{change.name}: create"
    if change.action == "update":
        what = "adopt (new version)" if change.adopt else "update"
        return f"{change.name}: {what} v{change.seen_version} → new version"
    if change.action == "repin":
        return f"{change.name}: repin v{change.seen_version} → v{change.to_version} ({change.reason}; no new version)"
    if change.action == "delete":
        return f"{change.name}: delete ({change.reason})"
    return f"{change.name}: no changes"


def render_text(plan: Plan, *, color: bool = False, show_noop: bool = False) -> str:
    paint = _painter(color)
    lines: list[str] = []
    for change in plan.changes:
        if change.action == "noop" and not change.warnings and not show_noop:
            continue
        symbol = _SYMBOL[change.action]
        where = f"  # {change.source}" if change.source else ""
        lines.append(paint(symbol, f"{symbol} {_headline(change)}") + where)
        for entry in change_diff(change):
            lines.extend("    " + line for line in _entry_lines(entry, paint))
        for warning in change.warnings:
            lines.append("    " + paint("!", f"! {warning}"))
    for warning in plan.warnings:
        lines.append(paint("!", f"warning: {warning}"))
    if lines:
        lines.append("")
    lines.append(plan.summary() if plan.has_changes else "No changes. The target matches the manifests.")
    return "\n".join(lines)


def _entry_lines(entry: dict[str, Any], paint) -> list[str]:
    op, path, before, after = entry["op"], entry["path"], entry["before"], entry["after"]
    if op == "~" and isinstance(before, str) and isinstance(after, str) and ("\n" in before or "\n" in after):
        out = [paint("~", f"~ {path}:")]
        for line in list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2))[2:]:
            key = "+" if line.startswith("+") else "-" if line.startswith("-") else " "
            out.append("    " + (paint(key, line) if key != " " else line))
        return out
    if op == "~":
        return [paint("~", f"~ {path}: {_fmt(before)} → {_fmt(after)}")]
    if op == "+":
        return [paint("+", f"+ {path}: {_fmt(after)}")]
    return [paint("-", f"- {path}: {_fmt(before)}")]


def _fmt(value: Any) -> str:
    if value == MASK:
        return MASK
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _painter(color: bool):
    def paint(symbol: str, text: str) -> str:
        code = _COLOR.get(symbol)
        return f"\x1b[{code}m{text}\x1b[0m" if color and code else text

    return paint


def render_json(plan: Plan) -> dict[str, Any]:
    """The plan as a stable JSON object (see README, "JSON output")."""
    return {
        "format": JSON_FORMAT,
        "owner": plan.owner,
        "target": plan.target,
        "summary": {a: plan.count(a) for a in ACTIONS},
        "changes": [
            {
                "action": c.action,
                "name": c.name,
                "assistant_id": c.assistant_id,
                "source": c.source,
                "seen_version": c.seen_version,
                "to_version": c.to_version,
                "adopt": c.adopt,
                "reason": c.reason,
                "warnings": list(c.warnings),
                "diff": change_diff(c),
            }
            for c in plan.changes
        ],
        "warnings": list(plan.warnings),
    }
