"""HTTP endpoints of `controller watch --listen`: probes, status, metrics and a git webhook.

Why the stdlib server in a daemon thread: the endpoints are tiny, a scrape or probe must
never wait for a reconcile pass (which can take minutes with smoke tests), and the
reconcile loop must never wait for a slow client. So the handlers only read snapshots
taken under a lock (``Health``, the ``status`` callable, the metrics registry) or call
``on_git_hook``, which must merely *signal* the loop (e.g. ``loop.call_soon_threadsafe(
event.set)``), never reconcile in the request thread.

Endpoints:
  GET  /healthz    200 ``ok`` while reconcile passes keep starting (liveness); 503 otherwise
  GET  /readyz     200 once a pass has reached the target (readiness); 503 before
  GET  /status     the ``status()`` snapshot as JSON
  GET  /metrics    Prometheus text exposition
  POST /hooks/git  calls ``on_git_hook()`` and answers 202; with a webhook secret the body
                   must carry GitHub's ``X-Hub-Signature-256`` (else 401, hook not called)
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller.core.errors import ControllerError
from controller.service.metrics import Metrics

log = logging.getLogger(__name__)

#: Larger webhook bodies are refused (413): GitHub push payloads are capped at 25 MB but a
#: hook only needs to *signal*; 1 MiB covers ordinary pushes and bounds memory per request.
MAX_BODY_BYTES = 1024 * 1024
#: An oversized body up to this size is read and dropped before the 413 (beyond, the connection is cut).
DISCARD_LIMIT_BYTES = 16 * MAX_BODY_BYTES
#: A client that stalls this long is dropped, so slow clients cannot pile up threads.
REQUEST_TIMEOUT_S = 10.0
#: Liveness tolerates this many intervals without a new pass (one slow pass, one retry).
HEALTHY_INTERVALS = 3
SIGNATURE_HEADER = "X-Hub-Signature-256"

GET_PATHS = ("/healthz", "/readyz", "/status", "/metrics")
POST_PATHS = ("/hooks/git",)


class Health:
    """Liveness and readiness of the reconcile loop, written by the loop, read by probes.

    Times are seconds on one clock: ``time.monotonic()`` unless the caller passes ``now``
    (tests inject it). ``interval`` is the watch interval; ``ServiceServer`` sets it when
    it was not given here.
    """

    def __init__(self, interval: float | None = None, *, started_at: float | None = None) -> None:
        self._lock = threading.Lock()
        self._interval = interval
        self._started_at = time.monotonic() if started_at is None else started_at
        self._last_pass: float | None = None
        self._ready = False

    @property
    def interval(self) -> float | None:
        with self._lock:
            return self._interval

    @interval.setter
    def interval(self, value: float) -> None:
        if value <= 0:
            raise ValueError("interval must be positive")
        with self._lock:
            self._interval = value

    def pass_started(self, now: float | None = None) -> None:
        """The loop began a reconcile pass (call at every pass, retries included)."""
        with self._lock:
            self._last_pass = time.monotonic() if now is None else now

    def reached_target(self) -> None:
        """A pass talked to the target successfully: from now on the controller is ready."""
        with self._lock:
            self._ready = True

    def healthy(self, now: float | None = None) -> bool:
        """A pass started within the last 3 intervals (before the first one: start-up was that recent).

        A loop stuck in one pass (a hung request, a deadlock) stops starting passes, so the
        kubelet restarts the pod; a loop that keeps failing still starts passes and stays alive.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._interval is None:
                return False
            since = self._started_at if self._last_pass is None else self._last_pass
            return now - since <= HEALTHY_INTERVALS * self._interval

    def ready(self) -> bool:
        with self._lock:
            return self._ready


def signature(secret: str, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256`` value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[IPV6]:PORT`` → (host, port); ValueError if malformed."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "0.0.0.0", int(port)


class Snapshot:
    """A thread-safe ``status`` source: the loop ``publish``es a dict, the server reads a copy.

    Why a copy at publish time: the handler thread then never sees the loop's live objects
    half-updated, and serialising happens off the loop.
    """

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._value: dict[str, Any] = copy.deepcopy(initial or {})

    def publish(self, value: dict[str, Any]) -> None:
        value = copy.deepcopy(value)
        with self._lock:
            self._value = value

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            return self._value


class ServiceServer:
    """The endpoints above on ``host:port`` (port 0 picks a free one: see ``.port``/``.url``)."""

    def __init__(self, host: str, port: int, *, health: Health, interval: float,
                 status: Callable[[], dict[str, Any]], metrics: Metrics,
                 on_git_hook: Callable[[], None], webhook_secret: str | None) -> None:
        if webhook_secret is not None and not webhook_secret:
            raise ValueError("the webhook secret is empty (unset it to accept unsigned hooks)")
        if health.interval is None:
            health.interval = interval
        self.host, self.health, self.interval = host, health, interval
        self.status, self.metrics, self.on_git_hook = status, metrics, on_git_hook
        self.webhook_secret = webhook_secret
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread; a port in use is a one-line ControllerError."""
        if self._server is not None:
            return
        server_class = _IPv6Server if ":" in self.host else _Server
        try:
            self._server = server_class((self.host, self._requested_port), _handler_for(self))
        except OSError as exc:
            raise ControllerError(f"--listen {self.host}:{self._requested_port}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="controller-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the socket; requests in flight finish in their daemon threads."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> ServiceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def verified(self, body: bytes, header: str | None) -> bool:
        """No secret configured, or the header is the body's HMAC under it (constant-time compare)."""
        if self.webhook_secret is None:
            return True
        if not header:
            return False
        expected = signature(self.webhook_secret, body).encode()
        return hmac.compare_digest(expected, header.strip().encode("utf-8", "surrogateescape"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds the process open at exit
    allow_reuse_address = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler_for(service: ServiceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.service = service
    return Handler


class _Handler(BaseHTTPRequestHandler):
    service: ServiceServer
    timeout = REQUEST_TIMEOUT_S
    server_version = "assistant-controller"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """The watch output is the log: requests go to the debug level only."""
        log.debug("%s %s", self.address_string(), format % args)

    # Routing: every method goes through one place so 404 vs 405 is decided consistently.
    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_OPTIONS(self) -> None:
        self._route("OPTIONS")

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path in GET_PATHS:
                if method not in ("GET", "HEAD"):
                    return self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", allow="GET, HEAD")
                return self._get(path)
            if path in POST_PATHS:
                if method != "POST":
                    return self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", allow="POST")
                return self._git_hook()
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n")
        except Exception:  # a failing callback must not kill the server thread nor leak a traceback
            log.exception("error serving %s %s", method, path)
            return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error\n")

    def _get(self, path: str) -> None:
        service = self.service
        if path == "/healthz":
            if service.health.healthy():
                return self._send(HTTPStatus.OK, b"ok")
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE,
                              f"no reconcile pass started in the last {HEALTHY_INTERVALS} intervals\n".encode())
        if path == "/readyz":
            if service.health.ready():
                return self._send(HTTPStatus.OK, b"ready")
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no reconcile pass has reached the target yet\n")
        if path == "/status":
            body = json.dumps(service.status(), default=str, sort_keys=True).encode()
            return self._send(HTTPStatus.OK, body, content_type="application/json")
        body, content_type = service.metrics.render()
        return self._send(HTTPStatus.OK, body, content_type=content_type)

    def _git_hook(self) -> None:
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            return self._send(HTTPStatus.LENGTH_REQUIRED, b"send a Content-Length\n")
        try:
            length = int(length_text) if length_text is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            return self._send(HTTPStatus.BAD_REQUEST, b"bad Content-Length\n")
        if length > MAX_BODY_BYTES:
            self._discard(length)
            return self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"body too large\n")
        body = self.rfile.read(length)
        if len(body) != length:
            return self._send(HTTPStatus.BAD_REQUEST, b"body shorter than Content-Length\n")
        if not self.service.verified(body, self.headers.get(SIGNATURE_HEADER)):
            log.debug("git hook refused: missing or bad %s", SIGNATURE_HEADER)
            return self._send(HTTPStatus.UNAUTHORIZED, b"bad or missing signature\n")
        self.service.on_git_hook()
        return self._send(HTTPStatus.ACCEPTED, b"accepted\n")

    def _discard(self, length: int) -> None:
        """Read and drop a refused body (bounded), so the client sees the 413 instead of a reset."""
        left = min(length, DISCARD_LIMIT_BYTES)
        while left > 0:
            chunk = self.rfile.read(min(left, 64 * 1024))
            if not chunk:
                return
            left -= len(chunk)

    def _send(self, status: HTTPStatus, body: bytes, *, content_type: str = "text/plain; charset=utf-8",
              allow: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", allow)
        if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE or status >= 400 and self.command == "POST":
            self.send_header("Connection", "close")  # an unread body must not be parsed as the next request
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
