"""How the CLI speaks: text for people (colour on a TTY only), JSON for machines.

Errors go to stderr, one line each. Nothing here ever prints a value that came from
the environment: plans are masked by render.py before they reach this module.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from controller.core.ansi import paint


class Console:
    def __init__(self, output: str = "text", color: bool | None = None, quiet: bool = False,
                 verbose: bool = False, out: TextIO | None = None, err: TextIO | None = None):
        self.output = output
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if color is None:
            color = self.out.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.color = color
        self.quiet = quiet
        self.verbose = verbose

    @property
    def json(self) -> bool:
        return self.output == "json"

    def line(self, text: str = "") -> None:
        """Progress and results for people (suppressed by -q and in JSON mode)."""
        if not self.quiet and self.output == "text":
            print(text, file=self.out, flush=True)

    def result(self, text: str) -> None:
        """The command's main text output (shown even with -q)."""
        if not self.json:
            print(text, file=self.out, flush=True)

    def emit(self, obj: Any) -> None:
        """One JSON document on stdout (JSON mode only)."""
        if self.json:
            print(json.dumps(obj, sort_keys=True, default=str), file=self.out, flush=True)

    def error(self, text: str) -> None:
        print(self.paint("31", text) if self.err.isatty() and self.color else text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        """Something the user should act on: on stderr, also with -q (quiet hides progress, not problems)."""
        print(f"warning: {text}" if not text.startswith("warning:") else text, file=self.err, flush=True)

    def paint(self, code: str, text: str) -> str:
        return paint(code, text, self.color)
