"""One function per subcommand: parse nothing, decide little, call the modules."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from controller.cli import planview
from controller.cli.console import Console
from controller.config.files import is_no_manifests
from controller.config.settings import OwnerRequired, TargetSpec
from controller.core.content import PROMPTS_KEY, REVISION_KEY, SOURCE_KEY
from controller.core.durations import parse_duration
from controller.core.environ import process_environ
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.core.suggest import named
from controller.engine.pipeline import Scope, Workspace, parse_selector, plan_workspace
from controller.engine.plan import Plan
from controller.targets import lock as targets_lock
from controller.targets import open_target
from controller.targets.base import Target
from controller.targets.lock import StateLock

if TYPE_CHECKING:  # (imported where used: a no-op plan needs neither the apply phases nor the event views)
    from controller.cli.views import View
    from controller.engine import planfile
    from controller.engine.apply import SyncOptions


def _workspace(args: argparse.Namespace, paths: list[str] | None = None, *, require_owner: bool = True) -> Workspace:
    ws = Workspace.load(
        paths if paths is not None else (args.paths or ["."]),
        config=args.config, target=getattr(args, "target", None), url=getattr(args, "url", None),
        concurrency=getattr(args, "concurrency", None), owner=getattr(args, "owner", None),
        require_owner=require_owner,
    )
    for note in ws.spec.notes:  # (stderr: never in the way of JSON or a plan on stdout)
        print(f"warning: {note}", file=sys.stderr)
    return ws


def _duration(args: argparse.Namespace, flag: str, default: float = 0.0) -> float:
    value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput([Problem(path=flag, message=str(exc))]) from None


def state_lock(spec: TargetSpec, timeout: float) -> contextlib.AbstractContextManager:
    """The embedded target's state lock for a whole run (a remote target has no state file here)."""
    return targets_lock.state_lock(spec, timeout) or contextlib.nullcontext()


def _scope(args: argparse.Namespace) -> Scope:
    return Scope(selector=parse_selector(args.selector), prune=args.prune, adopt=args.adopt)


# -- validate / schema ---------------------------------------------------------------

async def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.graphcheck import offline_graph_problems

    ws = _workspace(args)
    # Without --require-env an unset variable is a warning: pre-commit hooks and PR jobs have no secrets.
    loads = ws.manifests(unset_is_warning=not args.require_env)
    loaded = loads.manifests
    shown = [f"{problem} (set it to apply; validate --require-env makes this an error)" for problem in loads.warnings]
    graph_warnings: list[str] = []  # configurable keys the graph's schema lacks (embedded target)
    problems = [] if args.offline else await offline_graph_problems(ws, loaded, graph_warnings)
    if problems:
        raise InvalidInput(problems, shown + graph_warnings)
    for warning in shown + graph_warnings:
        console.warn(warning)
    defaults = loads.defaults.docs
    console.emit({"ok": True, "manifests": [{"name": m.name, "source": m.location} for m in loaded],
                  "defaults": [{"name": d.name, "source": f"{d.file}:{d.line}"} for d in defaults],
                  "warnings": [str(p) for p in loads.warnings] + graph_warnings})
    with_defaults = f", {len(defaults)} Defaults" if defaults else ""
    console.result(f"{len(loaded)} manifest{'s' if len(loaded) != 1 else ''} valid{with_defaults} "
                   f"(owner {ws.settings.owner}, target {ws.spec.name}).")
    return 0


def cmd_render(args: argparse.Namespace, console: Console) -> int:
    """The effective manifests (config/render.py): what validate checked, as it will be written."""
    from controller.config.render import as_json, as_yaml

    ws = _workspace(args, paths=args.paths or ["."], require_owner=False)
    loaded = named(ws.manifests().manifests, args.names)
    console.emit(as_json(loaded))
    console.result(as_yaml(loaded))
    return 0


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    from controller.config.schemas import write_schemas

    written = write_schemas(args.out)
    for path in written:
        console.line(f"wrote {path}")
    console.emit({"ok": True, "written": written})
    return 0


# -- plan / apply ----------------------------------------------------------------------

def _show_plan(plan: Plan, console: Console) -> None:
    for warning in plan.warnings:
        console.warn(warning)
    if console.json:
        console.emit(planview.render_json(plan))
    elif console.output == "markdown":
        console.result(planview.render_markdown(plan))
    elif console.quiet:  # -q: errors and the summary only
        console.result(plan.summary() if plan.has_changes else "No changes. The target matches the manifests.")
    else:
        console.result(planview.render_text(dataclasses.replace(plan, warnings=()), color=console.color))


async def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    ws = _workspace(args)
    async with open_target(ws.spec) as target:
        plan = await plan_workspace(ws, target, _scope(args))
    _show_plan(plan, console)
    if args.out:
        from controller.engine import planfile

        planfile.save(plan, args.out, _record(ws))
        console.line(f"Saved the plan to {args.out}. Apply exactly it with: controller apply {args.out}")
    return 2 if args.detailed_exitcode and plan.has_changes else 0


def _confirm(auto_approve: bool, what: str = "apply") -> None:
    if auto_approve:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ControllerError(f"refusing to {what} without --auto-approve: there is no terminal to confirm on")
    answer = input(f"\nDo you want to {what} {'these changes' if what == 'apply' else 'these assistants'}? "
                   "Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise ControllerError(f"{what} cancelled; nothing was changed")


def _record(ws: Workspace) -> planfile.TargetRecord:
    from controller.engine import planfile

    spec = ws.spec
    return planfile.TargetRecord(name=spec.name, url=spec.url,
                                 embedded=spec.embedded, graphs=spec.graphs)


def _saved_workspace(args: argparse.Namespace, path: str) -> Workspace:
    """The workspace to apply a saved plan in: its recorded target unless -t/--url says otherwise."""
    from controller.engine import planfile

    ws = _workspace(args, paths=["."])  # like terraform: the plan applies from here
    record = planfile.recorded_target(path)
    if record is None or args.target or args.url:
        return ws
    if record.url and not (ws.settings.config and record.name in ws.settings.config.targets):
        spec = ws.settings.target(url=record.url, concurrency=args.concurrency)
    elif ws.settings.config and record.name in ws.settings.config.targets:
        spec = ws.settings.target(record.name, url=record.url, concurrency=args.concurrency)
    else:
        spec = dataclasses.replace(ws.spec, name=record.name, embedded=record.embedded, graphs=record.graphs)
    return dataclasses.replace(ws, spec=spec)


async def _saved_plan(path: str, ws: Workspace, target: Target) -> Plan:
    from controller.config.promptfiles import PromptFiles
    from controller.engine import planfile
    from controller.engine.apply import check_fresh

    plan = planfile.load(path, ws.spec.values, process_environ(), PromptFiles(ws.settings.root))
    if plan.target != ws.spec.label:
        raise ControllerError(f"the plan was made for {plan.target}, not {ws.spec.label}; pick its target with -t/--url")
    await check_fresh(target, plan)
    return plan


async def cmd_apply(args: argparse.Namespace, console: Console) -> int:
    from controller.cli.views import View
    from controller.engine.apply import SyncOptions

    saved = len(args.paths) == 1 and _is_plan_file(args.paths[0])
    ws = _saved_workspace(args, args.paths[0]) if saved else _workspace(args)
    options = SyncOptions.resolve(ws.spec, root=ws.settings.root, no_smoke=args.no_smoke, smoke=args.smoke, keep_failed=args.keep_failed,
                                  max_deletes=args.max_deletes)
    view = View(console)
    lock = state_lock(ws.spec, _duration(args, "--lock-timeout"))
    if isinstance(lock, StateLock):
        await lock.acquire_async()
    try:
        return await _apply(args, console, ws, options, view, saved)
    finally:
        if isinstance(lock, StateLock):
            lock.release()


def _is_plan_file(path: str) -> bool:
    """A saved plan given to apply (a folder or a manifest never is: the plan file reader and
    its models are not imported for them)."""
    if not os.path.isfile(path) or path.endswith((".yaml", ".yml")):
        return False
    from controller.engine import planfile

    return planfile.is_plan_file(path)


async def _apply(args: argparse.Namespace, console: Console, ws: Workspace, options: SyncOptions, view: View,
                 saved: bool) -> int:
    from controller.engine.apply import ApplyResult, apply_plan, clean_candidates
    from controller.engine.pipeline import plan_with_basis
    from controller.engine.synced import record_applied

    async with open_target(ws.spec) as target:
        if saved:
            await clean_candidates(target, ws.settings.owner, view)
            plan, basis = await _saved_plan(args.paths[0], ws, target), None
        else:
            plan, basis = await plan_with_basis(ws, target, _scope(args), record=False)
            if basis is None or basis.candidates:  # (none can be there when the last plan saw none since)
                await clean_candidates(target, ws.settings.owner, view)
        _show_plan(plan, console)
        if refused := options.deletes_refused(plan.changes):
            raise ControllerError(refused)
        if not plan.has_changes:
            await record_applied(target, basis, plan, ApplyResult([]))
            return 0
        _confirm(args.auto_approve or saved)  # a saved plan is the approval (as in Terraform)
        console.line("")
        result = await apply_plan(target, plan, options, view)
        await record_applied(target, basis, plan, result)
    if args.junit:
        _write_junit(result.cases, args.junit)
    view.summary(result)
    return result.exit_code


def _write_junit(cases: list, path: str) -> None:
    from controller.smoke.report import write_junit
    from controller.smoke.runner import SuiteResult

    write_junit(SuiteResult(list(cases)), path)


async def cmd_destroy(args: argparse.Namespace, console: Console) -> int:
    from controller.cli.views import View
    from controller.engine.apply import SyncOptions, apply_plan
    from controller.engine.plan import destroy_plan, ownership_filter

    ws = _workspace(args, paths=["."])
    max_deletes = sys.maxsize if args.all else args.max_deletes
    options = SyncOptions.resolve(ws.spec, root=ws.settings.root, no_smoke=True, max_deletes=max_deletes)
    view = View(console)
    with state_lock(ws.spec, _duration(args, "--lock-timeout")):
        async with open_target(ws.spec) as target:
            owned = await target.list_assistants(ownership_filter(ws.settings.owner))
            plan = dataclasses.replace(destroy_plan(owned, owner=ws.settings.owner, target=ws.spec.label),
                                       owner_source=ws.settings.owner_source)
            if not plan.changes:
                console.result(f"Nothing to destroy: no assistant of {ws.settings.owner_label} on {ws.spec.label}.")
                return 0
            _show_plan(plan, console)
            if refused := options.deletes_refused(plan.changes, "destroy"):
                raise ControllerError(f"{refused}; destroy --all deletes them all")
            _confirm(args.auto_approve, "destroy")
            console.line("")
            result = await apply_plan(target, plan, options, view)
    view.summary(result)
    return result.exit_code


# -- status ----------------------------------------------------------------------------

async def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from controller.config.settings import git_revision
    from controller.engine.status import all_synced, read_status, status_json

    ws = _workspace(args)
    desired = ws.desired()
    async with open_target(ws.spec) as target:
        status = await read_status(ws, target, desired)
    console.emit(status_json(status, git_revision(ws.settings.root)))
    if not console.json:
        console.result(f"{'NAME':<24} {'SYNC':<10} {'VERSION':<8} {'REVISION':<18} {'VERDICT':<12} HELD")
        for r in status.rows:
            version = f"v{r.version}" if r.version is not None else "-"
            verdict = r.smoke + (f" {r.pass_rate:.0%}" if r.pass_rate is not None else "")
            console.result(f"{r.name:<24} {r.sync:<10} {version:<8} {_short_revision(r.revision) or '-':<18} "
                           f"{verdict:<12} {r.held}".rstrip())
        if not status.rows:
            console.result(f"No assistants declared or owned by {ws.settings.owner} on {ws.spec.label}.")
    return 2 if args.detailed_exitcode and not all_synced(status.rows) else 0


# -- test ------------------------------------------------------------------------------

async def cmd_test(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.smoketest import smoke_active
    from controller.smoke.report import format_result, to_json, write_junit

    ws = _workspace(args)
    desired = named(ws.desired(), args.names)
    async with open_target(ws.spec) as target:
        suite = await smoke_active(target, desired, ws.spec.label, ws.spec.concurrency)
    for r in suite.results:
        console.line(format_result(r, color=console.color))
    if args.junit:
        write_junit(suite, args.junit)
    console.emit(to_json(suite))
    console.result(f"Smoke: {len(suite.passed)} passed, {len(suite.failed)} failed.")
    return 0 if suite.ok else 3


# -- eval ------------------------------------------------------------------------------

async def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.evaluation import EvalOptions, evaluate_declared
    from controller.evals import report

    ws = _workspace(args)
    desired = ws.desired()
    options = EvalOptions(names=args.names, candidate=args.candidate)
    # candidates are writes: on an embedded target, hold the state lock as apply does
    with state_lock(ws.spec, _duration(args, "--lock-timeout")) if args.candidate else contextlib.nullcontext():
        async with open_target(ws.spec) as target:
            try:
                results = await evaluate_declared(target, desired, ws.settings.root, ws.spec.label, options,
                                                  lambda done, total: console.progress(f"eval: {done}/{total} runs"))
            finally:
                console.progress(None)
    if args.junit:
        report.write_junit(results, args.junit)
    for result in results:
        console.emit(report.eval_json(result))
    if console.output == "markdown":
        console.result(report.markdown(results))
    elif not console.json:
        for result in results:
            console.line("\n".join(report.format_eval(result, color=console.color)) + "\n")
        console.result(report.summary(results) if results else "No evals declared (spec.evals).")
    return 0 if all(r.ok for r in results) else 3


# -- history / rollback ----------------------------------------------------------------

async def cmd_history(args: argparse.Namespace, console: Console) -> int:
    from controller.engine import verdicts
    from controller.engine.rollback import find_assistant

    ws = _workspace(args, paths=args.paths)
    async with open_target(ws.spec) as target:
        state = await find_assistant(ws, target, args.name)
        known = await verdicts.read_one(target, state)
    rows: list[dict[str, Any]] = []
    for v in state.versions or ():
        verdict = known.verdict(v.number, v.content)
        rows.append({"version": v.number, "created": _when(v.created_at),
                     "revision": v.content.metadata.get(REVISION_KEY) or "",
                     "source": v.content.metadata.get(SOURCE_KEY) or "", "active": v.number == state.version,
                     "smoke": verdict.result if verdict else verdicts.UNKNOWN,
                     "pass_rate": verdict.pass_rate if verdict else None,
                     "prompts": _prompts(v.content.metadata.get(PROMPTS_KEY))})
    held = known.rolled_back_to(state.version)
    console.emit({"name": args.name, "assistant_id": state.assistant_id, "active": state.version, "versions": rows,
                  "held": {"from_version": held.from_version, "to_version": held.to_version} if held else None})
    if not console.json:
        prompts = any(r["prompts"] for r in rows)  # the column only where a version read prompt files
        console.result(f"{'VERSION':<8} {'CREATED':<26} {'REVISION':<18} {'SOURCE':<32} {'VERDICT':<12} ACTIVE"
                       + ("  PROMPTS" if prompts else ""))
        for r in rows:
            smoke = r["smoke"] + (f" {r['pass_rate']:.0%}" if r["pass_rate"] is not None else "")
            active = "*" if r["active"] else ""
            last = f"{active:<6}  {', '.join(r['prompts'])}" if prompts else active
            console.result(f"{r['version']:<8} {r['created'][:26]:<26} {_short_revision(r['revision']):<18} "
                           f"{r['source'][:32]:<32} {smoke:<12} {last}".rstrip())
        if held:
            console.result(f"held by a rollback from v{held.from_version}: watch does not re-apply the manifest "
                           "until it changes (apply overrides the rollback)")
    return 0


def _prompts(value: Any) -> list[str]:
    """The prompt files a version was built from (``controller/prompts``, informational)."""
    return [str(p) for p in value] if isinstance(value, list) else []


def _short_revision(revision: str) -> str:
    """The short sha, keeping ``-dirty``: uncommitted manifests must stay visible in history."""
    sha, dirty, _ = revision.partition("-dirty")
    return sha[:12] + ("-dirty" if dirty else "")


def _when(stamp: str) -> str:
    """A server time as ``2026-03-01 09:30:00+00:00``: with its zone (UTC when the server gave none)."""
    try:
        when = datetime.fromisoformat(stamp)  # (3.11+ reads a trailing Z)
    except (ValueError, AttributeError):
        return stamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat(sep=" ", timespec="seconds")


async def cmd_rollback(args: argparse.Namespace, console: Console) -> int:
    from controller.engine import verdicts
    from controller.engine.rollback import choose, find_assistant, roll_back
    from controller.smoke.report import format_result

    ws = _workspace(args, paths=args.paths)
    with state_lock(ws.spec, _duration(args, "--lock-timeout")):
        async with open_target(ws.spec) as target:
            state = await find_assistant(ws, target, args.name)
            to = choose(state, await verdicts.read_one(target, state), args.name, args.to, args.force)
            if to == state.version:
                console.result(f"{args.name}: v{to} is already active; nothing to do.")
                return 0
            done = await roll_back(ws, target, state, to, run_cases=not args.no_smoke)
    for r in done.suite.results if done.suite else ():
        console.line(format_result(r, color=console.color))
    how = "repinned" if done.active == to else f"restored as new version v{done.active}"
    tested = "not tested (--no-smoke)" if args.no_smoke else f"cases: {done.cases.source}"
    console.emit({"name": args.name, "from_version": state.version, "to_version": to, "active": done.active,
                  "smoke": None if done.suite is None else ("failed" if done.failed else "passed"),
                  "cases": done.cases.source})
    if done.failed:
        console.error(f"{args.name}: the smoke tests failed on v{to} ({tested}); v{state.version}'s content is active "
                      f"again (v{done.active}), and v{to} is recorded as failed by them.")
        return 3
    console.result(f"{args.name}: v{state.version} → v{to} ({how}; {tested}).")
    if not done.as_declared:
        console.warn("the manifests in git now differ from the target: watch holds the assistant until its manifest "
                     "changes, and plan shows it as drift until you commit the change or apply again.")
    return 0


# -- watch / import ----------------------------------------------------------------------

def _require_manifests(ws: Workspace) -> None:
    """No manifest at all is a wrong path: exit now. Invalid ones are watch's to report and wait out."""
    try:
        ws.manifests(unset_is_warning=True)
    except InvalidInput as exc:
        if any(is_no_manifests(p) for p in exc.problems):
            raise


def _precheck_local(args: argparse.Namespace) -> None:
    """Fail now, before any request, on what waiting cannot fix: a remote target without an
    owner, or a path with no manifests. A bad edit is the watch's to report and wait out."""
    try:
        ws: Workspace | None = _workspace(args)
    except OwnerRequired:
        raise
    except InvalidInput:
        ws = None  # a bad controller.yaml: the watch reports it and waits for the fix
    if ws is not None:
        _require_manifests(ws)


def _listen(args: argparse.Namespace) -> tuple[str, int] | None:
    from controller.service.http import parse_listen

    try:
        return parse_listen(args.listen) if args.listen else None
    except ValueError as exc:
        raise InvalidInput([Problem(path="--listen", message=str(exc))]) from None


def _webhook_secret(args: argparse.Namespace) -> str | None:
    secret_env = args.webhook_secret_env or ("CONTROLLER_WEBHOOK_SECRET" if os.environ.get("CONTROLLER_WEBHOOK_SECRET") else None)
    secret = os.environ.get(secret_env) if secret_env else None
    if secret_env and not secret:
        raise InvalidInput([Problem(path="--webhook-secret-env", message=f"{secret_env} is not set or empty")])
    return secret


def _check_watch_flags(args: argparse.Namespace) -> None:
    if args.notify_url and not args.notify_url.startswith(("http://", "https://")):
        raise InvalidInput([Problem(path="--notify-url", message="expected an http:// or https:// URL")])
    if not args.git and (args.workdir or args.ref != "main"):
        raise InvalidInput([Problem(path="--workdir" if args.workdir else "--ref", message="only with --git URL")])


def cmd_watch(args: argparse.Namespace, console: Console) -> int:
    """A source (the folder, or --git's checkout), observers (the view, notifications and, with
    --listen, what the endpoints serve), and the loop that drives them."""
    import asyncio

    from controller.cli.notifications import NotifySink
    from controller.cli.views import View
    from controller.engine.folder import FolderSource
    from controller.engine.reconcile import PassOptions
    from controller.engine.source import Project, Source
    from controller.engine.watch import Observer, WatchLoop, WatchOptions
    from controller.service.checkout import CheckoutSource
    from controller.service.runner import Endpoints

    interval = _duration(args, "--interval")
    listen, secret = _listen(args), _webhook_secret(args)
    _check_watch_flags(args)
    options = WatchOptions(interval=interval, lock_timeout=_duration(args, "--lock-timeout"),
                           passes=PassOptions(self_heal=args.self_heal, prune=args.prune, max_deletes=args.max_deletes,
                                              no_smoke=args.no_smoke, status=listen is not None))
    project = Project(paths=tuple(args.paths or ["."]), config=args.config, target=args.target, url=args.url,
                      concurrency=args.concurrency, owner=args.owner)
    if not args.git:  # (a git source's project is not checked out yet)
        _precheck_local(args)
    source: Source = (CheckoutSource(args.git, args.ref, project, interval=interval, workdir=args.workdir) if args.git
                      else FolderSource(project))
    endpoints = Endpoints(listen, interval=interval, webhook_secret=secret) if listen else None
    notify = NotifySink(args.notify_url)
    # the endpoints' feeds first: whoever reads a pass's end in the log or a notification finds /status and /metrics current
    observers: list[Observer] = [*(endpoints.observers() if endpoints else []), View(console, timestamps=True), notify]
    watch = WatchLoop(source, options, observers)
    try:
        return asyncio.run(endpoints.serve(watch) if endpoints else watch.run())
    finally:
        notify.close()


async def cmd_import(args: argparse.Namespace, console: Console) -> int:
    from controller.engine.importer import ImportOptions, import_assistants

    ws = _workspace(args)
    async with open_target(ws.spec) as target:
        done = await import_assistants(ws, target, ImportOptions(out=args.out, graph=args.graph, inline=args.inline))
    for row in done.written:
        console.line(f"wrote {row['file']} ({row['display_name']}, graph {row['graph']}, assistant {row['assistant_id']})")
        for prompt in row["prompts"]:
            console.line(f"wrote {prompt}")
    for note in done.notes:
        console.warn(note)
    console.emit({"ok": True, "written": done.written, "skipped": done.skipped, "owner": ws.settings.owner,
                  "target": ws.spec.label, "warnings": list(done.notes)})
    labels = {"declared": "declared by manifests", "system": "system", "other_owner": "owned by other controllers",
              "graph": "of other graphs"}
    notes = ", ".join(f"{n} {labels[why]}" for why, n in done.skipped.items() if n)
    notes = f" (skipped: {notes})" if notes else ""
    if not done.written:
        console.result(f"No assistants to import from {ws.spec.label}{notes}.")
        return 0
    console.result(f"Imported {len(done.written)} assistant{'s' if len(done.written) != 1 else ''}{notes}.")
    console.result(f"Review the files, then take the assistants over: {done.next_step}")
    return 0
