"""Events as output: one text view for people, one JSON view for machines.

Apply, watch and the other commands report through these two classes only (as
Terraform's views consume its hooks), so a line looks the same whichever command
printed it, and `-o json` has one stable shape per event.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from controller.cli.console import Console
from controller.core.durations import format_duration
from controller.engine.apply import ApplyResult
from controller.engine.events import (
    LOOP_STATE,
    Applied,
    CleanedUp,
    Deleted,
    Drift,
    DriftedAssistant,
    EvalFinished,
    Event,
    Failed,
    NotPromoted,
    ReconcileFinished,
    ReconcileStarted,
    RolledBack,
    SmokeResult,
    Stopped,
    Warned,
)
from controller.engine.verdicts import HELD_FAILED, HELD_ROLLBACK
from controller.smoke.report import case_json, format_result

_PAST = {"create": "created", "update": "updated", "repin": "repinned"}
_SYMBOL = {"create": "+", "update": "~", "repin": "↺"}
_ACTIONS = ("create", "update", "repin", "delete")


def _counts(counts: dict[str, int]) -> str:
    return (f"{counts.get('create', 0)} created, {counts.get('update', 0)} updated, "
            f"{counts.get('repin', 0)} repinned, {counts.get('delete', 0)} deleted")


@functools.singledispatch
def event_text(event: Event) -> list[tuple[str, str]]:
    """The event as ``(stream, line)`` pairs; stream is "out", "err" or "warn"."""
    raise TypeError(f"not an event: {event!r}")


@event_text.register
def _(event: Applied) -> list[tuple[str, str]]:
    detail = f"v{event.version}" if event.action == "create" else f"v{event.from_version} → v{event.version}"
    return [("out", f"{_SYMBOL[event.action]} {event.name}: {_PAST[event.action]} ({detail})")]


@event_text.register
def _(event: Deleted) -> list[tuple[str, str]]:
    return [("out", f"- {event.name}: deleted")]


@event_text.register
def _(event: CleanedUp) -> list[tuple[str, str]]:
    return [("out", f"cleaned up a leftover smoke candidate of {event.name} ({event.assistant_id})")]


@event_text.register
def _(event: SmokeResult) -> list[tuple[str, str]]:
    return [("out", format_result(event.result))]


@event_text.register
def _(event: EvalFinished) -> list[tuple[str, str]]:
    from controller.evals.report import format_eval

    return [("out", line) for line in format_eval(event.result)]


@event_text.register
def _(event: RolledBack) -> list[tuple[str, str]]:
    return [("err", f"⟲ {event.name}: rolled-back: {event.message}")]


@event_text.register
def _(event: NotPromoted) -> list[tuple[str, str]]:
    return [("err", f"✗ {event.name}: not-promoted: {event.message}")]


@event_text.register
def _(event: Failed) -> list[tuple[str, str]]:
    if event.name:
        return [("err", f"! {event.name}: error: {event.message}")]
    retry = f"; retrying in {format_duration(event.retry_in)}" if event.retry_in is not None else ""
    return [("err", f"error: {line}") for line in (*event.errors, event.message + retry)]


@event_text.register
def _(event: Warned) -> list[tuple[str, str]]:
    return [("warn", event.message)]


@event_text.register
def _(event: ReconcileStarted) -> list[tuple[str, str]]:
    files = f", {event.files} changed file{'s' if event.files != 1 else ''}" if event.scope == "changed" else ""
    return [("out", f"reconcile started (trigger: {event.trigger}{files})")]


@event_text.register
def _(event: Drift) -> list[tuple[str, str]]:
    how = "repairing (--self-heal)" if event.repair else "not repaired (use --self-heal, or controller apply)"
    names = ", ".join(_drifted(a) for a in event.assistants)
    return [("out", f"drift: {names}; {how}")]


#: Fields named per drifted assistant in a text drift line (-o json has the whole masked diff).
DRIFT_FIELDS = 5


def _drifted(assistant: DriftedAssistant) -> str:
    """``blog-writer (update: config.configurable.style, description)``: what moved, by field."""
    fields = list(dict.fromkeys(str(entry["path"]) for entry in assistant.diff))
    if not fields:
        return f"{assistant.name} ({assistant.action})"
    more = f", {len(fields) - DRIFT_FIELDS} more" if len(fields) > DRIFT_FIELDS else ""
    return f"{assistant.name} ({assistant.action}: {', '.join(fields[:DRIFT_FIELDS])}{more})"


@event_text.register
def _(event: ReconcileFinished) -> list[tuple[str, str]]:
    text = f"reconcile {'finished' if event.ok else 'failed'}: {_counts(event.counts)}"
    text += f"; {event.drift} drifted" if event.drift else ""
    text += f"; failed: {', '.join(event.failed)}" if event.failed else ""
    if event.held:
        why = [f"{n} ({HELD_ROLLBACK if n in event.rolled_back else HELD_FAILED})" for n in event.held]
        text += f"; held until the next edit: {', '.join(why)}"
    text += f"; synced commit {event.revision[:12]}" if event.revision else ""
    return [("out", text)]


@event_text.register
def _(event: Stopped) -> list[tuple[str, str]]:
    return [("out", "stopped" if event.exit_code == 0 else "interrupted")]


@functools.singledispatch
def event_json(event: Event) -> dict[str, Any]:
    """The event as one JSON object: ``{"event": kind, ...fields}``."""
    raise TypeError(f"not an event: {event!r}")


@event_json.register
def _(event: Applied) -> dict[str, Any]:
    return {"event": "applied", "name": event.name, "action": event.action, "assistant_id": event.assistant_id,
            "version": event.version, "from_version": event.from_version}


@event_json.register
def _(event: Deleted) -> dict[str, Any]:
    return {"event": "applied", "name": event.name, "action": "delete", "assistant_id": event.assistant_id}


@event_json.register
def _(event: CleanedUp) -> dict[str, Any]:
    return {"event": "cleaned-up", "name": event.name, "assistant_id": event.assistant_id,
            "reason": "leftover smoke candidate"}


@event_json.register
def _(event: SmokeResult) -> dict[str, Any]:
    case = case_json(event.result)
    return {"event": "smoke", "name": event.name, "case": case["case"], "passed": case["passed"],
            "duration_s": case["duration_s"], "candidate": event.candidate, "failure": case["failure"]}


@event_json.register
def _(event: EvalFinished) -> dict[str, Any]:
    from controller.evals.report import eval_json

    return eval_json(event.result)  # (the same event as `controller eval -o json`)


@event_json.register
def _(event: RolledBack) -> dict[str, Any]:
    return {"event": "rolled-back", "name": event.name, "message": event.message}


@event_json.register
def _(event: NotPromoted) -> dict[str, Any]:
    return {"event": "not-promoted", "name": event.name, "message": event.message}


@event_json.register
def _(event: Failed) -> dict[str, Any]:
    optional = {"name": event.name or None, "errors": list(event.errors) or None, "retry_in": event.retry_in,
                "refused": list(event.refused) or None}
    return {"event": "error", "message": event.message, **{k: v for k, v in optional.items() if v is not None}}


@event_json.register
def _(event: Warned) -> dict[str, Any]:
    return {"event": "warning", "message": event.message}


@event_json.register
def _(event: ReconcileStarted) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "reconcile-started", "trigger": event.trigger, "scope": event.scope}
    if event.files is not None:
        out["files"] = event.files
    return out


@event_json.register
def _(event: Drift) -> dict[str, Any]:
    return {"event": "drift", "repair": event.repair,
            "assistants": [{"name": a.name, "assistant_id": a.assistant_id, "action": a.action,
                            "active_version": a.active_version, "diff": list(a.diff)} for a in event.assistants]}


@event_json.register
def _(event: ReconcileFinished) -> dict[str, Any]:
    counts = {_PAST.get(a, "deleted"): event.counts.get(a, 0) for a in _ACTIONS}
    return {"event": "reconcile-finished", "trigger": event.trigger, "ok": event.ok, **counts,
            "drift": event.drift, "held": list(event.held), "held_by_rollback": list(event.rolled_back),
            "failed": list(event.failed), "revision": event.revision}


@event_json.register
def _(event: Stopped) -> dict[str, Any]:
    return {"event": "stopped", "exit_code": event.exit_code}


class View:
    """Prints events as ``console`` is set up: text (optionally time-stamped) or JSON."""

    def __init__(self, console: Console, *, timestamps: bool = False):
        self.console, self.timestamps = console, timestamps

    def __call__(self, event: Event) -> None:
        if isinstance(event, LOOP_STATE):  # for the loop's other observers (status, notifications)
            return
        now = datetime.now().astimezone()
        if self.console.json:
            self.console.emit({**event_json(event), "time": now.isoformat(timespec="milliseconds")})
            return
        stamp = f"[{now:%H:%M:%S}] " if self.timestamps else ""
        if isinstance(event, EvalFinished):  # a table: painted, and stamped once
            from controller.evals.report import format_eval

            self.console.line(stamp + "\n".join(format_eval(event.result, color=self.console.color)))
            return
        for stream, line in event_text(event):
            if isinstance(event, SmokeResult):
                line = format_result(event.result, color=self.console.color)
                line = line.strip() if self.timestamps else line
            if stream == "err":
                self.console.error(stamp + line)
            elif stream == "warn":
                self.console.warn(line)
            else:
                self.console.line(stamp + line)

    def summary(self, result: ApplyResult) -> None:
        """The closing line of an apply (and its JSON summary)."""
        if self.console.json:  # (10,000 unchanged assistants make as many outcomes)
            self.console.emit({"event": "summary", "exit_code": result.exit_code,
                               "outcomes": [{"name": o.change.name, "action": o.change.action, "status": o.status,
                                             "version": o.version, "message": o.message} for o in result.outcomes]})
        text = f"Apply complete: {_counts(result.counts)}."
        if result.cases:
            failed = sum(1 for c in result.cases if not c.passed)
            text += f" Smoke: {len(result.cases) - failed} passed, {failed} failed."
        if result.evals:
            from controller.evals.report import summary

            text += f" {summary(result.evals)}"
        if result.smoke_failed:
            text += " Failed changes were rolled back or not promoted."
        if result.errors:
            text += f" {len(result.errors)} error(s)."
        self.console.result(text)
