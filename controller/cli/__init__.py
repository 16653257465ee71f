"""`controller`: a thin layer from flags to the modules that do the work."""

from __future__ import annotations

import argparse
import asyncio
import logging
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

    handler: Callable[[argparse.Namespace, Console], Coroutine[Any, Any, int] | int] = getattr(commands, f"cmd_{args.command}")
    try:
        result = handler(args, console)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except InvalidInput as exc:
        for problem in exc.problems:
            console.error(str(problem))
        n = len(exc.problems)
        if console.json:
            console.emit({"ok": False, "errors": [str(p) for p in exc.problems]})
        console.error(f"{n} error{'s' if n != 1 else ''}; nothing was written.")
        return exc.exit_code
    except ControllerError as exc:
        if console.verbose:
            traceback.print_exc()
        console.error(f"error: {exc}")
        if console.json:
            console.emit({"ok": False, "errors": [str(exc)]})
        return exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except Exception as exc:  # a bug or an unexpected failure: one line unless -v
        if console.verbose:
            traceback.print_exc()
        console.error(f"error: {type(exc).__name__}: {exc} (run with -v for details)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
