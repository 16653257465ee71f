"""How long to wait before sending a request again: one rule for every HTTP client here.

The remote target (httpx) and the webhook notifier (urllib) both retry transient
failures. They wait the same way, so both come from this module:

- a server that says how long to wait (``Retry-After``, in seconds or as an HTTP date)
  is obeyed, up to a ceiling: a proxy answering "come back in an hour" must not stall a
  plan for an hour;
- otherwise the wait doubles with each attempt up to a cap, scaled by a random factor in
  [0.5, 1]: clients that failed together (a server restart) do not all come back at once.

Only numbers and strings here: the callers read the header from their own HTTP stack.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header value asks for (never negative), or None when
    there is none or it is neither a number nor an HTTP date."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(seconds, 0.0) if seconds == seconds else None  # NaN is no answer


def backoff(attempt: int, base: float, cap: float) -> float:
    """The wait before retry ``attempt`` (from 0): ``min(cap, base * 2**attempt)`` with jitter."""
    ceiling = min(cap, base * 2 ** min(attempt, 64))
    return ceiling * random.uniform(0.5, 1.0)


def delay(attempt: int, base: float, cap: float, asked: float | None, ceiling: float) -> float:
    """``asked`` (the server's Retry-After, in seconds) up to ``ceiling``, else :func:`backoff`."""
    if asked is not None:
        return min(asked, ceiling)
    return backoff(attempt, base, cap)
