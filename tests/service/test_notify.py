"""Notifier against a real HTTP server on loopback: what a webhook receiver would see."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.service.notify import Notifier, redact_url

FAST = {"backoff": (0.01, 0.02), "timeout": 10.0}


class Hook:
    """A webhook receiver: answers with ``statuses`` in turn (then 200), records bodies,
    and can be made to hang until released."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.headers: dict[int, dict[str, str]] = {}
        self.bodies: list[dict[str, object]] = []
        self.accepted: list[dict[str, object]] = []
        self.hang = threading.Event()  # set: hold each request until `release` is set
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)  # one per request received
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hook.lock:
                    hook.bodies.append(body)
                    status = hook.statuses.pop(0) if hook.statuses else 200
                    if status == 200:
                        hook.accepted.append(body)
                hook.arrived.release()
                if hook.hang.is_set():
                    hook.release.wait()
                self.send_response(status)
                for name, value in hook.headers.get(status, {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/s3cretpath?token=q5ecret"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.stop()


def test_events_arrive_as_json_with_a_text_line(hook: Hook) -> None:
    notifier = Notifier(hook.url, **FAST)
    notifier.send({"event": "applied", "revision": "abc123", "changes": 2}, "applied abc123: 2 changes")
    notifier.send({"event": "failed", "error": "boom"}, "apply failed: boom")
    assert notifier.close(timeout=10)
    assert hook.accepted == [
        {"event": "applied", "revision": "abc123", "changes": 2, "text": "applied abc123: 2 changes"},
        {"event": "failed", "error": "boom", "text": "apply failed: boom"},
    ]
    assert notifier.delivered == 2 and notifier.failed == 0 and notifier.dropped == 0


def test_server_errors_are_retried_until_the_event_is_delivered_once(hook: Hook) -> None:
    hook.statuses = [500, 500, 200]
    notifier = Notifier(hook.url, retries=5, **FAST)
    notifier.send({"event": "applied"}, "applied")
    assert notifier.close(timeout=10)
    assert len(hook.bodies) == 3
    assert hook.accepted == [{"event": "applied", "text": "applied"}]
    assert notifier.delivered == 1


def test_429_is_retried_after_the_servers_retry_after(hook: Hook) -> None:
    hook.statuses = [429]
    hook.headers = {429: {"Retry-After": "0"}}
    notifier = Notifier(hook.url, backoff=(60.0, 60.0))  # would take a minute without Retry-After
    notifier.send({"event": "applied"}, "applied")
    assert notifier.close(timeout=10)
    assert len(hook.bodies) == 2 and notifier.delivered == 1


def test_an_event_is_dropped_after_its_retries_with_a_warning_that_hides_the_url(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.statuses = [503] * 10
    notifier = Notifier(hook.url, retries=2, **FAST)
    with caplog.at_level(logging.WARNING, logger="controller.service.notify"):
        notifier.send({"event": "applied"}, "applied")
        assert notifier.close(timeout=10)
    assert len(hook.bodies) == 3 and notifier.failed == 1 and notifier.delivered == 0
    assert "dropped after 3 attempt(s): HTTP 503" in caplog.text
    assert "s3cretpath" not in caplog.text and "q5ecret" not in caplog.text


def test_a_client_error_is_not_retried(hook: Hook) -> None:
    hook.statuses = [404]
    notifier = Notifier(hook.url, **FAST)
    notifier.send({"event": "applied"}, "applied")
    assert notifier.close(timeout=10)
    assert len(hook.bodies) == 1 and notifier.failed == 1


def test_send_returns_while_the_server_hangs(hook: Hook) -> None:
    hook.hang.set()
    notifier = Notifier(hook.url, **FAST)
    notifier.send({"event": "one"}, "one")
    notifier.send({"event": "two"}, "two")  # both returned though no response has come
    hook.arrived.acquire()  # the first request is being held by the server
    assert notifier.pending == 2 and notifier.delivered == 0
    hook.release.set()
    assert notifier.close(timeout=10)
    assert [b["event"] for b in hook.accepted] == ["one", "two"]


def test_a_full_queue_drops_the_oldest_events_and_counts_them(hook: Hook) -> None:
    hook.hang.set()
    notifier = Notifier(hook.url, queue_size=2, **FAST)
    notifier.send({"n": 1}, "1")
    hook.arrived.acquire()  # the worker holds event 1; the queue is empty
    for n in (2, 3, 4, 5):
        notifier.send({"n": n}, str(n))
    assert notifier.dropped == 2
    hook.release.set()
    assert notifier.close(timeout=10)
    assert [b["n"] for b in hook.accepted] == [1, 4, 5]


def test_close_gives_up_on_what_it_cannot_deliver_in_time(hook: Hook) -> None:
    hook.hang.set()
    notifier = Notifier(hook.url, **FAST)
    notifier.send({"n": 1}, "1")
    notifier.send({"n": 2}, "2")
    hook.arrived.acquire()
    assert notifier.close(timeout=0.1) is False
    assert notifier.dropped == 2
    notifier.send({"n": 3}, "3")  # after close: dropped, not raised
    assert notifier.dropped == 3


def test_a_dead_url_never_raises_into_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    notifier = Notifier(f"http://127.0.0.1:{port}/hook?key=k3y", retries=1, **FAST)
    with caplog.at_level(logging.WARNING, logger="controller.service.notify"):
        notifier.send({"event": "applied"}, "applied")
        notifier.send({"not": object()}, "odd payloads are stringified, not fatal")
        assert notifier.close(timeout=10)
    assert notifier.failed == 2 and notifier.delivered == 0
    assert caplog.text.count("dropped after") == 1  # a dead webhook does not flood the log
    assert "k3y" not in caplog.text
    bad = Notifier("not a url", retries=3, **FAST)
    bad.send({"event": "applied"}, "applied")
    assert bad.close(timeout=10) and bad.failed == 1


def test_redact_url_keeps_only_scheme_and_host() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/XYZ?x=1") == "https://hooks.slack.com/…"
    assert redact_url("http://user:pw@127.0.0.1:8080/h") == "http://127.0.0.1:8080/…"
