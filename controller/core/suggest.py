"""Did-you-mean hints for a name the user typed (an assistant, a graph): one rule, so every
command that does not know a name answers alike."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'blog-writer'?)`` for the closest of ``known``, or "" when none is close."""
    close = difflib.get_close_matches(word, sorted(set(known)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
