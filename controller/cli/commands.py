"""One function per subcommand: parse nothing, decide little, call the modules."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from controller.cli import planview as render
from controller.engine import planfile
from controller.engine.apply import ApplyResult, apply_plan, check_fresh, deletes_refused, event_text
from controller.core.content import NAME_KEY, OWNER_KEY
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.cli.console import Console
from controller.engine.plan import Plan
from controller.engine.pipeline import Workspace, compute_plan, open_target, parse_selector


def _workspace(args: argparse.Namespace, paths: list[str] | None = None) -> Workspace:
    return Workspace.load(
        paths if paths is not None else (args.paths or ["."]),
        config=args.config, target=getattr(args, "target", None), url=getattr(args, "url", None),
        concurrency=getattr(args, "concurrency", None),
    )


# -- validate / schema ---------------------------------------------------------------

def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    ws = _workspace(args)
    loaded = ws.manifests()
    console.emit({"ok": True, "manifests": [{"name": m.name, "source": m.location} for m in loaded]})
    console.result(f"{len(loaded)} manifest{'s' if len(loaded) != 1 else ''} valid (owner {ws.settings.owner}, target {ws.spec.name}).")
    return 0


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    from controller.config.schemas import write_schemas

    written = write_schemas(args.out)
    for path in written:
        console.line(f"wrote {path}")
    console.emit({"ok": True, "written": written})
    return 0


# -- plan / apply ----------------------------------------------------------------------

async def _plan(args: argparse.Namespace, ws: Workspace, target: Any) -> Plan:
    selector = parse_selector(args.selector)
    return await compute_plan(ws, target, ws.desired(selector), prune=args.prune, adopt=args.adopt, selector=selector)


def _show_plan(plan: Plan, console: Console) -> None:
    for warning in plan.warnings:
        console.warn(warning)
    if console.json:
        console.emit(render.render_json(plan))
    else:
        console.result(render.render_text(plan.__class__(**{**plan.__dict__, "warnings": ()}), color=console.color))


async def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    ws = _workspace(args)
    target = open_target(ws.spec)
    try:
        plan = await _plan(args, ws, target)
    finally:
        await target.aclose()
    _show_plan(plan, console)
    if args.out:
        planfile.save(plan, args.out)
        console.line(f"Saved the plan to {args.out}. Apply exactly it with: controller apply {args.out}")
    return 2 if args.detailed_exitcode and plan.has_changes else 0


def _confirm(console: Console, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ControllerError("refusing to apply without --auto-approve: there is no terminal to confirm on")
    answer = input("\nDo you want to apply these changes? Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise ControllerError("apply cancelled; nothing was changed")


def _event_line(event: dict[str, Any], console: Console) -> None:
    kind = event["event"]
    if console.json:
        console.emit({k: v for k, v in event.items() if k != "result"})
    elif kind == "smoke":
        from controller.smoke.runner import format_result

        console.line(format_result(event["result"], color=console.color))
    elif kind in ("error", "rolled-back", "not-promoted"):
        console.error(event_text(event))
    else:
        console.line(event_text(event))


def _apply_summary(result: ApplyResult) -> str:
    count = lambda action: sum(1 for o in result.outcomes if o.change.action == action and o.status == "applied")  # noqa: E731
    text = (f"Apply complete: {count('create')} created, {count('update')} updated, "
            f"{count('repin')} repinned, {count('delete')} deleted.")
    cases = result.cases
    if cases:
        failed = sum(1 for c in cases if not c.passed)
        text += f" Smoke: {len(cases) - failed} passed, {failed} failed."
    if result.smoke_failed:
        text += " Failed changes were rolled back or not promoted."
    if result.errors:
        text += f" {len(result.errors)} error(s)."
    return text


async def cmd_apply(args: argparse.Namespace, console: Console) -> int:
    saved = len(args.paths) == 1 and planfile.is_plan_file(args.paths[0])
    ws = _workspace(args, paths=["."] if saved else None)  # like terraform: the plan applies from here
    target = open_target(ws.spec)
    try:
        if saved:
            plan = planfile.load(args.paths[0], ws.spec.values, os.environ)
            if plan.target != ws.spec.label:
                raise ControllerError(f"the plan was made for {plan.target}, not {ws.spec.label}; pick its target with -t/--url")
            await check_fresh(target, plan)
        else:
            plan = await _plan(args, ws, target)
        _show_plan(plan, console)
        refused = deletes_refused(plan.changes, args.max_deletes if args.max_deletes is not None else ws.spec.max_deletes)
        if refused:
            raise ControllerError(refused)
        if not plan.has_changes:
            return 0
        _confirm(console, args.auto_approve)
        mode = "off" if args.no_smoke else (args.smoke or ws.spec.smoke)
        console.line("")
        result = await apply_plan(target, plan, smoke=mode, keep_failed=args.keep_failed,
                                  concurrency=ws.spec.concurrency, emit=lambda e: _event_line(e, console))
    finally:
        await target.aclose()
    if args.junit:
        _write_junit(result.cases, args.junit)
    console.emit({"event": "summary", "exit_code": result.exit_code,
                  "outcomes": [{"name": o.change.name, "action": o.change.action, "status": o.status,
                                "version": o.version, "message": o.message} for o in result.outcomes]})
    console.result(_apply_summary(result))
    return result.exit_code


def _write_junit(cases: list[Any], path: str) -> None:
    from controller.smoke.runner import SuiteResult, write_junit

    write_junit(SuiteResult(list(cases)), path)


# -- test ------------------------------------------------------------------------------

async def cmd_test(args: argparse.Namespace, console: Console) -> int:
    from controller.smoke import runner as smoke

    ws = _workspace(args)
    desired = ws.desired()
    if args.names:
        known = {d.name for d in desired}
        unknown = [n for n in args.names if n not in known]
        if unknown:
            raise InvalidInput([Problem(message=f"no manifest named {n!r} (declared: {', '.join(sorted(known)) or 'none'})") for n in unknown])
        desired = [d for d in desired if d.name in args.names]
    items = [(d.name, d.assistant_id, list(d.smoke)) for d in desired if d.smoke]
    target = open_target(ws.spec)
    try:
        missing = [d.name for d in desired if d.smoke and await target.get(d.assistant_id) is None]
        if missing:
            raise ControllerError(f"not on {ws.spec.label}: {', '.join(missing)} (run controller apply first)")
        suite = await smoke.run_suite(target, items, concurrency=ws.spec.concurrency,
                                      secrets={d.name: d.content.values_at(d.sensitive) for d in desired})
    finally:
        await target.aclose()
    for r in suite.results:
        console.line(smoke.format_result(r, color=console.color))
    if args.junit:
        smoke.write_junit(suite, args.junit)
    console.emit(smoke.to_json(suite))
    console.result(f"Smoke: {len(suite.passed)} passed, {len(suite.failed)} failed.")
    return 0 if suite.ok else 3


# -- history / rollback ----------------------------------------------------------------

async def _find(ws: Workspace, target: Any, name: str) -> Any:
    """The assistant called NAME: declared by a manifest here, or owned with that name."""
    try:
        ids = [d.assistant_id for d in ws.desired() if d.name == name]
    except InvalidInput:
        ids = []
    for assistant_id in ids:
        state = await target.get(assistant_id, versions=True)
        if state is not None:
            return state
    owned = await target.list_assistants({OWNER_KEY: ws.settings.owner, NAME_KEY: name})
    if not owned:
        raise ControllerError(f"no assistant named {name!r} owned by {ws.settings.owner!r} on {ws.spec.label}")
    return await target.get(owned[0].assistant_id, versions=True)


async def cmd_history(args: argparse.Namespace, console: Console) -> int:
    from controller.core.content import REVISION_KEY, SOURCE_KEY

    ws = _workspace(args, paths=args.paths)
    target = open_target(ws.spec)
    try:
        state = await _find(ws, target, args.name)
    finally:
        await target.aclose()
    rows = [
        {"version": v.number, "created": v.created_at, "revision": v.content.metadata.get(REVISION_KEY) or "",
         "source": v.content.metadata.get(SOURCE_KEY) or "", "active": v.number == state.version}
        for v in state.versions or ()
    ]
    console.emit({"name": args.name, "assistant_id": state.assistant_id, "active": state.version, "versions": rows})
    if not console.json:
        console.result(f"{'VERSION':<8} {'CREATED':<26} {'REVISION':<12} {'SOURCE':<32} ACTIVE")
        for r in rows:
            console.result(f"{r['version']:<8} {r['created'][:26]:<26} {r['revision'][:12]:<12} {r['source'][:32]:<32} {'*' if r['active'] else ''}")
    return 0


async def cmd_rollback(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.apply import restore_version

    ws = _workspace(args, paths=args.paths)
    target = open_target(ws.spec)
    try:
        state = await _find(ws, target, args.name)
        numbers = sorted(v.number for v in state.versions or ())
        to = args.to if args.to is not None else max((n for n in numbers if n < state.version), default=None)
        if to is None or to not in numbers:
            raise ControllerError(f"{args.name}: no version {to if to is not None else 'before v' + str(state.version)} (versions: {', '.join(map(str, numbers))})")
        if to == state.version:
            console.result(f"{args.name}: v{to} is already active; nothing to do.")
            return 0
        restored = await restore_version(target, state.assistant_id, to, args.name)
    finally:
        await target.aclose()
    how = "repinned" if restored.version == to else f"restored as new version v{restored.version}"
    console.emit({"name": args.name, "from_version": state.version, "to_version": to, "active": restored.version})
    console.result(f"{args.name}: v{state.version} → v{to} ({how}).")
    console.warn("the manifests in git now differ from the target: plan shows this as drift until you commit the change or apply again.")
    return 0


# -- watch / import ----------------------------------------------------------------------

def cmd_watch(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.watch import run_watch

    return run_watch(args, console)


async def cmd_import(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.importer import import_assistants

    return await import_assistants(args, console)
