"""Long one-line strings (prompts) diffed word by word, as hunks a reviewer can read.

A prompt on one line with two edits far apart must read as two small hunks, each with some
context, not as one hunk that spans the text between them; and whatever is left out is left
out at a word boundary, so no word shown is a fragment of another.

The words are compared with Myers' algorithm (what ``git diff`` uses): its cost grows with
the length times the number of edits, so a few edits in an 800 KB prompt cost little, and
it never mistakes a prompt's common words ("the", "and") for anchors, which difflib's
junk heuristic does (and, without it, takes seconds on 10,000 words). Past
:data:`MAX_EDITS` edits the text counts as rewritten, and is shown as one change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Characters of unchanged text kept either side of a change.
CONTEXT = 80
#: Unchanged text up to this long between two changes keeps them in one hunk.
JOIN = 2 * CONTEXT + 40
#: Word edits beyond which a string counts as rewritten (one change, both sides elided).
MAX_EDITS = 300
#: Characters of a changed part shown; the middle of a longer one is elided.
MAX_SHOWN = 2000
_WORDS = re.compile(r"\S+|\s+")

Part = tuple[str, str]  # ("=", unchanged) | ("-", removed) | ("+", added)


@dataclass(frozen=True)
class Hunk:
    """One place where the strings differ: unchanged text around changed parts."""

    parts: tuple[Part, ...]
    #: Unchanged text was left out before / after it.
    cut_before: bool = False
    cut_after: bool = False

    def side(self, keep: str) -> str:
        """The hunk as one string reads it: ``keep`` is "-" (before) or "+" (after)."""
        return self._ends("".join(text for op, text in self.parts if op in ("=", keep)))

    def marked(self) -> str:
        """Both strings in one: ``…context [-old-]{+new+} context…``."""
        marks = {"=": "{}", "-": "[-{}-]", "+": "{{+{}+}}"}
        return self._ends("".join(marks[op].format(text) for op, text in self.parts))

    def _ends(self, text: str) -> str:
        return ("… " if self.cut_before else "") + text + (" …" if self.cut_after else "")


def hunks(before: str, after: str) -> list[Hunk]:
    """The hunks of two strings (none when they are equal)."""
    if before == after:
        return []
    start, end = _common_ends(before, after)
    a = _WORDS.findall(before[start:len(before) - end])
    b = _WORDS.findall(after[start:len(after) - end])
    parts: list[Part] = [("=", before[:start])]
    edits = _myers(a, b)
    if edits is None:  # rewritten: one change
        parts += [("-", "".join(a)), ("+", "".join(b))]
    else:
        parts += edits
    parts.append(("=", before[len(before) - end:]))
    return _split(_merged(parts))


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to about ``limit`` characters at word boundaries, saying how much was left out."""
    if len(text) <= limit:
        return text
    head, _ = keep_head(text, limit // 2)
    tail, _ = keep_tail(text, limit // 2)
    if not head and not tail:  # one word longer than the limit: its ends, since nothing else can show
        head, tail = text[:limit // 2], text[-(limit // 2):]
    return f"{head} …({len(text) - len(head) - len(tail)} characters elided; -o json has the full value)… {tail}"


def keep_head(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters from the start, ending at a word boundary; and whether any were left out."""
    if len(text) <= limit:
        return text, False
    if text[limit].isspace():
        return text[:limit].rstrip(), True
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit), text.rfind("\t", 0, limit))
    return (text[:cut].rstrip() if cut >= 0 else ""), True


def keep_tail(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters from the end, starting at a word boundary; and whether any were left out."""
    if len(text) <= limit:
        return text, False
    start = len(text) - limit
    if text[start - 1].isspace():
        return text[start:].lstrip(), True
    found = [i for i in (text.find(c, start) for c in " \n\t") if i >= 0]
    return (text[min(found):].lstrip() if found else ""), True


def _common_ends(before: str, after: str) -> tuple[int, int]:
    """Lengths of the common start and end, each cut back to a word boundary (linear time)."""
    limit = min(len(before), len(after))
    start = 0
    while start < limit and before[start] == after[start]:
        start += 1
    while start > 0 and not before[start - 1].isspace():
        start -= 1
    end = 0
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    while end > 0 and not before[len(before) - end].isspace():
        end -= 1
    return start, end


def _myers(a: Sequence[str], b: Sequence[str]) -> list[Part] | None:
    """The shortest edit script from ``a`` to ``b`` as parts, or None past MAX_EDITS edits."""
    n, m = len(a), len(b)
    v = {1: 0}
    trace: list[dict[int, int]] = []
    for d in range(min(MAX_EDITS, n + m) + 1):
        trace.append(dict(v))
        for k in range(-d, d + 1, 2):
            x = v[k + 1] if k == -d or (k != d and v[k - 1] < v[k + 1]) else v[k - 1] + 1
            x = _snake(a, b, x, x - k)
            v[k] = x
            if x >= n and x - k >= m:
                return _script(a, b, trace)
    return None


def _snake(a: Sequence[str], b: Sequence[str], x: int, y: int) -> int:
    """How far the words stay equal from ``a[x]``, ``b[y]`` (64 at a time while they can: a long
    unchanged stretch between two edits is compared in C, not word by word in Python)."""
    n, m = len(a), len(b)
    while x < n and y < m:
        chunk = a[x:x + 64]
        if len(chunk) > 1 and chunk == b[y:y + 64]:
            x, y = x + len(chunk), y + len(chunk)
        elif a[x] == b[y]:
            x, y = x + 1, y + 1
        else:
            break
    return x


def _script(a: Sequence[str], b: Sequence[str], trace: list[dict[int, int]]) -> list[Part]:
    """Walk the trace back from the end (``trace[d]``: the furthest points before step d): the parts in order."""
    out: list[Part] = []
    x, y = len(a), len(b)
    for d in range(len(trace) - 1, -1, -1):
        v, k = trace[d], x - y
        prev = k + 1 if k == -d or (k != d and v[k - 1] < v[k + 1]) else k - 1
        px = v[prev]
        py = px - prev
        same = max(0, min(x - px, y - py))  # the unchanged words after the edit
        out.append(("=", "".join(a[x - same:x])))
        x, y = x - same, y - same
        if d > 0:
            out.append(("+", b[py]) if x == px else ("-", a[px]))
        x, y = px, py
    out.reverse()
    return out


def _merged(parts: list[Part]) -> list[Part]:
    """Neighbouring parts of one kind joined; each change reads removed first, then added."""
    out: list[Part] = []
    runs: dict[str, list[str]] = {"=": [], "-": [], "+": []}

    def flush(ops: str) -> None:
        for op in ops:
            if text := "".join(runs[op]):
                out.append((op, text))
            runs[op].clear()

    for op, text in parts:
        if not text:
            continue
        if op == "=" and (runs["-"] or runs["+"]):
            flush("-+")
        elif op != "=" and runs["="]:
            flush("=")
        runs[op].append(text)
    flush("=-+")
    return out


def _split(parts: list[Part]) -> list[Hunk]:
    """Parts → hunks: unchanged text longer than JOIN between two changes separates them;
    at the ends only CONTEXT characters of it are kept (at word boundaries)."""
    found: list[Hunk] = []
    current: list[Part] = []
    cut_before = False
    last = len(parts) - 1
    for i, (op, text) in enumerate(parts):
        if op != "=":
            current.append((op, clip(text)))
        elif i == 0:
            lead, cut_before = keep_tail(text, CONTEXT)
            current.append(("=", lead))
        elif i == last:
            tail, cut = keep_head(text, CONTEXT)
            current.append(("=", tail))
            found.append(Hunk(tuple(current), cut_before, cut))
            current = []
        elif len(text) <= JOIN:
            current.append(("=", text))
        else:
            tail, _ = keep_head(text, CONTEXT)
            found.append(Hunk(tuple([*current, ("=", tail)]), cut_before, True))
            lead, cut_before = keep_tail(text, CONTEXT)
            current = [("=", lead)]
    if current:
        found.append(Hunk(tuple(current), cut_before, False))
    return found
