"""Run Aegra (an open-source Agent Server on PostgreSQL) for integration tests.

Why this shape:
- aegra-api needs Python >= 3.12 and the project runs on 3.11, so Aegra lives in its
  own venv (``AEGRA_VENV``, default ``<repo>/.aegra-venv``), made on first use and
  reused while it holds the pinned version;
- every session gets a fresh PostgreSQL cluster (``initdb`` in a temp dir, loopback
  port, unix sockets in that dir), so no test depends on a database someone else set
  up. ``postgres`` refuses to run as root, so as root the cluster belongs to the
  ``postgres`` user (else ``nobody``) and the server runs under that uid;
- Aegra runs its alembic migrations during start-up and serves only afterwards, and
  ``GET /ready`` answers 200 once the database, checkpointer and store respond: that
  is the readiness probe;
- like ``langgraph dev`` it resolves graph paths against a ``langgraph.json``, so it
  serves a private copy of the test project; ``stop()``/``start()`` keep the cluster
  and the port, so a restart reloads the same state at the same URL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from server import ANSI, ServerFailed, free_port, interrupt  # tests/ is on sys.path (pyproject: pythonpath)

AEGRA_VERSION = "0.11.0"  # the release these tests were written against
REPO = Path(__file__).resolve().parent.parent
DB_USER = "aegra"
DB_NAME = "aegra"
# Aegra reads its settings from the environment (no .env is loaded by aegra-api).
# Cron, Redis and telemetry are off: the tests need none of them, and each is a
# background loop on a 2-core machine.
AEGRA_ENV = {
    "AUTH_TYPE": "noop",
    "REDIS_BROKER_ENABLED": "false",
    "CRON_ENABLED": "false",
    "OTEL_TARGETS": "",
    "ENABLE_PROMETHEUS_METRICS": "false",
    "RUN_MIGRATIONS_ON_STARTUP": "true",
    "LOG_LEVEL": "WARNING",
    "LANGSMITH_TRACING": "false",
}
# Durability does not matter for a throw-away cluster; speed does.
PG_FAST = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def aegra_venv_path() -> Path:
    return Path(os.environ.get("AEGRA_VENV") or REPO / ".aegra-venv")


def python312() -> str | None:
    """A Python 3.12 interpreter: on PATH (if it runs: a pyenv shim may not), else pyenv's."""
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    try:
        roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    for root in filter(None, roots):
        for candidate in sorted(glob.glob(f"{root}/versions/3.12*/bin/python3.12"), reverse=True):
            return candidate
    return None


def installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('aegra-api'))"],
        capture_output=True, text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_aegra_venv(venv: Path | None = None) -> Path:
    """The venv's python, with ``aegra-api==AEGRA_VERSION``; made or upgraded when needed."""
    venv = venv or aegra_venv_path()
    python = venv / "bin" / "python"
    if installed_version(python) == AEGRA_VERSION:
        return python
    if not python.exists():
        base = python312()
        if base is None:
            raise ServerFailed("no Python 3.12 found (aegra-api needs >= 3.12): install one or set AEGRA_VENV")
        made = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            raise ServerFailed(f"could not create {venv}:\n{made.stderr[-2000:]}")
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"aegra-api=={AEGRA_VERSION}"],
        capture_output=True, text=True,
    )
    if pip.returncode != 0 or installed_version(python) != AEGRA_VERSION:
        raise ServerFailed(f"could not install aegra-api=={AEGRA_VERSION} into {venv}:\n{pip.stderr[-2000:]}")
    return python


def postgres_bindir() -> Path | None:
    """Where ``initdb`` lives: on PATH, else Debian's /usr/lib/postgresql/<major>/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name or 0))
    return Path(dirs[-1]) if dirs else None


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as when we are root (it refuses uid 0); None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerFailed("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class Postgres:
    """A throw-away PostgreSQL cluster on a loopback port; sockets stay in its directory."""

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise ServerFailed("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bindir = bindir
        self.user = unprivileged_user()
        # Not under pytest's tmp dir: that is 0700 root, which the postgres user cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="aegra-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def _as_owner(self) -> dict:
        return {} if self.user is None else {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if not self.data.exists():
            made = subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", DB_USER, "--auth=trust",
                 "-E", "UTF8", "--no-locale", "--no-sync"],
                capture_output=True, text=True, cwd=self.root, **self._as_owner(),
            )
            if made.returncode != 0:
                raise ServerFailed(f"initdb failed ({made.returncode}):\n{(made.stdout + made.stderr)[-2000:]}")
            fresh = True
        else:
            fresh = False
        self.port = self.port or free_port()
        log = open(self.log_path, "ab")  # noqa: SIM115 - held by the server process
        try:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}", *PG_FAST],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **self._as_owner(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"postgres exited with {self.proc.returncode}\n{self.log_tail()}")
            ready = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)])
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise ServerFailed(f"postgres not ready after {timeout:g}s\n{self.log_tail()}")
        if fresh:
            made = subprocess.run(
                [str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, DB_NAME],
                capture_output=True, text=True,
            )
            if made.returncode != 0:
                raise ServerFailed(f"createdb failed: {made.stderr.strip()}\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT): open sessions are ended, the data stays for a restart."""
        proc, self.proc = self.proc, None
        interrupt(proc, timeout)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return "(no postgres log)"


class AegraServer:
    """One Aegra process (uvicorn) on its own PostgreSQL, serving a private copy of ``source``."""

    def __init__(self, source: Path, workdir: Path):
        self.project_dir = workdir / "project"
        self.log_path = workdir / "aegra.log"
        shutil.copytree(source, self.project_dir, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
        self.url = ""
        self.port: int | None = None  # kept across restarts, so the URL a test holds stays valid
        self.proc: subprocess.Popen[bytes] | None = None
        self.postgres: Postgres | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Venv, cluster, then Aegra; waits for ``GET /ready``. Raises ServerFailed with the log's tail."""
        python = ensure_aegra_venv()
        if self.postgres is None:
            self.postgres = Postgres()
        self.postgres.start()
        port = self.port or free_port()
        env = {
            **os.environ, **AEGRA_ENV,
            "DATABASE_URL": self.postgres.url,
            "AEGRA_CONFIG": str(self.project_dir / "langgraph.json"),
            "HOST": "127.0.0.1", "PORT": str(port),
        }
        for inherited in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB",
                          "REDIS_URL", "AEGRA_THREAD_TTL", "LANGGRAPH_THREAD_TTL", "SERVER_URL"):
            env.pop(inherited, None)  # an outer setting must not point Aegra elsewhere
        log = open(self.log_path, "ab")  # noqa: SIM115 - held by the server process
        try:
            self.proc = subprocess.Popen(
                [str(python), "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1", "--port", str(port),
                 "--no-access-log"],
                cwd=self.project_dir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"aegra exited with {self.proc.returncode}\n{self.log_tail()}")
            if self._ready():
                self.port = port
                return
            time.sleep(0.2)
        self.stop()
        raise ServerFailed(f"aegra not ready after {timeout:g}s\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop (SIGINT) of Aegra, then of PostgreSQL; the cluster is kept for ``start()``."""
        proc, self.proc = self.proc, None
        interrupt(proc, timeout)
        if self.postgres is not None:
            self.postgres.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop everything and delete the cluster."""
        self.stop()
        if self.postgres is not None:
            self.postgres.remove()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = ANSI.sub("", self.log_path.read_text("utf-8", "replace"))
            tail = "\n".join(text.splitlines()[-lines:])
        except OSError:
            tail = "(no aegra log)"
        if self.postgres is not None and (self.postgres.proc is None or self.postgres.proc.poll() is not None):
            tail += f"\n-- postgres --\n{self.postgres.log_tail()}"
        return tail
