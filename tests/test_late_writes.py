"""No silent late writes: a PATCH held past the client's timeout, then delivered anyway.

A proxy on loopback (tests/holding_proxy.py) sits in front of the real ``langgraph dev``
and holds the next PATCH for a few seconds. The target's ``writeTimeout`` is 2 s, so it
watches a timed-out write for 4 s more (twice the timeout): a write held 3 s lands inside
that window, one held 9 s after it. The server is read directly, never through the proxy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import TWEET, edit, remote_project, run
from holding_proxy import HoldingProxy

from controller.core.content import WRITE_KEY, assistant_id_for

pytestmark = pytest.mark.server

WRITE_TIMEOUT = 2  # seconds; the settle window is twice that
LANDS_IN_WINDOW = 3.0  # held this long: lands while apply is still watching for it
LANDS_AFTER_WINDOW = 9.0  # held this long: apply has given up on knowing by then
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class NextPatch:
    """The proxy's rule: hold the next PATCH (only that one) for ``seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, method: str, path: str) -> float:
        if method != "PATCH":
            return 0.0
        seconds, self.seconds = self.seconds, 0.0
        return seconds


@pytest.fixture
def hold() -> NextPatch:
    return NextPatch()


@pytest.fixture
def proxy(agent_server: Any, hold: NextPatch) -> Any:
    with HoldingProxy(agent_server.url, hold) as proxy:
        yield proxy


@pytest.fixture
def repo(tmp_path: Path, owner: str, proxy: HoldingProxy, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Path:
    """The example, owned by this test, its dev-server target reached through the proxy, applied once."""
    root = remote_project(tmp_path / "repo", owner, proxy.url, monkeypatch, extra=f"\n    writeTimeout: {WRITE_TIMEOUT}")
    code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0, out + err
    return root


def history(server: Any, assistant_id: str) -> list[tuple[int, str, str | None]]:
    """(version, style, write id) of every version, oldest first, read from the server itself."""
    rows = httpx.post(f"{server.url}/assistants/{assistant_id}/versions", json={"limit": 100}).json()
    return sorted((r["version"], r["config"]["configurable"]["style"], r["metadata"].get(WRITE_KEY)) for r in rows)


def apply(capsys: Any) -> tuple[int, str, str]:
    return run(capsys, "apply", ".", "--auto-approve", "--no-smoke")


def test_a_held_write_seen_landing_within_the_window_is_one_version_and_exit_0(
        repo: Path, owner: str, agent_server: Any, proxy: HoldingProxy, hold: NextPatch, capsys: Any) -> None:
    tweet = assistant_id_for(owner, "tweet-writer")
    edit(TWEET, "style: tweet", "style: plain")
    hold.seconds = LANDS_IN_WINDOW
    code, out, err = apply(capsys)
    assert code == 0, out + err
    assert "~ tweet-writer: updated (v1 → v2)" in out
    assert proxy.wait_landed()
    assert [(v, style) for v, style, _ in history(agent_server, tweet)] == [(1, "tweet"), (2, "plain")]  # one version
    assert len([r for r in proxy.requests if r.method == "PATCH"]) == 1  # never sent twice
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0  # the write id is no difference


def test_a_write_not_seen_within_the_window_fails_naming_it_and_is_never_sent_again(
        repo: Path, owner: str, agent_server: Any, proxy: HoldingProxy, hold: NextPatch, capsys: Any) -> None:
    tweet = assistant_id_for(owner, "tweet-writer")
    edit(TWEET, "style: tweet", "style: plain")
    hold.seconds = LANDS_AFTER_WINDOW
    code, out, err = apply(capsys)
    assert code == 1, out + err
    (line,) = [line for line in err.splitlines() if "may still land" in line]
    found = re.search(rf"tweet-writer: the write ({UUID}) to assistant {tweet} timed out", line)
    assert found, line
    assert history(agent_server, tweet)[-1][0] == 1  # exited before it landed
    assert proxy.wait_landed()
    # It landed later, once: the very write the message named, and nothing was sent twice.
    assert history(agent_server, tweet) == [(1, "tweet", None), (2, "plain", found.group(1))]
    assert len([r for r in proxy.requests if r.method == "PATCH"]) == 1
    code, out, _ = run(capsys, "plan", ".", "--detailed-exitcode")
    assert code == 0 and "No changes" in out  # what landed is what was meant


def test_an_older_attempt_landing_after_a_newer_apply_is_drift_the_next_plan_repairs(
        repo: Path, owner: str, agent_server: Any, proxy: HoldingProxy, hold: NextPatch, capsys: Any) -> None:
    tweet = assistant_id_for(owner, "tweet-writer")
    edit(TWEET, "style: tweet", "style: old")
    hold.seconds = LANDS_AFTER_WINDOW
    code, out, err = apply(capsys)
    assert code == 1 and "may still land" in err, out + err  # not 0: its write may still land
    edit(TWEET, "style: old", "style: new")
    code, out, err = apply(capsys)  # a newer apply meanwhile
    assert code == 0, out + err
    assert proxy.wait_landed()  # the older edit lands last
    assert [(v, style) for v, style, _ in history(agent_server, tweet)] == [(1, "tweet"), (2, "new"), (3, "old")]
    code, out, _ = run(capsys, "plan", ".", "--detailed-exitcode")
    assert code == 2 and 'config.configurable.style: "old" → "new"' in out, out
    assert WRITE_KEY not in out  # never shown
    code, out, err = apply(capsys)
    assert code == 0, out + err
    assert [(v, style) for v, style, _ in history(agent_server, tweet)][-1] == (4, "new")
    assert run(capsys, "plan", ".", "--detailed-exitcode")[0] == 0
