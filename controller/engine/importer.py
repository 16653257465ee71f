"""`controller import`: live assistants → manifests, the first step of adopting them.

It writes one manifest per live assistant that no manifest declares, except the server's
per-graph system assistants and those another controller owns: assistants made in a UI
or by a script (no owner), and ones this owner made whose manifest is gone (a --prune
would delete them). Each manifest carries ``metadata.assistantId``, so the assistant is
taken over rather than copied: ``controller apply --adopt`` then makes at most one new
version per assistant (adding the ownership metadata), after which ``plan`` is empty.

Files are written only when none would overwrite an existing one, each validated
against the manifest model first, with ``${`` escaped so interpolation keeps values as
they are.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import unicodedata
from typing import Any

import yaml
from pydantic import ValidationError

from controller.engine.apply import CANDIDATE_KEY
from controller.core.content import NAME_KEY, RESERVED_METADATA_KEYS
from controller.core.errors import ControllerError
from controller.config.interpolate import substitute
from controller.config.loader import display_path
from controller.config.manifest import API_VERSION, NAME_PATTERN, AssistantManifest
from controller.cli.console import Console
from controller.engine.pipeline import Workspace, open_target
from controller.config.settings import git_toplevel
from controller.targets.base import AssistantState

SCHEMA_FILE = os.path.join("schemas", "assistant.schema.json")


class _Dumper(yaml.SafeDumper):
    """yaml.SafeDumper, with multi-line strings (prompts) as ``|`` blocks."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def slugify(text: str) -> str:
    """``"Blog Writer (v2)!"`` → ``"blog-writer-v2"``: a valid metadata.name, or ``""``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:63].rstrip("-")


def unique_name(state: AssistantState, owner: str, taken: set[str]) -> str:
    """The manifest name: its controller/name when this owner made it, else from its name."""
    content = state.content
    base = content.metadata.get(NAME_KEY) if content.owner == owner else None
    if not (isinstance(base, str) and re.fullmatch(NAME_PATTERN, base)):
        base = slugify(content.name) or f"assistant-{state.assistant_id[:8]}"
    name, n = base, 2
    while name in taken:
        suffix = f"-{n}"
        name, n = base[: 63 - len(suffix)].rstrip("-") + suffix, n + 1
    taken.add(name)
    return name


def escape(value: Any) -> Any:
    """Escape ``${`` in every string value, so the loader's interpolation gives it back as is."""
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, str) and "${" in value:
        escaped = value.replace("${", "$${")
        if substitute(escaped, {}, {})[0] != value:
            raise ControllerError(f"cannot write {value[:40]!r} so that interpolation keeps it")
        return escaped
    return value


def manifest(state: AssistantState, name: str) -> dict[str, Any]:
    """The manifest whose desired content equals the assistant's (ownership metadata aside)."""
    c = state.content
    spec: dict[str, Any] = {"graph": c.graph_id}
    if c.name:
        spec["displayName"] = c.name
    if c.description:
        spec["description"] = c.description
    config, context = copy.deepcopy(c.config or {}), {}
    if not config.get("configurable"):  # a configurable mirrors context; without one, context is the value
        config.pop("configurable", None)
        context = copy.deepcopy(c.context or {})
    if config:
        spec["config"] = config
    if context:
        spec["context"] = context
    metadata = {k: v for k, v in (c.metadata or {}).items()
                if v is not None and not k.startswith("controller/") and k not in RESERVED_METADATA_KEYS}
    if metadata:
        spec["metadata"] = metadata
    return {"apiVersion": API_VERSION, "kind": "Assistant",
            "metadata": {"name": name, "assistantId": state.assistant_id}, "spec": escape(spec)}


def schema_modeline(out: str, root: str) -> str:
    """``# yaml-language-server: $schema=../schemas/assistant.schema.json`` when schemas/ is found
    in a folder at or above ``out`` (up to the repository root); else nothing."""
    folder = here = os.path.abspath(out)
    stop = git_toplevel(root) or os.path.abspath(root)
    while True:
        if os.path.isfile(os.path.join(here, SCHEMA_FILE)):
            rel = os.path.relpath(os.path.join(here, SCHEMA_FILE), folder).replace(os.sep, "/")
            return f"# yaml-language-server: $schema={rel}\n"
        parent = os.path.dirname(here)
        if here == stop or parent == here:
            return ""
        here = parent


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"


def select(live: list[AssistantState], declared_ids: set[str], owner: str,
           graph: str | None) -> tuple[list[AssistantState], dict[str, int]]:
    """What to import (ours first, so they keep their names) and how many were skipped, why."""
    skipped = {"declared": 0, "system": 0, "other_owner": 0, "graph": 0}
    picked = []
    for state in live:
        c = state.content
        if c.is_system or CANDIDATE_KEY in c.metadata:  # candidates: apply's temporary smoke assistants
            skipped["system"] += c.is_system
        elif state.assistant_id in declared_ids:
            skipped["declared"] += 1
        elif graph and c.graph_id != graph:
            skipped["graph"] += 1
        elif c.owner and c.owner != owner:
            skipped["other_owner"] += 1  # another controller manages it
        else:
            picked.append(state)
    picked.sort(key=lambda s: (s.content.owner != owner, s.content.name, s.assistant_id))
    return picked, skipped


def render(picked: list[AssistantState], owner: str, taken: set[str], out: str,
           modeline: str) -> tuple[list[tuple[str, AssistantState, str, str]], list[str]]:
    """(path, assistant, name, text) per file to write, and the problems that stop the import."""
    files, problems = [], []
    for state in picked:
        name = unique_name(state, owner, taken)
        path = os.path.join(out, f"{name}.yaml")
        doc = manifest(state, name)
        try:
            AssistantManifest.model_validate(doc)
        except ValidationError as exc:
            problems.append(f"{state.assistant_id} ({state.content.name!r}): not expressible as a manifest: {_first_error(exc)}")
            continue
        if os.path.exists(path):
            problems.append(f"{display_path(path)}: already exists; not overwritten (move it, or choose another --out)")
            continue
        body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
        files.append((path, state, name, modeline + body))
    return files, problems


async def import_assistants(args: argparse.Namespace, console: Console) -> int:
    paths = args.paths or ["."]
    ws = Workspace.load(paths, config=args.config, target=args.target, url=args.url, concurrency=args.concurrency)
    declared = ws.desired()  # invalid manifests: their errors, nothing written
    target = open_target(ws.spec)
    try:
        live = await target.list_assistants()
    finally:
        await target.aclose()
    owner = ws.settings.owner
    picked, skipped = select(live, {d.assistant_id for d in declared}, owner, args.graph)
    files, problems = render(picked, owner, {d.name for d in declared}, args.out, schema_modeline(args.out, ws.settings.root))
    if problems:  # all or nothing: no file is written
        for problem in problems:
            console.error(f"error: {problem}")
        console.emit({"ok": False, "errors": problems, "written": []})
        console.error(f"{len(problems)} error{'s' if len(problems) != 1 else ''}; no file was written.")
        return 1

    os.makedirs(args.out, exist_ok=True)
    written = []
    for path, state, name, text in files:
        with open(path, "x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
            fh.write(text)
        c = state.content
        written.append({"file": display_path(path), "name": name, "assistant_id": state.assistant_id, "graph": c.graph_id})
        console.line(f"wrote {display_path(path)} ({c.name or name}, graph {c.graph_id}, assistant {state.assistant_id})")
    console.emit({"ok": True, "written": written, "skipped": skipped, "owner": owner, "target": ws.spec.label})
    labels = {"declared": "declared by manifests", "system": "system", "other_owner": "owned by other controllers",
              "graph": "of other graphs"}
    notes = ", ".join(f"{n} {labels[why]}" for why, n in skipped.items() if n)
    notes = f" (skipped: {notes})" if notes else ""
    if not written:
        console.result(f"No assistants to import from {ws.spec.label}{notes}.")
        return 0
    console.result(f"Imported {len(written)} assistant{'s' if len(written) != 1 else ''}{notes}.")
    out = os.path.abspath(args.out)
    inside = any(os.path.isdir(p) and os.path.commonpath([os.path.abspath(p), out]) == os.path.abspath(p) for p in paths)
    apply_paths = (args.paths or []) if inside else [*paths, display_path(args.out)]
    console.result(f"Review the files, then take the assistants over: controller apply {' '.join([*apply_paths, '--adopt'])}")
    return 0
