"""Run the real Agent Server (``langgraph dev``) for integration tests.

Why this shape (docs/servers.md, "Running the real server in tests"):
- the server resolves graph paths against its CWD and persists state into
  ``.langgraph_api/`` there, so it runs from a fresh temporary *copy* of the test
  project; ``stop()``/``start()`` keep that copy, so a restart reloads the state;
- it silently moves to another port when the chosen one is taken, so the real URL
  is parsed from the ``API:`` line of its log (after stripping ANSI colours);
- it answers ``GET /ok`` only once graphs are registered, which is our readiness probe;
- the log lives outside the copy, so it never lands in what the server watches.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
API_LINE = re.compile(r"API:\s*(https?://\S+)")
SERVER_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
}


class ServerFailed(RuntimeError):
    """The server did not come up; the message ends with the tail of its log."""


def langgraph_executable() -> str | None:
    """The CLI of the interpreter running the tests (its venv), else whatever is on PATH."""
    beside = Path(sys.executable).parent / "langgraph"
    return str(beside) if beside.exists() else shutil.which("langgraph")


def interrupt(proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """SIGINT (a graceful stop for both servers and PostgreSQL), then SIGKILL after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AgentServer:
    """One ``langgraph dev`` process serving a private copy of ``source``."""

    def __init__(self, source: Path, workdir: Path, *, n_jobs: int = 4):
        self.project_dir = workdir / "project"
        self.log_path = workdir / "server.log"
        shutil.copytree(source, self.project_dir, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
        self.n_jobs = n_jobs
        self.url = ""
        self.port: int | None = None  # kept across restarts, so the URL a test holds stays valid
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Launch and wait for ``GET /ok``; raises ServerFailed with the log's tail."""
        exe = langgraph_executable()
        if exe is None:
            raise ServerFailed("no langgraph executable (install langgraph-cli[inmem])")
        port = self.port or free_port()
        env = {**os.environ, **SERVER_ENV}
        log = open(self.log_path, "ab")  # appended across restarts; parsing starts at `offset`  # noqa: SIM115 - held by the server process
        offset = log.tell()
        try:
            self.proc = subprocess.Popen(
                [exe, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port),
                 "--n-jobs-per-worker", str(self.n_jobs)],
                cwd=self.project_dir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        self.url = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"langgraph dev exited with {self.proc.returncode}\n{self.log_tail()}")
            if not self.url:
                self.url = self._api_url(offset)
            if self.url and self._ok():
                self.port = httpx.URL(self.url).port
                return
            time.sleep(0.2)
        self.stop()
        raise ServerFailed(f"langgraph dev not ready after {timeout:g}s\n{self.log_tail()}")

    def _api_url(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            text = ANSI.sub("", f.read().decode("utf-8", "replace"))
        m = API_LINE.search(text)
        return m.group(1).rstrip("/") if m else ""

    def _ok(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ok", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop (SIGINT): the server flushes its state to ``.langgraph_api/``."""
        proc, self.proc = self.proc, None
        interrupt(proc, timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(ANSI.sub("", text).splitlines()[-lines:])
