"""Field-level differences between two contents, masked: what a plan shows per change.

Values that came from the environment are masked here, where diffs are made, so no
output (text, JSON, Markdown, drift events) can leak them: a masked path shows
``(sensitive)`` on both sides, since the server's old value may be a secret too.

An entry whose new value was not written in the manifest itself says where it came from
(``"from": "prompts/blog.md"`` or ``"defaults/support.yaml:6"``): a reviewer of the plan
finds the file to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.core.content import Content, canonical
from controller.core.mask import MASK, is_sensitive
from controller.core.paths import Path, dotted
from controller.engine.plan import Change


def field_diff(before: Content | None, after: Content | None, sensitive: frozenset[Path] = frozenset(),
               mirror_as: str = "configurable", origins: Mapping[Path, str] | None = None) -> list[dict[str, Any]]:
    """Leaf-level differences ``{op, path, before, after}`` between two contents, masked; with
    ``from`` where ``origins`` says where the new value came from."""
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
    diff: Any = {}
    if old and new:
        from deepdiff import DeepDiff  # 0.2 s to import: only when an update is shown

        diff = DeepDiff(old, new, view="tree", verbose_level=2, threshold_to_diff_deeper=0)
    entries.extend(_deep_entries(diff))
    for e in entries:
        origin = _origin(e["path"], origins) if origins and e["op"] != "-" else None
        if origin:
            e["from"] = origin
        if is_sensitive(e["path"], sensitive):
            e["before"] = MASK if e["before"] is not None else None
            e["after"] = MASK if e["after"] is not None else None
        e["path"] = dotted(e["path"])
    return sorted(entries, key=lambda e: e["path"])


def _deep_entries(diff: Any) -> list[dict[str, Any]]:
    """deepdiff's tree report as leaf entries: an added or removed mapping, leaf by leaf."""
    entries: list[dict[str, Any]] = []
    for report in ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed",
                   "iterable_item_added", "iterable_item_removed"):
        for level in diff.get(report, []):
            path = tuple(level.path(output_format="list"))
            t1 = None if _absent(level.t1) else level.t1
            t2 = None if _absent(level.t2) else level.t2
            if report.endswith("_added"):
                entries.extend({"op": "+", "path": p, "before": None, "after": v} for p, v in _leaves(path, t2))
            elif report.endswith("_removed"):
                entries.extend({"op": "-", "path": p, "before": v, "after": None} for p, v in _leaves(path, t1))
            else:
                entries.append({"op": "~", "path": path, "before": t1, "after": t2})
    return entries


def _origin(path: tuple, origins: Mapping[Path, str]) -> str | None:
    """Where the value at ``path`` (or the list or map it is in) came from."""
    for n in range(len(path), 0, -1):
        found = origins.get(path[:n])
        if found:
            return found
    return None


def _absent(value: Any) -> bool:
    return type(value).__name__ == "NotPresent"


def _leaves(path: tuple, value: Any) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves((*path, k), v)]
    return [(path, value)]


def change_diff(change: Change) -> list[dict[str, Any]]:
    if change.reviewed is not None:
        return [dict(entry) for entry in change.reviewed]
    if change.action == "delete":
        return field_diff(change.before, None, change.sensitive, change.mirror_as)
    if change.action == "noop":
        return []
    return field_diff(change.before, change.content, change.sensitive, change.mirror_as, change.origins)
