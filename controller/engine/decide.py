"""What a watch pass does with a plan: a pure function of the plan and what watch remembers.

Watch applies what the manifests newly ask for, but treats a change it had already
brought about as *drift* (someone edited the assistant on the server): reported, and
repaired only with ``--self-heal``. A change whose smoke tests failed is held until
the manifests ask for something else. Kept apart from the loop so each rule is a row
in a table-driven test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from controller.config.settings import CONFIG_NAMES
from controller.core.content import canonical
from controller.engine.apply import ApplyResult
from controller.engine.desired import Desired
from controller.engine.plan import Change, Plan

#: Files that change what every manifest means (settings, values, graphs): a full pass.
GLOBAL_FILES = frozenset({*CONFIG_NAMES, "langgraph.json"})


def pass_scope(trigger: str, changed: Collection[str], *, ready: bool) -> frozenset[str] | None:
    """The files a pass re-loads (with what depends on them), or None for a full pass.

    Only a pass triggered by file events, with a last good set to update (``ready``),
    is incremental, and only when no changed file is controller.yaml or langgraph.json:
    they change what every manifest means. Start, interval (drift), retry and git passes
    stay full.
    """
    if trigger != "change" or not ready or not changed:
        return None
    if any(os.path.basename(path) in GLOBAL_FILES for path in changed):
        return None
    return frozenset(changed)


def fingerprint(d: Desired) -> str:
    """What the manifests ask of one assistant, comparable across passes."""
    return json.dumps([canonical(d.content), d.pin], sort_keys=True, default=str)


@dataclass(frozen=True)
class Memory:
    """What watch knows between passes."""

    #: No pass has applied everything yet: every change is new intent, none is drift.
    first: bool = True
    #: assistant_id → fingerprint that watch brought about on the target.
    known: Mapping[str, str] = field(default_factory=dict)
    #: assistant_id → fingerprint (and what judged it) whose smoke tests or evals failed
    #: (held until either changes).
    failed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    apply: tuple[Change, ...] = ()
    drift: tuple[Change, ...] = ()
    held: tuple[Change, ...] = ()
    memory: Memory = Memory()


def decide(plan: Plan, fingerprints: Mapping[str, str], memory: Memory, *, self_heal: bool,
           held_on_target: Collection[str] = (), tested: Mapping[str, str] = {}) -> Decision:
    """Sort the plan's changes into apply, drift (applied too with ``self_heal``) and held.

    ``held_on_target``: assistants the target's notes hold (their content failed there, or a
    rollback holds them: engine/verdicts.py), whatever this watch remembers. ``tested``: what
    judges each change (``gating.verdict_key``): a change that failed is tried again when
    its cases, evals or datasets change, as when its content does."""
    known, failed = dict(memory.known), dict(memory.failed)
    apply: list[Change] = []
    drift: list[Change] = []
    held: list[Change] = []
    for c in plan.changes:
        fp = fingerprints.get(c.assistant_id, "")
        if not c.writes:
            known[c.assistant_id] = fp
            failed.pop(c.assistant_id, None)
        elif c.action == "delete":
            (apply if memory.first or c.assistant_id in known else drift).append(c)
        elif failed.get(c.assistant_id) == _failing(fp, tested, c.assistant_id) or c.assistant_id in held_on_target:
            held.append(c)
        else:
            (apply if memory.first or known.get(c.assistant_id) != fp else drift).append(c)
    if self_heal:
        apply += drift
    first = memory.first and bool(apply)
    return Decision(tuple(apply), tuple(drift), tuple(held), Memory(first, known, failed))


def _failing(fp: str, tested: Mapping[str, str], assistant_id: str) -> str:
    """What a failure is remembered by: the content's fingerprint and what judged it."""
    return f"{fp}\n{tested[assistant_id]}" if tested.get(assistant_id) else fp


def remember(memory: Memory, fingerprints: Mapping[str, str], result: ApplyResult,
             tested: Mapping[str, str] = {}) -> Memory:
    """``memory`` after a pass applied changes with ``result`` (``tested``: as for :func:`decide`)."""
    known, failed = dict(memory.known), dict(memory.failed)
    for o in result.outcomes:
        aid = o.change.assistant_id
        if o.status == "applied":
            failed.pop(aid, None)
            if o.change.action == "delete":
                known.pop(aid, None)
            else:
                known[aid] = fingerprints.get(aid, "")
        elif o.judged_failed:  # wait for the next manifest edit
            failed[aid] = _failing(fingerprints.get(aid, ""), tested, aid)
    return Memory(memory.first and bool(result.errors), known, failed)
