"""Every server or network failure reaches the user as one clear line (remote target).

A small real HTTP server (stdlib, loopback, free port) plays an Agent Server that
goes wrong in the ways real deployments do: an HTML page where JSON belongs, JSON of
another shape, 401/403, a gateway's 502 page, a 400/404/405/501 on the listing (a wrong
path, a plain web server), a connection closed without an answer; and the ways Aegra
differs: a page cap of 100 (422 above), 409 for a duplicate config, 500 on a write. A
plain web server (the stdlib's, as ``python -m http.server`` runs it) and ``https://``
to a plain-HTTP port are met for real. Connection refused and a host name that does not
resolve need no server. Everything is asserted at the CLI: exit 1, exactly one line on
stderr, no traceback, the URL named, the API key never printed. "At once" is shown by
counting requests, never by timing.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from controller.core.content import NAME_KEY, OWNER_KEY, assistant_id_for, system_assistant_id
from controller.targets.remote import RemoteTarget

OWNER = "err-tests"
KEY = "sk-errors-very-secret-42"
POET = assistant_id_for(OWNER, "poet")
NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
             "</center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n")
DASHBOARD = "<!doctype html><html><head><title>Grafana</title><script>var x = 1;</script></head><body><p>Welcome</p></body></html>"
MANIFEST = """\
apiVersion: assistant-controller/v1
kind: Assistant
metadata: {name: poet}
spec:
  graph: writer
  config:
    configurable: {style: haiku}
"""
CONFIG = """\
apiVersion: assistant-controller/v1
kind: Config
owner: err-tests
defaultTarget: prod
targets:
  prod: {url: "%s", apiKeyEnv: PROD_KEY}
"""


def row(assistant_id: str, graph: str, metadata: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    configurable = {"style": style} if style else {}
    return {"assistant_id": assistant_id, "graph_id": graph, "name": "poet" if style else graph, "description": None,
            "config": {"configurable": configurable}, "context": configurable, "metadata": metadata, "version": 1,
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}


class FakeAgentServer(ThreadingHTTPServer):
    """Just enough of the Agent Server API for plan and apply, with faults on demand.

    ``faults`` maps ``"METHOD /path"`` to what to answer instead (see ``_fault``);
    ``page_cap`` answers 422 to a larger search limit, as Aegra does; ``info`` is what
    ``GET /info`` answers (None: 404, a server the controller does not recognise);
    ``requests`` logs ``(method, path, status)`` of every request, ``status`` 0 for a
    dropped connection.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.faults: dict[str, str] = {}
        self.page_cap = 1000
        self.info: dict[str, Any] | None = None
        self.store: dict[str, dict[str, Any]] = {system_assistant_id("writer"): row(system_assistant_id("writer"), "writer", {"created_by": "system"})}
        self.requests: list[tuple[str, str, int]] = []
        self.keys: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, path: str, status: int | None = None) -> int:
        return sum(1 for m, p, s in self.requests if m == method and p == path and status in (None, s))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are on purpose here: nothing to print."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeAgentServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _send(self, status: int, body: Any, content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)
        self.server.requests.append((self.command, self.path.split("?")[0], status))

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        path = self.path.split("?")[0]
        if self.headers.get("x-api-key"):
            self.server.keys.add(self.headers["x-api-key"])
        fault = self.server.faults.get(f"{self.command} {path}")
        if fault:
            self._fault(fault, path)
        else:
            self._api(path, body)

    def _fault(self, fault: str, path: str) -> None:
        if fault == "reset":  # close without answering, with a TCP reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            self.server.requests.append((self.command, path, 0))
            return
        key = self.headers.get("x-api-key", "")
        answers: dict[str, tuple[int, Any, str]] = {
            "html": (200, DASHBOARD, "text/html; charset=utf-8"),
            "shape": (200, {"items": [], "total": 0}, "application/json"),
            "401": (401, {"detail": f"Invalid API key {key}"}, "application/json"),  # a server that echoes the key
            "403": (403, {"detail": "Forbidden"}, "application/json"),
            "404": (404, {"detail": "Not Found"}, "application/json"),
            "502": (502, NGINX_502, "text/html"),
            "500": (500, {"detail": "duplicate key value violates unique constraint \"uq_graph_config\""}, "application/json"),
            "409": (409, {"detail": "An assistant with the same graph and config already exists"}, "application/json"),
            "400": (400, {"detail": "Bad Request"}, "application/json"),
            "405": (405, {"detail": "Method Not Allowed"}, "application/json"),
            "501": (501, "<html><head><title>Error response</title></head><body><h1>Error response</h1>"
                         "<p>Error code: 501</p><p>Message: Unsupported method ('POST').</p></body></html>", "text/html"),
        }
        status, answer, content_type = answers[fault]
        self._send(status, answer, content_type)

    def _api(self, path: str, body: dict[str, Any]) -> None:
        store, parts = self.server.store, path.strip("/").split("/")
        if self.command == "GET" and path == "/info" and self.server.info is not None:
            return self._send(200, self.server.info)
        if self.command == "POST" and path in ("/assistants/search", "/assistants/count"):
            limit = body.get("limit", 10)
            if path == "/assistants/search" and limit > self.server.page_cap:
                return self._send(422, {"detail": [{"msg": f"Input should be less than or equal to {self.server.page_cap}"}]})
            wanted = body.get("metadata") or {}
            rows = sorted((r for r in store.values() if all(r["metadata"].get(k) == v for k, v in wanted.items())),
                          key=lambda r: r["assistant_id"])
            if path == "/assistants/count":
                return self._send(200, len(rows))
            offset = body.get("offset", 0)
            return self._send(200, rows[offset:offset + limit])
        if self.command == "POST" and path == "/assistants":
            store[body["assistant_id"]] = {**row(body["assistant_id"], body["graph_id"], body["metadata"]), **body, "version": 1}
            return self._send(200, store[body["assistant_id"]])
        if len(parts) >= 2 and parts[0] == "assistants" and parts[1] in store:
            live = store[parts[1]]
            if parts[2:] == ["schemas"]:
                return self._send(200, {"graph_id": live["graph_id"], "config_schema": None, "context_schema": None})
            if parts[2:] == ["versions"]:
                return self._send(200, [live])
            if self.command == "GET" and len(parts) == 2:
                return self._send(200, live)
            if self.command == "PATCH":
                live.update(body, version=live["version"] + 1)
                return self._send(200, live)
        self._send(404, {"detail": "Not Found"})


@pytest.fixture
def server() -> Iterator[FakeAgentServer]:
    srv = FakeAgentServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off in milliseconds; no key or target leaks in from the environment."""
    defaults = dict(RemoteTarget.__init__.__kwdefaults__ or {})
    monkeypatch.setattr(RemoteTarget.__init__, "__kwdefaults__", {**defaults, "backoff_base": 0.001, "backoff_cap": 0.005})
    for name in ("PROD_KEY", "LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "CONTROLLER_TARGET"):
        monkeypatch.delenv(name, raising=False)


def project(root: Path, url: str) -> Path:
    """A folder with one manifest and a controller.yaml whose target ``prod`` is ``url`` (key in PROD_KEY)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "controller.yaml").write_text(CONFIG % url)
    (root / "poet.yaml").write_text(MANIFEST)
    return root


@pytest.fixture
def repo(tmp_path: Path, server: FakeAgentServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = project(tmp_path / "repo", server.url)
    monkeypatch.chdir(root)
    monkeypatch.setenv("PROD_KEY", KEY)
    return root


def one_error(capsys: pytest.CaptureFixture, *argv: str, prefix: str = "error: ") -> str:
    """Run the CLI expecting failure; the single stderr line, checked for what must never be there.
    (apply reports a failed action as ``! NAME: error: …``.)"""
    code, out, err = run(capsys, *argv)
    assert code == 1, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    assert "Traceback" not in err and KEY not in err and KEY not in out
    assert not re.search(r"\b(ReadError|ConnectError|JSONDecodeError|TypeError|KeyError|RemoteProtocolError)\b", err), err
    return lines[0]


# -- answers that are not the API's ---------------------------------------------------------------


def test_an_html_page_instead_of_json_is_not_an_agent_server(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.faults["POST /assistants/search"] = "html"
    line = one_error(capsys, "plan")
    assert f"{server.url} is not an Agent Server URL" in line
    assert "HTML page" in line and "Grafana" in line and "<" not in line and "var x" not in line
    assert "(targets.prod.url)" in line


def test_json_of_another_shape_is_reported_not_crashed_on(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.faults["POST /assistants/search"] = "shape"
    line = one_error(capsys, "plan")
    assert server.url in line and "unexpected answer: expected a list, got an object (keys: items, total)" in line


def test_a_404_on_the_listing_means_a_wrong_path(tmp_path: Path, server: FakeAgentServer, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project(tmp_path / "p", server.url))
    monkeypatch.setenv("PROD_KEY", KEY)
    line = one_error(capsys, "plan", "--url", f"{server.url}/api")
    assert f"{server.url}/api is not an Agent Server URL" in line and "HTTP 404" in line and "(--url)" in line
    assert server.count("POST", "/api/assistants/search") == 1  # a 404 is an answer: not retried


@pytest.mark.parametrize("status", ["400", "404", "405", "501"])
def test_an_answer_no_agent_server_gives_to_the_listing_fails_at_once(repo: Path, server: FakeAgentServer, capsys,
                                                                      status: str) -> None:
    server.faults["POST /assistants/search"] = status
    server.faults["POST /assistants/count"] = status
    line = one_error(capsys, "plan")
    assert f"{server.url} is not an Agent Server URL: POST /assistants/search answered HTTP {status}" in line
    assert "(targets.prod.url)" in line and "<" not in line and "attempts" not in line
    assert server.count("POST", "/assistants/search") <= 2  # each of the two listings asked once: never retried
    assert server.count("POST", "/assistants/count") <= 1


class PlainWebServer(ThreadingHTTPServer):
    """The stdlib's static file server, as ``python -m http.server`` runs it: GET serves
    files, POST answers 501. ``posts`` counts the POSTs it received."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        web = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                web.posts.append(self.path)
                self.send_error(501, f"Unsupported method ({self.command!r})")

        super().__init__(("127.0.0.1", 0), Handler)
        self.posts: list[str] = []


def test_a_plain_web_server_is_not_an_agent_server_and_is_asked_once(tmp_path: Path, capsys, monkeypatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body>my homepage</body></html>")
    web = PlainWebServer(site)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{web.server_address[1]}"
    try:
        monkeypatch.chdir(project(tmp_path / "p", "http://127.0.0.1:9"))
        line = one_error(capsys, "plan", "--url", url)
    finally:
        web.shutdown()
        web.server_close()
    assert line.startswith(f"error: {url} is not an Agent Server URL: POST /assistants/search answered HTTP 501")
    assert "Unsupported method ('POST')" in line and line.endswith("(--url)") and "<" not in line
    assert web.posts.count("/assistants/search") <= 2 and web.posts.count("/assistants/count") <= 1  # none retried


def test_https_to_a_plain_http_port_says_to_use_http(repo: Path, server: FakeAgentServer, capsys, caplog) -> None:
    url = server.url.replace("http://", "https://")
    with caplog.at_level(logging.DEBUG, logger="controller.targets.remote"):
        line = one_error(capsys, "plan", "--url", url)
    assert line == f"error: cannot connect to {url}: the server speaks plain HTTP: use {server.url} (--url)"
    assert not [r for r in caplog.records if r.getMessage().startswith("retrying")]  # a handshake is not retried
    assert server.requests == []  # no request was ever understood as one


@pytest.mark.parametrize("url", ["127.0.0.1:2024", "agents.example.com"])
def test_a_url_without_a_scheme_fails_before_any_request(tmp_path: Path, capsys, monkeypatch, url: str) -> None:
    monkeypatch.chdir(project(tmp_path / "p", "http://127.0.0.1:9"))  # (controller.yaml's urls are validated on load)
    line = one_error(capsys, "plan", "--url", url)
    assert f"{url} is not an Agent Server URL: it needs http:// or https://" in line and "(--url)" in line


# -- the key --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_rejected_key_names_its_variable_never_its_value(repo: Path, server: FakeAgentServer, capsys, status: str) -> None:
    server.faults["POST /assistants/search"] = status
    line = one_error(capsys, "plan")
    assert server.url in line and f"the server rejected the API key from PROD_KEY (HTTP {status}" in line
    assert server.keys == {KEY}  # it was sent, and only as the header
    assert server.count("POST", "/assistants/search") <= 2  # not retried (two listings run side by side)


def test_no_key_at_all_says_so(tmp_path: Path, server: FakeAgentServer, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project(tmp_path / "p", "http://127.0.0.1:9"))  # --url is then an ad-hoc target: no apiKeyEnv
    server.faults["POST /assistants/search"] = "401"
    line = one_error(capsys, "plan", "--url", server.url)
    assert "the server requires an API key and none was sent" in line and server.keys == set()


def test_an_unset_key_variable_fails_before_any_request(repo: Path, server: FakeAgentServer, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PROD_KEY")
    monkeypatch.setenv("LANGSMITH_API_KEY", "sk-other")  # a named variable has no fallback
    line = one_error(capsys, "plan")
    assert line == "error: PROD_KEY (targets.prod.apiKeyEnv) is not set"
    assert server.requests == []


# -- the network ----------------------------------------------------------------------------------


def test_a_gateway_502_page_is_retried_then_shown_as_text(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.faults["POST /assistants/search"] = "502"
    line = one_error(capsys, "plan")
    assert server.url in line and "gave up after 6 attempts: HTTP 502: 502 Bad Gateway nginx/1.25.3" in line
    assert "<" not in line


def test_a_connection_reset_says_so(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.faults["POST /assistants/search"] = "reset"
    line = one_error(capsys, "plan")
    assert server.url in line and "POST /assistants/search" in line
    assert re.search(r"gave up after 6 attempts: the connection was reset|the server closed the connection without answering", line), line
    assert server.count("POST", "/assistants/search", 0) >= 6  # a read may be repeated


def test_connection_refused_asks_whether_the_server_runs(tmp_path: Path, capsys, monkeypatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.chdir(project(tmp_path / "p", url))
    monkeypatch.setenv("PROD_KEY", KEY)
    line = one_error(capsys, "plan")
    assert line.startswith(f"error: cannot connect to {url}: is the server running? (targets.prod.url)")
    assert "connection refused" in line
    monkeypatch.chdir(project(tmp_path / "q", "http://127.0.0.1:9"))  # the URL is no target's: ad hoc, from --url
    line = one_error(capsys, "plan", "--url", url)
    assert line.startswith(f"error: cannot connect to {url}: is the server running? (--url)")


def test_a_host_that_does_not_resolve_fails_at_once(tmp_path: Path, capsys, monkeypatch, caplog) -> None:
    url = "http://agent-server.invalid:2024"
    monkeypatch.chdir(project(tmp_path / "p", url))
    monkeypatch.setenv("PROD_KEY", KEY)
    with caplog.at_level(logging.DEBUG, logger="controller.targets.remote"):
        line = one_error(capsys, "plan")
    assert line.startswith(f"error: cannot connect to {url}: is the server running? (targets.prod.url); cannot resolve host agent-server.invalid")
    assert "attempts" not in line
    assert not [r for r in caplog.records if r.getMessage().startswith("retrying")]  # no retry at all


# -- Aegra ----------------------------------------------------------------------------------------


AEGRA_INFO = {"name": "Aegra", "version": "0.11.0", "description": "Production-ready Agent Protocol server built on LangGraph",
              "status": "running", "flags": {"assistants": True, "crons": False}}
AGENT_SERVER_INFO = {"version": "0.16.7", "langgraph_py_version": "1.2.22", "flags": {"assistants": True},
                     "host": {"kind": "self-hosted"}}


def test_a_server_that_says_it_is_aegra_is_never_asked_for_a_page_it_refuses(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.page_cap, server.info = 100, AEGRA_INFO
    for _ in range(3):  # three commands in one process, each with listings side by side
        code, out, err = run(capsys, "plan")
        assert code == 0, out + err
        assert "Plan: 1 to create" in out
    assert server.count("POST", "/assistants/search", 422) == 0
    listed = server.count("POST", "/assistants/search", 200)
    assert listed >= 3 and listed % 3 == 0  # the same listings in each command
    assert server.count("GET", "/info") == 3  # each command's target asks once


def test_an_unknown_servers_page_cap_is_learnt_once_per_command(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.page_cap = 100  # and no /info: a server the controller does not recognise
    for _ in range(3):
        code, out, err = run(capsys, "plan")
        assert code == 0, out + err
        assert "Plan: 1 to create" in out
    assert server.count("POST", "/assistants/search", 422) == 3  # one per command, though each lists more than once
    assert server.count("POST", "/assistants/search", 200) >= 6


def test_a_server_replaced_at_its_url_is_recognised_again(repo: Path, server: FakeAgentServer, capsys) -> None:
    """Each target asks the server what it is (a long-running watch opens a new target after
    a failure): another implementation at the same URL gets its own profile, not a stale one."""
    server.info = AGENT_SERVER_INFO
    assert run(capsys, "plan")[0] == 0
    server.info, server.page_cap = AEGRA_INFO, 100
    code, out, err = run(capsys, "plan")
    assert code == 0 and "Plan: 1 to create" in out, out + err
    assert server.count("POST", "/assistants/search", 422) == 0


def test_a_500_to_a_patch_is_an_answer_and_is_not_sent_again(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.store[POET] = row(POET, "writer", {OWNER_KEY: OWNER, NAME_KEY: "poet"}, style="limerick")
    server.faults[f"PATCH /assistants/{POET}"] = "500"
    line = one_error(capsys, "apply", "--auto-approve", "--no-smoke", prefix="! poet: error: ")
    assert f"{server.url}: PATCH /assistants/{POET}: the server answered HTTP 500: duplicate key value" in line
    assert server.count("PATCH", f"/assistants/{POET}") == 1


def test_a_duplicate_refused_with_409_is_not_called_existing(repo: Path, server: FakeAgentServer, capsys) -> None:
    server.faults["POST /assistants"] = "409"
    line = one_error(capsys, "apply", "--auto-approve", "--no-smoke", prefix="! poet: error: ")
    assert "already exists on" not in line
    assert f"POST /assistants (assistant {POET}): the server refused it as a duplicate" in line
    assert "An assistant with the same graph and config already exists" in line  # its own words, quoted
    assert server.count("POST", "/assistants") == 1 and server.count("GET", f"/assistants/{POET}") >= 1


def test_an_unreadable_schema_is_retried_then_warned_about(repo: Path, server: FakeAgentServer, capsys) -> None:
    schemas = f"/assistants/{system_assistant_id('writer')}/schemas"
    server.faults[f"GET {schemas}"] = "502"
    code, out, err = run(capsys, "plan")
    assert code == 0, out + err
    assert "Plan: 1 to create" in out
    shown = out + err
    assert "config was not checked against this graph's schema" in shown and "'writer'" in shown
    assert server.count("GET", schemas) == 6  # retried like any read
    assert KEY not in shown
