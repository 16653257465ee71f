"""`controller watch`: reconcile at start, on manifest changes, and every interval.

New desired content (first reconcile, or edited since the last apply) is applied, smoke-gated
as in `apply`; content already brought about that the target lost is **drift**: reported,
repaired with --self-heal only; a change whose smoke tests failed waits for the next edit.
Bad edits leave the last good manifests in force; a failing target is retried with capped
exponential backoff; SIGINT/SIGTERM stop after the action in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import traceback
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
from watchfiles import awatch

from controller.cli import planview as render
from controller.engine.apply import apply_plan, deletes_refused, event_text
from controller.core.content import canonical
from controller.engine.desired import Desired
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.config.loader import SKIP_DIRS, YAML_SUFFIXES, ParseCache
from controller.config.manifest import format_duration, parse_duration
from controller.cli.console import Console
from controller.engine.plan import Change, Plan
from controller.engine.pipeline import Workspace, compute_plan, open_target
from controller.config.settings import CONFIG_NAMES
from controller.smoke.runner import format_result

BACKOFF_FIRST_S, BACKOFF_CAP_S = 1.0, 60.0
WATCHED_NAMES = frozenset({*CONFIG_NAMES, "langgraph.json"})
_ACTIONS = {"created": "create", "updated": "update", "repinned": "repin", "deleted": "delete"}


def run_watch(args: argparse.Namespace, console: Console) -> int:
    try:
        interval = parse_duration(args.interval)
    except ValueError as exc:
        raise InvalidInput([Problem(path="--interval", message=str(exc))]) from None
    return asyncio.run(Watcher(args, console, interval).run())


def fingerprint(d: Desired) -> str:
    """What the manifests ask of one assistant, comparable across reconciles."""
    return json.dumps([canonical(d.content), d.pin], sort_keys=True, default=str)


class Watcher:
    def __init__(self, args: argparse.Namespace, console: Console, interval: float):
        self.args, self.console, self.interval = args, console, interval
        self.backoff_cap = max(BACKOFF_FIRST_S, min(BACKOFF_CAP_S, interval))
        self.ws: Workspace | None = None  # the last good workspace and desired state
        self.good: list[Desired] | None = None
        self.known: dict[str, str] = {}  # assistant_id → fingerprint brought about on the target
        self.failed: dict[str, str] = {}  # assistant_id → fingerprint whose smoke tests failed
        self.first, self.failures, self.retry_in = True, 0, BACKOFF_FIRST_S
        self.reported: tuple[str, ...] = ()
        self.parsed: ParseCache = {}  # unchanged files are not parsed again on the next reconcile
        self.target: Any = None  # kept open across interval ticks
        self.target_spec, self.roots = None, []

    def event(self, kind: str, text: str | None, **fields: Any) -> None:
        now = datetime.now().astimezone()
        if self.console.json:
            self.console.emit({"event": kind, "time": now.isoformat(timespec="milliseconds"), **fields})
        elif text is not None:
            (self.console.error if kind == "error" else self.console.line)(f"[{now:%H:%M:%S}] {text}")

    def apply_event(self, e: dict[str, Any]) -> None:
        """apply.py's per-action events, as watch events."""
        kind, name = e["event"], e.get("name", "")
        if kind == "smoke":
            self.event("smoke", format_result(e["result"], color=self.console.color).strip(),
                       name=name, case=e["case"], passed=e["passed"], duration_s=e["duration_s"])
        elif kind in _ACTIONS:
            self.event("applied", event_text(e), name=name, action=_ACTIONS[kind], assistant_id=e.get("assistant_id"),
                       version=e.get("version"), from_version=e.get("from_version"))
        else:  # error, rolled-back, not-promoted
            self.event("error", event_text(e), name=name, status=kind, message=e.get("message", ""))

    def report_invalid(self, exc: InvalidInput, trigger: str) -> None:
        """A bad edit: reported (once per edit, not every interval), never applied."""
        errors = tuple(str(p) for p in exc.problems if p.severity == "error")
        if errors == self.reported and trigger in ("interval", "retry"):
            return
        self.reported = errors
        keeping = "the last good manifests stay in force" if self.good is not None else "nothing is applied until they are fixed"
        message = f"{len(errors)} error{'s' if len(errors) != 1 else ''} in the manifests; {keeping}"
        self.event("error", None, message=message, errors=list(errors))  # JSON; as text, one line each:
        for line in (*errors, message) if not self.console.json else ():
            self.event("error", f"error: {line}")

    def finish(self, trigger: str, *, ok: bool = True, counts: Counter | None = None, drift: int = 0,
               held: list[Change] | None = None) -> None:
        n = counts or Counter()
        text = (f"reconcile {'finished' if ok else 'failed'}: {n['create']} created, {n['update']} updated, "
                f"{n['repin']} repinned, {n['delete']} deleted")
        text += f"; {drift} drifted" if drift else ""
        text += f"; held until the next edit (smoke tests failed): {', '.join(c.name for c in held)}" if held else ""
        self.event("reconcile-finished", text, trigger=trigger, ok=ok, created=n["create"], updated=n["update"],
                   repinned=n["repin"], deleted=n["delete"], drift=drift, held=[c.name for c in held or ()])

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop, self.changed = asyncio.Event(), asyncio.Event()
        main = asyncio.current_task()

        def on_signal() -> None:
            if self.stop.is_set() and main is not None:  # a second signal: stop waiting for the action
                main.cancel()
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        files = asyncio.create_task(self.watch_files())
        trigger, code = "start", 0
        try:
            while not self.stop.is_set():
                ok = await self.reconcile(trigger)
                trigger = await self.wait_next(self.interval if ok else self.retry_in, "interval" if ok else "retry")
        except asyncio.CancelledError:
            code = 130
        finally:
            files.cancel()
            await asyncio.gather(files, return_exceptions=True)
            await self.close_target()  # (the loop's signal handlers go with the loop)
        self.event("stopped", "stopped" if code == 0 else "interrupted", exit_code=code)
        return code

    async def wait_next(self, delay: float, label: str) -> str:
        waiters = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.changed.wait())]
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        changed = self.changed.is_set()
        self.changed.clear()
        return "change" if changed else label

    async def watch_files(self) -> None:
        self.roots = self.watch_roots()
        try:
            async for _ in awatch(*self.roots, watch_filter=self.relevant, debounce=1600, step=200, stop_event=self.stop):
                self.changed.set()
        except Exception as exc:  # e.g. no inotify watches left: the interval still reconciles
            self.event("error", f"error: cannot watch files ({exc}); reconciling every {format_duration(self.interval)}",
                       message=f"cannot watch files: {exc}")

    def watch_roots(self) -> list[str]:
        """Folders, not files: a git checkout replaces files (rename), which a watch on the file misses."""
        wanted = [os.path.abspath(p) for p in (self.args.paths or ["."])]
        with contextlib.suppress(ControllerError):
            ws = Workspace.load(self.args.paths or ["."], config=self.args.config, target=self.args.target, url=self.args.url)
            wanted += [p for p in (ws.settings.config_file, ws.spec.graphs) if p]
        folders = [p if os.path.isdir(p) else os.path.dirname(p) for p in wanted]
        return list(dict.fromkeys(f for f in folders if os.path.isdir(f)))

    def relevant(self, _change: Any, path: str) -> bool:
        """Manifests, controller.yaml, langgraph.json; not in folders the loader skips (.git, .controller)."""
        name = os.path.basename(path)
        if not (name in WATCHED_NAMES or name.endswith(YAML_SUFFIXES)):
            return False
        for root in self.roots:
            rel = os.path.relpath(path, root).split(os.sep)
            if rel[0] != "..":
                return not any(p in SKIP_DIRS or p.startswith(".") for p in rel[:-1])
        return True

    async def reconcile(self, trigger: str) -> bool:
        """One pass. False when the target failed: the caller retries after ``retry_in``."""
        self.event("reconcile-started", f"reconcile started (trigger: {trigger})", trigger=trigger)
        try:
            ok = await self.reconcile_once(trigger)
        except InvalidInput as exc:  # even the last good manifests do not plan against the target
            self.report_invalid(exc, trigger)
            self.finish(trigger)
            ok = True  # not the target's failure: no backoff
        except Exception as exc:  # unreachable target (ControllerError, httpx, OSError) or a bug: never exit
            if self.console.verbose:
                traceback.print_exc()
            self.fail(str(exc) if isinstance(exc, (ControllerError, httpx.HTTPError)) else f"{type(exc).__name__}: {exc}")
            await self.close_target()
            self.finish(trigger, ok=False)
            return False
        self.failures = 0 if ok else self.failures
        return ok

    def fail(self, message: str) -> None:
        """Report a failed reconcile and schedule its retry: 1s, 2s, 4s ... up to the cap."""
        self.retry_in = min(BACKOFF_FIRST_S * 2 ** self.failures, self.backoff_cap)
        self.failures += 1
        self.event("error", f"error: {message}; retrying in {format_duration(self.retry_in)}",
                   message=message, retry_in=self.retry_in)

    async def plan(self, trigger: str) -> Plan | None:
        """Plan the manifests as they are now, or, when they are invalid, the last good ones."""
        args = self.args
        try:
            ws = Workspace.load(args.paths or ["."], config=args.config, target=args.target, url=args.url,
                                concurrency=args.concurrency)
            ws.parsed = self.parsed
            desired = ws.desired()
            plan = await compute_plan(ws, await self.open(ws, fresh=trigger != "interval"), desired, prune=args.prune)
            (self.ws, self.good), self.reported = (ws, desired), ()
            return plan
        except InvalidInput as exc:
            self.report_invalid(exc, trigger)
        if self.ws is None or self.good is None:
            return None
        return await compute_plan(self.ws, await self.open(self.ws, fresh=False), self.good, prune=args.prune)

    async def reconcile_once(self, trigger: str) -> bool:
        args, plan = self.args, await self.plan(trigger)
        if plan is None:
            self.finish(trigger)
            return True
        assert self.ws is not None and self.good is not None
        ws, fps = self.ws, {d.assistant_id: fingerprint(d) for d in self.good}
        for warning in plan.warnings if trigger != "interval" else ():  # not again every tick
            self.console.warn(warning)
        apply, drift, held = [], [], []
        for c in plan.changes:
            fp = fps.get(c.assistant_id, "")
            if not c.writes:
                self.known[c.assistant_id] = fp
                self.failed.pop(c.assistant_id, None)
            elif c.action == "delete":
                (apply if self.first or c.assistant_id in self.known else drift).append(c)
            elif self.failed.get(c.assistant_id) == fp:
                held.append(c)
            else:
                (apply if self.first or self.known.get(c.assistant_id) != fp else drift).append(c)
        if drift:
            how = "repairing (--self-heal)" if args.self_heal else "not repaired (use --self-heal, or controller apply)"
            self.event("drift", f"drift: {', '.join(f'{c.name} ({c.action})' for c in drift)}; {how}", repair=args.self_heal,
                       assistants=[{"name": c.name, "assistant_id": c.assistant_id, "action": c.action,
                                    "active_version": c.seen_version} for c in drift])
            apply += drift if args.self_heal else []
        unrepaired = 0 if args.self_heal else len(drift)
        refused = deletes_refused(apply, args.max_deletes if args.max_deletes is not None else ws.spec.max_deletes)
        if refused:
            message = f"{refused}; nothing was applied"
            self.event("error", f"error: {message}", message=message, refused=[c.name for c in apply if c.action == "delete"])
            self.finish(trigger, drift=len(drift), held=held)
            return True
        if not apply:
            self.first = False
            self.finish(trigger, drift=unrepaired, held=held)
            return True
        subplan = dataclasses.replace(plan, changes=tuple(apply), warnings=())
        if self.console.verbose and not self.console.json:
            self.console.line(render.render_text(subplan, color=self.console.color))
        result = await apply_plan(self.target, subplan, smoke="off" if args.no_smoke else ws.spec.smoke,
                                  concurrency=ws.spec.concurrency, emit=self.apply_event)
        counts = Counter(o.change.action for o in result.outcomes if o.status == "applied")
        for o in result.outcomes:
            aid = o.change.assistant_id
            if o.status == "applied":
                self.failed.pop(aid, None)
                self.known[aid] = fps.get(aid, "")
                if o.change.action == "delete":
                    del self.known[aid]
            elif o.status in ("rolled-back", "not-promoted", "failed"):  # wait for the next manifest edit
                self.failed[aid] = fps.get(aid, "")
        ok = not result.errors
        self.first = self.first and not ok
        if not ok:  # the target failed some writes: retry them with backoff
            self.fail(f"{len(result.errors)} change{'s' if len(result.errors) != 1 else ''} failed")
        self.finish(trigger, ok=ok, counts=counts, drift=unrepaired, held=held)
        return ok

    async def open(self, ws: Workspace, *, fresh: bool) -> Any:
        """The target: kept across interval ticks, reopened after file changes and failures."""
        if self.target is not None and (fresh or self.target_spec != ws.spec):
            await self.close_target()
        if self.target is None:
            self.target, self.target_spec = open_target(ws.spec), ws.spec
        return self.target

    async def close_target(self) -> None:
        target, self.target = self.target, None
        if target is not None:
            with contextlib.suppress(Exception):
                await target.aclose()

