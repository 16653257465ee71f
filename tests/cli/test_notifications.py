"""Notifications (cli/notifications.py): a `notify:` URL in controller.yaml receives the events
people act on, each with its text line."""

from __future__ import annotations

import json

from helpers import Watch


def test_notify_in_controller_yaml_receives_applied_events_with_text(repo):
    import queue
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    inbox = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    config = repo / "controller.yaml"
    config.write_text(config.read_text() + f"notify: http://127.0.0.1:{inbox.server_address[1]}/hook\n")
    watch = Watch(repo, "--no-smoke", interval="600s")
    try:
        assert watch.finished("the first pass", trigger="start")["created"] == 5
        got = [received.get(timeout=30) for _ in range(5)]
        assert {e["event"] for e in got} == {"applied"}
        assert {e["text"] for e in got} == {"+ blog-writer: created (v1)", "+ tweet-writer: created (v1)",
                                            "+ support-bot: created (v1)", "+ faq-bot: created (v1)",
                                            "+ faq-grader: created (v1)"}
        assert watch.terminate() == 0
    finally:
        watch.close()
        inbox.shutdown()
