"""Shared fixtures: the real Agent Server and Aegra (one each per session) and per-test owners."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from aegra import AegraServer
from helpers import unavailable
from remote_servers import server_named
from server import AgentServer, ServerFailed  # tests/ is on sys.path (pyproject: pythonpath)

FIXTURE_PROJECT = Path(__file__).parent / "fixtures" / "project"
EXAMPLE_GRAPHS = Path(__file__).parent.parent / "manifests" / "graphs"
S = TypeVar("S", AgentServer, AegraServer)


def _serve(server: S, end: Callable[[], None], failed: str) -> Iterator[S]:
    """Start ``server`` for the session, ``end`` it after. Under CI a server that cannot start
    fails the run (a skipped integration suite would look green); locally it skips."""
    try:
        server.start()
    except ServerFailed as exc:
        end()
        unavailable(f"{failed}: {exc}")
    yield server
    end()


@pytest.fixture(scope="session")
def test_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/project (boom, slow, messages, agent) plus the example's own writer, chat,
    faq and grader graphs: both targets serve the same graphs the README's example uses."""
    folder = tmp_path_factory.mktemp("fixture") / "project"
    shutil.copytree(FIXTURE_PROJECT, folder)
    for name in ("writer.py", "chat.py", "faq.py", "grader.py"):
        shutil.copy(EXAMPLE_GRAPHS / name, folder / "graphs" / name)
    return folder


@pytest.fixture(scope="session")
def agent_server(tmp_path_factory: pytest.TempPathFactory, test_project: Path) -> Iterator[AgentServer]:
    """``langgraph dev`` serving a fresh copy of tests/fixtures/project (writer, chat, boom, slow).

    Tests share it and isolate by owner. Under CI a server that cannot start fails the
    run; locally it skips (``_serve``).
    """
    server = AgentServer(test_project, tmp_path_factory.mktemp("agent-server"))
    yield from _serve(server, server.stop, "the Agent Server (langgraph dev) did not start")


PARITY_PROJECT = Path(__file__).parent / "fixtures" / "parity"


@pytest.fixture(scope="session")
def parity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentServer]:
    """``langgraph dev`` serving a fresh copy of tests/fixtures/parity (template-style graphs,
    a ``.env``, a store with an index): the reference the embedded target must match.
    Same CI rule: fail under CI, skip locally."""
    server = AgentServer(PARITY_PROJECT, tmp_path_factory.mktemp("parity-server"))
    yield from _serve(server, server.stop, "the Agent Server (langgraph dev) did not start for the parity project")


@pytest.fixture(scope="session")
def aegra_server(tmp_path_factory: pytest.TempPathFactory, test_project: Path) -> Iterator[AegraServer]:
    """Aegra (aegra-api in its own Python 3.12 venv) on a fresh PostgreSQL cluster, serving
    the same graphs as ``agent_server``. Same CI rule: fail under CI, skip locally."""
    server = AegraServer(test_project, tmp_path_factory.mktemp("aegra"))
    yield from _serve(server, server.close, "Aegra did not start")


REMOTE_SERVERS = ["langgraph-dev", pytest.param("aegra", marks=pytest.mark.aegra)]


@pytest.fixture(params=REMOTE_SERVERS)
def remote_server(request: pytest.FixtureRequest) -> AgentServer | AegraServer:
    """Each remote test runs once per Agent Server implementation: ``langgraph dev`` and Aegra."""
    return server_named(request, request.param)


@pytest.fixture
def owner() -> str:
    """A unique controller owner: tests sharing one server never see each other's assistants."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project outside git (cwd), with no MODEL or SIGNATURE set."""
    from helpers import example_repo

    root = example_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    for name in ("MODEL", "SIGNATURE", "CONTROLLER_TARGET", "CONTROLLER_OWNER"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree holding a copy of the example project; cwd is its root, and no
    variable a user might have set (MODEL, CONTROLLER_TARGET, ...) leaks into the test."""
    from helpers import example_repo, git_init

    root = example_repo(tmp_path / "repo")
    git_init(root)
    monkeypatch.chdir(root)
    for name in ("MODEL", "SIGNATURE", "CONTROLLER_TARGET", "CONTROLLER_OWNER", "NEEDED_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return root
