"""`controller`: a thin layer from flags to the modules that do the work."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from controller.cli.console import Console
from controller.cli.parser import build_parser
from controller.core.errors import ControllerError, InvalidInput

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(args.output, color=False if args.no_color else None, quiet=args.quiet, verbose=args.verbose)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    from controller.cli import commands

    _fewer_collections(args.command)
    handler: Callable[[argparse.Namespace, Console], Coroutine[Any, Any, int] | int] = getattr(commands, f"cmd_{args.command}")
    try:
        result = handler(args, console)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except InvalidInput as exc:
        return _invalid(exc, console, args.command)
    except ControllerError as exc:
        if console.verbose:
            traceback.print_exc()
        console.error(f"error: {exc}")
        if console.json:
            console.emit({"ok": False, "errors": [str(exc)]})
        return exc.exit_code
    except BrokenPipeError:  # `controller plan | head -1`: the reader has all it wants
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except Exception as exc:  # a bug or an unexpected failure: one line unless -v
        if console.verbose:
            traceback.print_exc()
        console.error(f"error: {type(exc).__name__}: {exc} (run with -v for details)")
        return 1


#: Allocations between young collections (Python's default: 700). A plan of 10,000 manifests
#: builds a few million long-lived objects; at 700 the collector rescans them over and over
#: (about a third of that plan's CPU). mypy raises it the same way for the same reason.
GC_THRESHOLD = (100_000, 50, 100)
#: Commands that load, plan and print, and end: they make little cyclic garbage and keep what
#: they build to the end, so the cycle collector would only rescan it (a no-op plan of 10,000
#: manifests spends a tenth of its time there). Commands that run graphs or loop keep it on.
NO_CYCLE_COLLECTION = frozenset({"validate", "plan", "status", "history", "import", "schema", "render"})


#: Commands that write (to a target, or files): their invalid input is refused before any write.
WRITERS = frozenset({"apply", "destroy", "rollback", "watch", "import", "test"})


def _fewer_collections(command: str) -> None:
    if command in NO_CYCLE_COLLECTION:
        gc.disable()
    elif gc.get_threshold()[0] < GC_THRESHOLD[0]:
        gc.set_threshold(*GC_THRESHOLD)


def _invalid(exc: InvalidInput, console: Console, command: str) -> int:
    """Every warning found on the way, then every problem, one line each, then how many;
    nothing was written before them."""
    for warning in exc.warnings:
        console.warn(warning)
    for problem in exc.problems:
        console.error(str(problem))
    n = len(exc.problems)
    if console.json:
        console.emit({"ok": False, "errors": [str(p) for p in exc.problems], **({"warnings": list(exc.warnings)} if exc.warnings else {})})
    # only a command that writes says it did not: after validate or plan it would only puzzle
    written = "; nothing was written" if command in WRITERS else ""
    console.error(f"{n} error{'s' if n != 1 else ''}{written}.")
    return exc.exit_code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain of the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
