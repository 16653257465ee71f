"""Plans for people (Terraform-style text) and for machines (stable JSON).

Diffs arrive masked (engine/diff.py); this module only lays them out.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from controller.cli.worddiff import MAX_SHOWN, clip, hunks
from controller.core.ansi import CYAN, GREEN, MAGENTA, RED, YELLOW
from controller.core.ansi import paint as ansi
from controller.core.mask import MASK
from controller.engine.diff import change_diff
from controller.engine.plan import ACTIONS, Change, Plan

#: Version of the JSON shape of ``plan -o json`` (documented in the README).
JSON_FORMAT = 1

_SYMBOL = {"create": "+", "update": "~", "repin": "↺", "delete": "-", "noop": " "}
_COLOR = {"+": GREEN, "~": YELLOW, "↺": CYAN, "-": RED, "!": MAGENTA}


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


#: A single-line string longer than this is diffed word by word instead of shown whole.
LONG = 200


def header(plan: Plan) -> str:
    """Whose assistants, where: a plan for the wrong owner or target is caught before apply."""
    how = plan.owner_source
    how = f" ({how})" if how.startswith("default") else f" (owner from {how})" if how else ""
    return f"Plan for owner {plan.owner} on {plan.target}{how}"


def render_text(plan: Plan, *, color: bool = False) -> str:
    def paint(symbol: str, text: str) -> str:
        return ansi(_COLOR.get(symbol), text, color)

    lines: list[str] = []
    for change in plan.changes:
        if change.action == "noop" and not change.warnings:
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
    return "\n".join([header(plan), "", *lines])


def _entry_lines(entry: dict[str, Any], paint, markdown: bool = False) -> list[str]:
    """One diff entry as lines. In Markdown (a ```diff block) every old value is a ``-`` line and
    every new one a ``+`` line, which is what GitHub colours; text keeps ``~ path: old → new``."""
    op, path, before, after = entry["op"], entry["path"], entry["before"], entry["after"]
    if entry.get("from"):
        path = f"{path} (from {entry['from']})"
    strings = op == "~" and isinstance(before, str) and isinstance(after, str)
    if strings and ("\n" in before or "\n" in after):
        out = [paint("~", f"~ {path}:")]
        for line in list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2))[2:]:
            key = "+" if line.startswith("+") else "-" if line.startswith("-") else " "
            line = clip(line, MAX_SHOWN)
            out.append(line if markdown else "    " + (paint(key, line) if key != " " else line))
        return out
    if strings and max(len(before), len(after)) > LONG:
        return _long_line(path, before, after, paint, markdown)
    if op == "~" and markdown:
        return [f"- {path}: {_fmt(before)}", f"+ {path}: {_fmt(after)}"]
    if op == "~":
        return [paint("~", f"~ {path}: {_fmt(before)} → {_fmt(after)}")]
    if op == "+":
        return [paint("+", f"+ {path}: {_fmt(after)}")]
    return [paint("-", f"- {path}: {_fmt(before)}")]


def _long_line(path: str, before: str, after: str, paint, markdown: bool) -> list[str]:
    """A long one-line string changed: its hunks, each with a little context (worddiff.py)."""
    found = hunks(before, after)
    size = f"({len(before)} → {len(after)} characters)"
    if markdown:
        return [f"~ {path}: {size}", *(line for h in found for line in (f"- {_quote(h.side('-'))}", f"+ {_quote(h.side('+'))}"))]
    if len(found) == 1:
        return [paint("~", f"~ {path}: {_quote(found[0].marked())} {size}")]
    return [paint("~", f"~ {path}: {len(found)} changes {size}"), *(f"    {_quote(h.marked())}" for h in found)]


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _fmt(value: Any) -> str:
    if value == MASK:
        return MASK
    return clip(json.dumps(value, ensure_ascii=False, sort_keys=True), MAX_SHOWN)


def render_markdown(plan: Plan) -> str:
    """The plan as a pull-request comment: a summary table, then one collapsible diff per change.

    Values are masked by engine/diff.py before they get here, like every other view.
    """
    lines = [f"### {header(plan)}", "", "| Action | Count |", "| --- | ---: |"]
    lines += [f"| {a} | {plan.count(a)} |" for a in ACTIONS if a != "noop"]
    lines += ["", f"**{plan.summary() if plan.has_changes else 'No changes. The target matches the manifests.'}**", ""]
    for change in plan.changes:
        if change.action == "noop" and not change.warnings:
            continue
        body = [line for entry in change_diff(change) for line in _entry_lines(entry, lambda _s, t: t, markdown=True)]
        body += [f"! {w}" for w in change.warnings]
        fence = "`" * max(3, 1 + max((len(r) for line in body for r in re.findall(r"`+", line)), default=0))
        source = f" <sub>{_html(change.source)}</sub>" if change.source else ""
        lines += ["<details>", f"<summary><code>{_SYMBOL[change.action]} {_html(_headline(change))}</code>{source}</summary>",
                  "", f"{fence}diff", *body, fence, "", "</details>", ""]
    for warning in plan.warnings:
        lines.append(f"> **warning:** {_html(warning)}")
    return "\n".join(lines).rstrip() + "\n"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_json(plan: Plan) -> dict[str, Any]:
    """The plan as a stable JSON object (see README, "JSON output")."""
    return {
        "format": JSON_FORMAT,
        "owner": plan.owner,
        "owner_source": plan.owner_source,
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
