"""Did-you-mean hints for a name the user typed (an assistant, a graph): one rule, so every
command that does not know a name answers alike."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from controller.core.errors import InvalidInput, Problem


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'blog-writer'?)`` for the closest of ``known``, or "" when none is close."""
    close = difflib.get_close_matches(word, sorted(set(known)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def named(items: Sequence[N], names: Sequence[str]) -> list[N]:
    """The items called ``names`` (all of them without names), in the items' order; a name
    that matches none is an error, with a did-you-mean or else the names declared."""
    if not names:
        return list(items)
    known = {i.name for i in items}
    unknown = [n for n in names if n not in known]
    if unknown:
        declared = f" (declared: {', '.join(sorted(known)) or 'none'})"
        raise InvalidInput([Problem(message=f"no manifest named {n!r}{did_you_mean(n, known) or declared}")
                            for n in unknown])
    return [i for i in items if i.name in names]
