"""Notifications: controller events POSTed as JSON to a webhook, off the watch loop.

A notification is a courtesy, never a reason to slow down or stop reconciling, so
:meth:`Notifier.send` only enqueues: a daemon thread delivers, retries transient
failures (connection errors, timeouts, 5xx, 429) with exponential backoff and
jitter, and drops an event after its retries with a warning. A full queue drops
the *oldest* event (the newest says most about the present) and counts it.

The body is ``{**event, "text": text}``: any JSON consumer gets the event's fields,
and a Slack (or Mattermost, Rocket.Chat, Teams-via-Slack-format) incoming webhook
shows ``text`` as a readable line.

Only the stdlib (``urllib.request``): this module must not pull in an HTTP stack.
The webhook URL is a secret (a Slack webhook's token is its *path*), so logs name
only its scheme and host.
"""

from __future__ import annotations

import collections
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from controller.core import retry

log = logging.getLogger(__name__)

#: Events waiting beyond this are dropped, oldest first.
DEFAULT_QUEUE_SIZE = 1000

#: Seconds between two "dropped" warnings; the ones in between are counted instead.
WARN_INTERVAL = 60.0

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are failures: urllib would replay a POST as a body-less GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: enough to tell webhooks apart, nothing secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<webhook>"
    return f"{parts.scheme}://{host}{port}/…"


class Notifier:
    """Delivers events to ``url`` in the background; see the module docstring.

    ``retries`` is how many times a failed delivery is retried (``retries + 1``
    attempts in all); the wait before retry *n* (from 0) is ``min(cap, base * 2**n)``
    scaled by a random factor in [0.5, 1] (``backoff = (base, cap)``), or the
    server's ``Retry-After`` when it sends one (capped). ``timeout`` bounds each
    request.
    """

    def __init__(
        self,
        url: str,
        *,
        retries: int = 5,
        backoff: tuple[float, float] = (0.5, 30.0),
        timeout: float = 10.0,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ):
        self._url = url
        self.target = redact_url(url)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.timeout = timeout
        self._queue: collections.deque[bytes] = collections.deque()
        self._queue_size = max(1, queue_size)
        self._cond = threading.Condition()
        self._busy = False  # the worker holds an event it has not finished with
        self._closing = False
        self._stop = threading.Event()  # set: the worker abandons what is left
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._last_warning: float | None = None  # worker thread only
        self._suppressed = 0
        #: Events dropped because the queue was full, or sent after close().
        self.dropped = 0
        #: Events given up after their last retry, or refused (4xx other than 429).
        self.failed = 0
        #: Events the webhook accepted (2xx).
        self.delivered = 0
        self._worker = threading.Thread(target=self._run, name="controller-notify", daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return f"Notifier({self.target!r})"

    def send(self, event: Mapping[str, Any], text: str) -> None:
        """Queue ``{**event, "text": text}`` for delivery. Never blocks, never raises."""
        try:
            body = json.dumps({**event, "text": text}, default=str).encode()
        except Exception as exc:
            log.warning("notification to %s not sent: event is not JSON (%s)", self.target, type(exc).__name__)
            with self._cond:
                self.failed += 1
            return
        with self._cond:
            if self._closing:
                self.dropped += 1
                return
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    log.warning("notification queue full: %d oldest event(s) dropped so far", self.dropped)
            self._queue.append(body)
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Events queued or being delivered."""
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking events and deliver what is queued for up to ``timeout`` seconds.

        Returns True when everything queued was dealt with (delivered or given up);
        what is left after the timeout is dropped with a warning.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            left = len(self._queue) + (1 if self._busy else 0)
            self._stop.set()
            self._cond.notify_all()
            self.dropped += left
        if left:
            log.warning("%d notification(s) to %s not delivered before shutdown", left, self.target)
        self._worker.join(timeout=max(0.0, deadline - time.monotonic()) + 0.1)
        return left == 0

    # -- the worker -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set() or not self._queue:
                    return
                body = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(body)
            except Exception as exc:
                with self._cond:
                    self.failed += 1
                log.warning("notification to %s failed unexpectedly: %s", self.target, type(exc).__name__)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, body: bytes) -> None:
        for attempt in range(self.retries + 1):
            if self._stop.is_set():
                return
            outcome, retry_after, reason = self._post(body)
            if outcome == "ok":
                with self._cond:
                    self.delivered += 1
                return
            if outcome != "retry" or attempt == self.retries:
                with self._cond:
                    self.failed += 1
                self._warn_failed(attempt + 1, reason)
                return
            if self._stop.wait(self._delay(attempt, retry_after)):
                return

    def _warn_failed(self, attempts: int, reason: str) -> None:
        """One warning per WARN_INTERVAL at most: a dead webhook must not flood the log."""
        now = time.monotonic()
        if self._last_warning is not None and now - self._last_warning < WARN_INTERVAL:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more dropped since the last warning)" if self._suppressed else ""
        log.warning("notification to %s dropped after %d attempt(s): %s%s", self.target, attempts, reason, more)
        self._last_warning, self._suppressed = now, 0

    def _post(self, body: bytes) -> tuple[str, float | None, str]:
        """One attempt: ("ok" | "retry" | "give-up", Retry-After seconds or None, why).

        ``why`` never quotes the URL: ValueError texts do, so they are not shown.
        """
        try:
            request = urllib.request.Request(
                self._url, data=body, method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "assistant-controller"},
            )
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
                return "ok", None, ""
        except urllib.error.HTTPError as exc:
            retry_after = retry.retry_after(exc.headers.get("Retry-After")) if exc.headers else None
            exc.close()
            outcome = "retry" if exc.code in _RETRYABLE_STATUS else "give-up"
            return outcome, retry_after, f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            return "retry", None, str(reason) if isinstance(reason, OSError) else "connection failed"
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, garbled responses
            return "retry", None, str(exc) if isinstance(exc, OSError) else type(exc).__name__
        except ValueError:
            return "give-up", None, "invalid webhook URL"

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """The webhook's Retry-After, at most the backoff cap; else backoff (core/retry.py)."""
        base, cap = self.backoff
        return retry.delay(attempt, base, cap, retry_after, ceiling=cap)
