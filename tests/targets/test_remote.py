"""The remote target under faults: retries converge without duplicates, PATCH is never
repeated blindly, and errors are one clear line that never carries the API key.

Faults are injected by a transport that either answers for the server (503, 429) or
forwards to the real server and then loses the answer (the case that makes naive
retries duplicate writes). Paging is checked against a small in-memory fake. Last, a
PATCH held past the client's timeout by a proxy, then delivered anyway: no silent late write.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from helpers import TWEET, edit, remote_project, run
from holding_proxy import HoldingProxy

from controller.core.content import (
    NAME_KEY,
    OWNER_KEY,
    WRITE_KEY,
    Content,
    assistant_id_for,
    mirrored,
    same_content,
)
from controller.core.errors import Conflict, TargetError, UncertainWrite
from controller.targets.remote import RemoteTarget

KEY = "sk-secret-123"
FAST = {"backoff_base": 0.001, "backoff_cap": 0.01}
T = TypeVar("T")
Decide = Callable[[httpx.Request, int], "str | None"]


def arun(fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await fn()

    return asyncio.run(main())


def writer(owner: str, name: str, style: str = "blog") -> Content:
    config, context = mirrored({"configurable": {"style": style}, "tags": ["t"]}, {})
    return Content("writer", name, None, config, context, {OWNER_KEY: owner, NAME_KEY: name})


def chat(owner: str, name: str) -> Content:
    config, context = mirrored({}, {"persona": name})
    return Content("chat", name, "a bot", config, context, {OWNER_KEY: owner, NAME_KEY: name})


class FaultyTransport(httpx.AsyncBaseTransport):
    """Forwards to ``inner`` but lets ``decide(request, n)`` inject a fault into the n-th request:

    - ``refused``: connection refused, the server never saw the request;
    - ``503`` / ``429``: answered here (429 with ``Retry-After: 0``), the server never saw it;
    - ``lost``: forwarded and processed, then the connection resets before the answer arrives.
    """

    def __init__(self, decide: Decide, inner: httpx.AsyncBaseTransport | None = None):
        self.decide = decide
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.calls: list[tuple[str, str, str | None]] = []
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.decide(request, len(self.calls))
        self.calls.append((request.method, request.url.path, fault))
        self.headers.append(request.headers)
        if fault == "refused":
            raise httpx.ConnectError("injected: [Errno 111] Connection refused", request=request)
        if fault == "503":
            return httpx.Response(503, json={"detail": "injected: unavailable"}, request=request)
        if fault == "429":
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "injected: slow down"}, request=request)
        response = await self.inner.handle_async_request(request)
        if fault == "lost":
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("injected: connection reset by peer", request=request)
        return response

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.calls if m == method and p == path)

    async def aclose(self) -> None:
        await self.inner.aclose()


def seeded(seed: int, rate: float) -> Decide:
    """Random faults on assistant requests (runs are never retried, so never faulted here)."""
    rng = random.Random(seed)

    def decide(request: httpx.Request, n: int) -> str | None:
        if not request.url.path.startswith("/assistants") or rng.random() >= rate:
            return None
        return rng.choice(["refused", "503", "429", "lost"])

    return decide


def on(method: str, path_part: str, faults: list[str | None]) -> Decide:
    """The listed faults, in order, for requests matching ``method`` and ``path_part``."""
    queue = list(faults)

    def decide(request: httpx.Request, n: int) -> str | None:
        if request.method == method and path_part in request.url.path and queue:
            return queue.pop(0)
        return None

    return decide


# -- against the real server ------------------------------------------------------------------


@pytest.mark.server
def test_reads_and_creates_converge_under_random_faults(agent_server: Any, owner: str) -> None:
    contents = {assistant_id_for(owner, f"a{i}"): (writer if i % 2 else chat)(owner, f"a{i}") for i in range(16)}
    transport = FaultyTransport(seeded(seed=20261124, rate=0.35))
    faulty = RemoteTarget(agent_server.url, KEY, transport=transport, retries=12, concurrency=4, **FAST)
    clean = RemoteTarget(agent_server.url)

    async def body() -> None:
        created = await asyncio.gather(*(faulty.create(i, c) for i, c in contents.items()))
        assert all(s.version == 1 for s in created)
        repinned = await asyncio.gather(*(faulty.set_active(i, 1) for i in contents))
        assert all(s.version == 1 for s in repinned)
        listed = await faulty.list_assistants({OWNER_KEY: owner})
        assert [a.assistant_id for a in listed] == sorted(contents)
        for state in await asyncio.gather(*(faulty.get(i, versions=True) for i in contents)):
            assert state is not None and state.version == 1
            assert [v.number for v in state.versions or ()] == [1]  # no duplicate create, no extra version
            assert same_content(state.content, contents[state.assistant_id])
        assert set(await faulty.graphs()) >= {"writer", "chat", "boom", "slow"}

        gone = sorted(contents)[:8]
        await asyncio.gather(*(faulty.delete(i) for i in gone))
        await asyncio.gather(*(faulty.delete(i) for i in gone))  # again: already gone is fine
        truth = await clean.list_assistants({OWNER_KEY: owner})
        assert [a.assistant_id for a in truth] == sorted(contents)[8:]
        await faulty.aclose()
        await clean.aclose()

    arun(body)
    injected = Counter(f for _, _, f in transport.calls if f)
    assert set(injected) == {"refused", "503", "429", "lost"}, injected
    assert transport.count("POST", "/assistants") > len(contents)  # creates really were retried
    assert all(h.get("x-api-key") == KEY for h in transport.headers)


@pytest.mark.server
def test_lost_create_answer_is_not_a_conflict(agent_server: Any, owner: str) -> None:
    aid, content = assistant_id_for(owner, "a"), writer(owner, "a")
    transport = FaultyTransport(on("POST", "/assistants", ["lost", "503"]))
    target = RemoteTarget(agent_server.url, transport=transport, **FAST)

    async def body() -> None:
        state = await target.create(aid, content)  # landed, answer lost; retry meets 409: it is ours
        assert state.version == 1 and same_content(state.content, content)
        with pytest.raises(Conflict):  # a fresh create of an existing id still conflicts
            await target.create(aid, content)
        got = await target.get(aid, versions=True)
        assert got is not None and len(got.versions or ()) == 1
        await target.aclose()

    arun(body)
    assert transport.count("POST", "/assistants") == 4


@pytest.mark.server
@pytest.mark.parametrize("fault", ["lost", "503"])
def test_patch_that_may_have_landed_raises_uncertain_write(agent_server: Any, owner: str, fault: str) -> None:
    aid = assistant_id_for(owner, "a")
    transport = FaultyTransport(on("PATCH", "/assistants/", [fault]))
    target = RemoteTarget(agent_server.url, KEY, transport=transport, **FAST)

    async def body() -> None:
        await target.create(aid, writer(owner, "a"))
        with pytest.raises(UncertainWrite) as caught:
            await target.update(aid, writer(owner, "a", style="tweet"))
        assert f"PATCH /assistants/{aid}" in str(caught.value)
        assert KEY not in str(caught.value) and KEY not in repr(caught.value)
        got = await target.get(aid, versions=True)
        assert got is not None and got.version == (2 if fault == "lost" else 1)  # landed once, or not at all
        await target.aclose()

    arun(body)
    assert transport.count("PATCH", f"/assistants/{aid}") == 1  # never repeated


@pytest.mark.server
@pytest.mark.parametrize("fault", ["refused", "429"])
def test_patch_that_never_reached_the_server_is_retried(agent_server: Any, owner: str, fault: str) -> None:
    aid = assistant_id_for(owner, "a")
    transport = FaultyTransport(on("PATCH", "/assistants/", [fault, fault]))
    target = RemoteTarget(agent_server.url, transport=transport, **FAST)

    async def body() -> None:
        await target.create(aid, writer(owner, "a"))
        state = await target.update(aid, writer(owner, "a", style="tweet"))
        assert state.version == 2
        got = await target.get(aid, versions=True)
        assert got is not None and [v.number for v in got.versions or ()] == [2, 1]
        await target.aclose()

    arun(body)
    assert transport.count("PATCH", f"/assistants/{aid}") == 3


@pytest.mark.server
def test_server_restart_keeps_state_and_the_target_reconnects(agent_server: Any, owner: str) -> None:
    """A restart (same working copy) reloads assistants; pooled connections to the old
    process are dead, which the target must absorb like any other transient fault."""
    aid, content = assistant_id_for(owner, "a"), writer(owner, "a")
    target = RemoteTarget(agent_server.url, retries=8, backoff_base=0.05, backoff_cap=0.5)

    async def body() -> None:
        await target.create(aid, content)
        await target.update(aid, writer(owner, "a", style="tweet"))
        agent_server.stop()
        try:
            with pytest.raises(TargetError, match="cannot connect to .*: is the server running"):
                await target.get(aid)
        finally:
            agent_server.start()
        got = await target.get(aid, versions=True)
        assert got is not None and got.version == 2 and [v.number for v in got.versions or ()] == [2, 1]
        await target.aclose()

    url = agent_server.url
    arun(body)
    assert agent_server.url == url  # same port after a restart


# -- no server needed ---------------------------------------------------------------------------


def _always(status: int, detail: str = "injected", headers: dict[str, str] | None = None) -> httpx.MockTransport:
    """Every request answered ``status``, but ``GET /info``: a server the target does not recognise."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/info":
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(status, json={"detail": detail}, headers=headers or {})

    return httpx.MockTransport(handler)


def test_giving_up_names_the_request_and_hides_the_key() -> None:
    aid = "11111111-1111-4111-8111-111111111111"
    target = RemoteTarget("http://agents.test", KEY, transport=_always(503), retries=3, **FAST)
    assert KEY not in repr(target) and KEY not in target.url

    async def body() -> None:
        with pytest.raises(TargetError) as caught:
            await target.get(aid)
        message = str(caught.value)
        assert f"GET /assistants/{aid}" in message and "503" in message and "4 attempts" in message
        assert "\n" not in message
        assert KEY not in message and KEY not in repr(caught.value)
        with pytest.raises(TargetError) as caught:
            await target.create(aid, writer("o", "a"))
        assert "POST /assistants" in str(caught.value) and aid in str(caught.value)
        await target.aclose()

    arun(body)


def test_a_key_echoed_by_the_server_is_scrubbed() -> None:
    target = RemoteTarget("http://agents.test", KEY, transport=_always(403, f"bad key {KEY}"), **FAST)

    async def body() -> None:
        with pytest.raises(TargetError) as caught:
            await target.list_assistants()
        assert "403" in str(caught.value) and KEY not in str(caught.value) and KEY not in repr(caught.value)
        await target.aclose()

    arun(body)


def test_unreachable_server_gives_up_with_the_cause() -> None:
    target = RemoteTarget("http://127.0.0.1:9", KEY, retries=2, **FAST)  # discard port: refused

    async def body() -> None:
        with pytest.raises(TargetError) as caught:
            await target.list_assistants({"a": 1})
        message = str(caught.value)
        assert message.startswith("cannot connect to http://127.0.0.1:9: is the server running?")
        assert "connection refused" in message and "3 attempts" in message
        assert KEY not in message and KEY not in repr(caught.value)

    arun(body)


def test_retry_after_is_honoured_over_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([("2", 429), ("7", 503), (None, 200)])
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/info":  # a server the target does not recognise
            return httpx.Response(404, json={"detail": "Not Found"})
        retry_after, status = next(answers)
        headers = {"Retry-After": retry_after} if retry_after else {}
        return httpx.Response(status, headers=headers, json=[] if status == 200 else {"detail": "slow down"})

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("controller.targets.remote.asyncio.sleep", fake_sleep)
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(handler), backoff_base=30.0)
    assert arun(target.list_assistants) == []
    assert slept == [2.0, 7.0]  # the server's word, not 30 s and 60 s of backoff


def test_client_errors_are_not_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(404, json={"detail": "Version 9 not found for assistant x"})

    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(handler), **FAST)

    async def body() -> None:
        with pytest.raises(TargetError, match="Version 9 not found"):
            await target.set_active("11111111-1111-4111-8111-111111111111", 9)

    arun(body)
    assert calls == ["/info", "/assistants/11111111-1111-4111-8111-111111111111/latest"]  # what it is, then once


class FakeServer:
    """Just enough of the assistants API to check paging: a lower page cap than 1000
    (answered with 422), ``X-Pagination-Next``, and /versions' 404 for an empty page."""

    def __init__(self, n: int, cap: int = 100):
        self.rows = [{"assistant_id": f"{i:08d}-0000-4000-8000-000000000000", "graph_id": "writer", "name": str(i),
                      "config": {}, "context": {}, "metadata": {}, "version": 1} for i in range(n)]
        self.cap = cap
        self.limits: list[int] = []
        self.requests: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.method == "GET":
            row = next((r for r in self.rows if request.url.path.endswith(r["assistant_id"])), None)
            return httpx.Response(200, json=row) if row else httpx.Response(404, json={"detail": "not found"})
        body = json.loads(request.content or b"{}")
        limit, offset = body.get("limit", 10), body.get("offset", 0)
        self.limits.append(limit)
        if limit > self.cap:
            return httpx.Response(422, json={"detail": f"{limit} is greater than the maximum of {self.cap}"})
        if request.url.path == "/assistants/count":
            return httpx.Response(200, json=len(self.rows))
        if request.url.path == "/assistants/search":
            page = self.rows[offset:offset + limit]
            more = offset + limit < len(self.rows)
            headers = {"X-Pagination-Total": str(offset + len(page) + (1 if more else 0))}
            if more:
                headers["X-Pagination-Next"] = str(offset + limit)
            return httpx.Response(200, json=page, headers=headers)
        if request.url.path.endswith("/versions"):
            versions = [{**self.rows[0], "version": v} for v in range(len(self.rows), 0, -1)][offset:offset + limit]
            return httpx.Response(200, json=versions) if versions else httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(405, json={"detail": "Method Not Allowed"})


def test_search_pages_with_next_and_falls_back_to_smaller_pages() -> None:
    fake = FakeServer(250)
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)
    listed = arun(target.list_assistants)
    assert [a.assistant_id for a in listed] == [r["assistant_id"] for r in fake.rows]
    assert fake.limits == [1000, 100, 100, 100]


def test_a_last_page_that_is_full_ends_the_listing_without_another_request() -> None:
    fake = FakeServer(200)  # exactly two full pages: the second has no X-Pagination-Next
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)
    assert len(arun(target.list_assistants)) == 200
    assert fake.limits == [1000, 100, 100]


def test_looking_up_many_new_ids_lists_instead_of_one_get_each() -> None:
    fake = FakeServer(150)
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)
    new_ids = [str(uuid.uuid4()) for _ in range(40)]
    found = arun(lambda: target.get_many([*new_ids, fake.rows[7]["assistant_id"]]))
    assert list(found) == [fake.rows[7]["assistant_id"]]
    assert fake.requests.count("GET /assistants/" + new_ids[0]) == 0
    assert len(fake.requests) == 2 + 3  # /info and the count, then the listing (1000 refused, 100, 100)

    fake.requests.clear()
    found = arun(lambda: target.get_many(new_ids[:2]))
    assert found == {}
    assert sorted(fake.requests) == sorted(f"GET /assistants/{i}" for i in new_ids[:2])  # two ids: two GETs


def test_versions_page_until_the_empty_page_404() -> None:
    fake = FakeServer(200)
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)

    async def body() -> None:
        state = await target.get(fake.rows[0]["assistant_id"], versions=True)
        assert state is not None
        assert [v.number for v in state.versions or ()] == list(range(200, 0, -1))

    arun(body)
    assert fake.limits == [1000, 100, 100, 100]  # the third page is the empty 404


def test_history_of_a_listed_assistant_reads_only_its_versions() -> None:
    fake = FakeServer(3)
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)

    async def body() -> None:
        listed = await target.list_assistants()
        fake.requests.clear()
        state = await target.history(listed[0])
        assert state is not None and state.content == listed[0].content
        assert [v.number for v in state.versions or ()] == [3, 2, 1]

    arun(body)
    assert fake.requests == [f"POST /assistants/{fake.rows[0]['assistant_id']}/versions"]  # no GET: the listing said it


def test_history_of_an_assistant_deleted_since_the_listing_is_none() -> None:
    fake = FakeServer(1)

    async def body() -> None:
        listed = await target.list_assistants()
        fake.rows.clear()  # deleted by someone else: /versions now answers 404
        assert await target.history(listed[0]) is None

    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)
    arun(body)


def test_no_more_than_concurrency_requests_are_in_flight() -> None:
    fake = FakeServer(1)
    in_flight, most = [0], [0]

    async def handler(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.01)
        in_flight[0] -= 1
        return fake.handler(request)

    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(handler), concurrency=3, **FAST)

    async def body() -> None:
        try:
            found = await asyncio.gather(*(target.get(fake.rows[0]["assistant_id"]) for _ in range(20)))
            assert all(s is not None for s in found)
        finally:
            await target.aclose()

    arun(body)
    assert most[0] == 3 and len(fake.requests) == 1 + 20  # GET /info first, then the 20


def test_history_of_an_assistant_never_written_since_its_create_needs_no_request() -> None:
    fake = FakeServer(2)
    for row in fake.rows:
        row["created_at"] = row["updated_at"] = "2026-11-24T00:44:57.399501+00:00"
    fake.rows[1]["updated_at"] = "2026-11-24T00:45:17.921107+00:00"  # patched since: its versions are read
    target = RemoteTarget("http://agents.test", transport=httpx.MockTransport(fake.handler), **FAST)

    async def body() -> None:
        fresh, patched = await target.list_assistants()
        fake.requests.clear()
        state = await target.history(fresh)
        assert state is not None and [(v.number, v.content) for v in state.versions or ()] == [(1, fresh.content)]
        assert fake.requests == []
        assert await target.history(patched) is not None
        assert fake.requests == [f"POST /assistants/{patched.assistant_id}/versions"]

    arun(body)


# -- no silent late writes ------------------------------------------------------------------
#
# A proxy on loopback (tests/holding_proxy.py) sits in front of the real ``langgraph dev``
# and holds the next PATCH for a few seconds. The target's ``writeTimeout`` is 2 s, so it
# watches a timed-out write for 4 s more (twice the timeout): a write held 3 s lands inside
# that window, one held 9 s after it. The server is read directly, never through the proxy.


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


@pytest.mark.server
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


@pytest.mark.server
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


@pytest.mark.server
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
