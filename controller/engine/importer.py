"""`controller import`: live assistants → manifests, the first step of adopting them.

It writes one manifest per live assistant that no manifest declares, except the server's
per-graph system assistants and those another controller owns: assistants made in a UI
or by a script (no owner), and ones this owner made whose manifest is gone (a --prune
would delete them). Each manifest carries ``metadata.assistantId``, so the assistant is
taken over rather than copied: ``controller apply --adopt`` then makes at most one new
version per assistant (adding the ownership metadata), after which ``plan`` is empty.

Files are written only when none would overwrite an existing one, each validated
against the manifest model first, with ``${`` escaped so interpolation keeps values as
they are. Multi-line strings of more than five lines (prompts) go to prompt files beside
the manifest (engine/promptout.py) unless ``--inline``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from controller.config.files import API_VERSION
from controller.config.interpolate import substitute
from controller.config.manifest import NAME_PATTERN, AssistantManifest
from controller.config.settings import git_toplevel
from controller.config.yamlio import dump_yaml
from controller.core.content import CANDIDATE_KEY, KEY_PREFIX, NAME_KEY, RESERVED_METADATA_KEYS, declared
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.core.fs import display_path, find_up
from controller.engine.pipeline import Workspace
from controller.engine.promptout import file_names, long_strings, reference
from controller.targets.base import AssistantState, GraphInfo, Target

SCHEMA_FILE = os.path.join("schemas", "assistant.schema.json")


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


def manifest(state: AssistantState, name: str, *, inline: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """The manifest whose desired content equals the assistant's (ownership metadata aside), and
    the prompt files it references (path from the manifest's folder → text): none ``inline``."""
    spec = _spec(state)
    long = {} if inline else long_strings(spec)
    files = file_names(name, list(long))
    spec = reference(escape(spec), files)  # (the references themselves are not escaped)
    return ({"apiVersion": API_VERSION, "kind": "Assistant",
             "metadata": {"name": name, "assistantId": state.assistant_id}, "spec": spec},
            {file: long[path] for path, file in files.items()})


def _spec(state: AssistantState) -> dict[str, Any]:
    c = state.content
    spec: dict[str, Any] = {"graph": c.graph_id}
    if c.name:
        spec["displayName"] = c.name
    if c.description:
        spec["description"] = c.description
    config, context = declared(c)
    if config:
        spec["config"] = config
    if context:
        spec["context"] = context
    metadata = {k: v for k, v in (c.metadata or {}).items()
                if v is not None and not k.startswith(KEY_PREFIX) and k not in RESERVED_METADATA_KEYS}
    if metadata:
        spec["metadata"] = metadata
    return spec


def schema_modeline(out: str, root: str) -> str:
    """``# yaml-language-server: $schema=../schemas/assistant.schema.json`` when schemas/ is found
    in a folder at or above ``out`` (up to the repository root); else nothing."""
    found = find_up(out, (SCHEMA_FILE,), stop=git_toplevel(root) or os.path.abspath(root))
    if found is None:
        return ""
    return f"# yaml-language-server: $schema={os.path.relpath(found, os.path.abspath(out)).replace(os.sep, '/')}\n"


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


@dataclass(frozen=True)
class ToWrite:
    """One imported assistant: its manifest file, text, and prompt files (path → text)."""

    path: str
    state: AssistantState
    name: str
    text: str
    prompts: dict[str, str]


def render(picked: list[AssistantState], owner: str, taken: set[str], out: str,
           modeline: str, inline: bool = False) -> tuple[list[ToWrite], list[str]]:
    """The files to write, and the problems that stop the import."""
    files, problems = [], []
    for state in picked:
        name = unique_name(state, owner, taken)
        path = os.path.join(out, f"{name}.yaml")
        doc, prompts = manifest(state, name, inline=inline)
        try:
            AssistantManifest.model_validate(doc)
        except ValidationError as exc:
            problems.append(f"{state.assistant_id} ({state.content.name!r}): not expressible as a manifest: {_first_error(exc)}")
            continue
        prompt_paths = {os.path.join(out, *p.split("/")): text for p, text in prompts.items()}
        there = [p for p in [path, *prompt_paths] if os.path.exists(p)]
        if there:
            problems.extend(f"{display_path(p)}: already exists; not overwritten (move it, or choose another --out)" for p in there)
            continue
        files.append(ToWrite(path, state, name, modeline + dump_yaml(doc), prompt_paths))
    return files, problems


def runs_with(state: AssistantState, graph: GraphInfo | None) -> tuple[AssistantState, str | None]:
    """``state`` with one consistent configuration, the one its graph actually runs with, and
    a note when its live ``context`` and ``config.configurable`` disagreed (else None).

    They disagree after the Agent Server's "set latest version", which restores a version's
    config but keeps the last written context; a run then gets both. A graph with a context
    schema receives the context (filtered by that schema: ``langgraph_api.stream``'s
    ``_filter_context_by_schema``) as its runtime context (langgraph 1.x makes an old-style
    ``config_schema`` its context schema too); a graph without one reads configurable.
    """
    c = state.content
    configurable, context = c.config.get("configurable") or {}, c.context or {}
    if not configurable or context == configurable:
        return state, None
    properties = ((graph.context_schema if graph else None) or {}).get("properties") or {}
    why = (f"{state.assistant_id} ({c.name!r}): its live context and config.configurable disagree (the server's "
           "\"set latest version\" restores config but not context)")
    if properties:
        kept = {k: v for k, v in context.items() if k in properties}
        config = {k: v for k, v in c.config.items() if k != "configurable"}
        dropped = sorted(context.keys() - kept.keys())
        note = (f"{why}; wrote its context, which the graph receives (it has a context schema), not "
                f"config.configurable (keys: {', '.join(sorted(configurable))})"
                + (f"; left out context keys the schema lacks: {', '.join(dropped)}" if dropped else ""))
        return dataclasses.replace(state, content=dataclasses.replace(c, config=config, context=kept)), note
    note = (f"{why}; wrote config.configurable, which the graph reads (it has no context schema), not the context "
            f"(keys: {', '.join(sorted(context)) or 'none'})")
    return dataclasses.replace(state, content=dataclasses.replace(c, context=dict(configurable))), note


@dataclass(frozen=True)
class ImportOptions:
    """What `controller import` was asked to do (the CLI builds it from flags)."""

    out: str = "imported"
    graph: str | None = None
    #: Long multi-line strings stay in the manifest instead of prompt files.
    inline: bool = False


@dataclass(frozen=True)
class Imported:
    """What an import wrote (``written``: one row per file) and what it passed over, why."""

    written: list[dict[str, Any]]
    skipped: dict[str, int]
    #: The command that takes the written assistants over.
    next_step: str
    #: What the user should check: assistants whose live context and configurable disagreed.
    notes: tuple[str, ...] = ()


async def import_assistants(ws: Workspace, target: Target, options: ImportOptions) -> Imported:
    """Write a manifest per live assistant no manifest declares: all of them, or none."""
    declared = ws.desired(require=False)  # none yet is fine; invalid manifests: their errors, nothing written
    if options.graph:  # a typo would otherwise import nothing and say nothing was there
        graphs = await target.graphs()
        if options.graph not in graphs:
            raise InvalidInput([Problem(path="--graph", message=f"unknown graph {options.graph!r}; the target has: {', '.join(sorted(graphs)) or 'none'}")])
    live = await target.list_assistants()
    owner = ws.settings.owner
    picked, skipped = select(live, {d.assistant_id for d in declared}, owner, options.graph)
    picked, notes = await _consistent(target, picked)
    files, problems = render(picked, owner, {d.name for d in declared}, options.out,
                             schema_modeline(options.out, ws.settings.root), options.inline)
    if problems:  # all or nothing
        raise InvalidInput([Problem(message=p) for p in problems])
    if files:  # nothing to import leaves no empty folder behind
        os.makedirs(options.out, exist_ok=True)
    written = []
    for f in files:
        for path, text in [*f.prompts.items(), (f.path, f.text)]:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # "x": never overwrite, even in a race; newline="": a prompt's line ends as the server has them
            with open(path, "x", encoding="utf-8", newline="") as fh:
                fh.write(text)
        state = f.state
        written.append({"file": display_path(f.path), "name": f.name, "assistant_id": state.assistant_id,
                        "graph": state.content.graph_id, "display_name": state.content.name or f.name,
                        "prompts": [display_path(p) for p in f.prompts]})
    out = os.path.abspath(options.out)
    inside = any(os.path.isdir(p) and os.path.commonpath([os.path.abspath(p), out]) == os.path.abspath(p)
                 for p in ws.paths)
    apply_paths = [p for p in ws.paths if p != "."] if inside else [*ws.paths, display_path(options.out)]
    return Imported(written, skipped, f"controller apply {' '.join([*apply_paths, '--adopt'])}", tuple(notes))


async def _consistent(target: Target, picked: list[AssistantState]) -> tuple[list[AssistantState], list[str]]:
    """Each assistant as its graph runs it (:func:`runs_with`); the graphs' schemas are read
    only when some live context and configurable disagree."""
    if not any((s.content.config.get("configurable") or {}) not in ({}, s.content.context or {}) for s in picked):
        return picked, []
    graphs = await target.graphs()
    out, notes = [], []
    for state in picked:
        state, note = runs_with(state, graphs.get(state.content.graph_id))
        out.append(state)
        if note:
            notes.append(note)
    return out, notes
