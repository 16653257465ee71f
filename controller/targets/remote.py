"""The remote target: any server speaking the Agent Server HTTP API, over httpx.

Shaped by the server's observed behaviour (AGENT_SERVER_API.md, "Quirks"):

- Every request is bounded by one semaphore (``concurrency``), so a plan over
  thousands of assistants never floods the server.
- Requests that are safe to repeat (reads, search, DELETE, set-latest, create with
  a deterministic id and ``if_exists: raise``) are retried with capped exponential
  backoff and jitter on connection failures, read timeouts, 429 and 5xx, honouring
  ``Retry-After``. A retried create that meets 409 was most likely our own earlier
  attempt landing, so it returns the existing assistant instead of failing.
- PATCH always makes a new version, so repeating one that may have landed would pile
  up versions: it is retried only when the request provably never reached the server
  (connect failure, 429); otherwise :class:`UncertainWrite` makes the caller re-read.
- Writes send config/context exactly as quirk 4 says, so the stored content equals
  what was meant (``description: None`` is sent as ``""`` on PATCH, which rejects null).
- Runs are judged by the run's status (GET of ``Content-Location``), never by the
  HTTP code: a raising graph answers 200 with ``__error__``, a server timeout looks
  like success. Runs are never retried.
- The API key travels only in the ``x-api-key`` header: it is scrubbed from every
  message this module produces and never appears in ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import email.utils
import json
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Collection
from typing import Any

import httpx

from controller.core.content import Content, declared, system_assistant_id
from controller.core.errors import Conflict, TargetError, UncertainWrite
from controller.targets.base import AssistantState, GraphInfo, RunOutcome, Version

log = logging.getLogger(__name__)

PAGE = 1000  # the server's maximum page size for search and versions
SMALL_PAGE = 100  # fallback for servers that reject 1000 with 422
RUN_MARGIN_S = 2.0  # a run's client deadline is its timeout plus this (queueing, transfer)
MAX_RETRY_AFTER_S = 60.0
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Transport failures where the request never reached the server: safe to repeat even for PATCH.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Transport failures after which the request may or may not have been processed.
MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
RUN_STATUSES = ("success", "error", "timeout", "interrupted")
STATUS_POLLS = 25  # x 0.2 s: how long a finished run's status may lag behind its result
HTTP_NAMES = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 422: "InvalidRequest"}
_RUN_REF = re.compile(r"/threads/([^/]+)/runs/([^/?#]+)")


def _write_fields(content: Content, *, patch: bool) -> dict[str, Any]:
    """Body fields that make the server store exactly ``content`` (quirk 4).

    A non-empty ``configurable`` is sent alone (the server mirrors it into context);
    a context-only content is sent as config without ``configurable`` plus context;
    with both empty, ``configurable: {}`` keeps ``config`` non-empty, because a PATCH
    with ``config: {}`` means "leave the old config".
    """
    config, context = declared(content)
    body: dict[str, Any] = {"graph_id": content.graph_id, "name": content.name, "config": config}
    if not config.get("configurable"):
        body["config"], body["context"] = ({**config, "configurable": {}} if not context else config), context
    body["metadata"] = copy.deepcopy(content.metadata or {})
    body["description"] = (content.description or "") if patch else content.description
    return body


def _state(body: dict[str, Any], versions: tuple[Version, ...] | None = None) -> AssistantState:
    return AssistantState(body["assistant_id"], int(body.get("version") or 0), Content.from_api(body),
                          body.get("created_at", ""), body.get("updated_at", ""), versions)


def _detail(resp: httpx.Response) -> str:
    """The server's ``detail`` (or text), on one line and short."""
    try:
        data = resp.json()
        text = data.get("detail", data) if isinstance(data, dict) else data
    except (ValueError, UnicodeDecodeError):
        text = resp.text
    text = " ".join(str(text).split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _retry_after(resp: httpx.Response | None) -> float | None:
    value = resp.headers.get("retry-after") if resp is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class RemoteTarget:
    """Assistants on an Agent Server at ``url`` (LangSmith Deployment, ``langgraph dev``, self-hosted)."""

    def __init__(self, url: str, api_key: str | None = None, *, concurrency: int = 8,
                 transport: httpx.AsyncBaseTransport | None = None, retries: int = 5,
                 backoff_base: float = 0.2, backoff_cap: float = 5.0):
        self.url = url.rstrip("/")
        self.description = self.url
        self._api_key = api_key or None
        self._concurrency = max(1, concurrency)
        self._transport = transport
        self._retries = max(0, retries)
        self._backoff = (backoff_base, backoff_cap)
        self._page = PAGE
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"RemoteTarget({self.url!r})"

    @staticmethod
    def predict_set_active(version: Content, live: Content) -> Content:
        """The Agent Server's ``/latest`` copies config, metadata, name and description from
        the version, but keeps the live context and graph_id (AGENT_SERVER_API.md, quirk 5)."""
        return dataclasses.replace(version, context=live.context, graph_id=live.graph_id)

    # -- plumbing ----------------------------------------------------------------------

    def _session(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """Client and semaphore of the running loop: both are bound to the loop that first
        used them, and a process may run several loops (one ``asyncio.run`` per command)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._slots is None or self._loop is not loop:
            headers = {"x-api-key": self._api_key} if self._api_key else {}
            limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
            self._client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=TIMEOUT,
                                             limits=limits, transport=self._transport)
            self._slots, self._loop = asyncio.Semaphore(self._concurrency), loop
        return self._client, self._slots

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _error(self, cls: type[Exception], where: str, cause: str) -> Exception:
        return cls(self._scrub(f"{self.url}: {where}: {cause}"))

    async def _send(self, method: str, path: str, *, json_body: Any = None, params: dict | None = None,
                    ok: Collection[int] = (200,), idempotent: bool = True,
                    assistant_id: str | None = None) -> tuple[httpx.Response, bool]:
        """One logical request, retried as its method allows.

        Returns the response (its status is in ``ok``) and whether an earlier attempt may
        have been processed by the server (so a 409 on create may be our own write).
        Raises TargetError (UncertainWrite for a non-idempotent write that may have landed).
        """
        where = f"{method} {path}" + (f" (assistant {assistant_id})" if assistant_id and assistant_id not in path else "")
        maybe_landed = False
        for attempt in range(self._retries + 1):
            client, slots = self._session()
            resp: httpx.Response | None = None
            try:
                async with slots:
                    resp = await client.request(method, path, json=json_body, params=params)
            except NOT_SENT as exc:
                cause, sent = f"{type(exc).__name__}: {exc}", False
            except MAYBE_SENT as exc:
                cause, sent = f"{type(exc).__name__}: {exc}", True
            except httpx.HTTPError as exc:  # invalid URL, unsupported protocol: not transient
                raise self._error(TargetError, where, f"{type(exc).__name__}: {exc}") from None
            else:
                if resp.status_code in ok:
                    return resp, maybe_landed
                cause = f"HTTP {resp.status_code}: {_detail(resp)}"
                if resp.status_code != 429 and resp.status_code < 500:
                    raise self._error(TargetError, where, cause)
                sent = resp.status_code != 429  # a rate-limited request was not processed
            if sent and not idempotent:
                raise self._error(UncertainWrite, where, f"{cause}; it may or may not have been applied, re-read before writing again")
            maybe_landed = maybe_landed or sent
            if attempt == self._retries:
                raise self._error(TargetError, where, f"gave up after {attempt + 1} attempts: {cause}")
            delay = _retry_after(resp)
            if delay is None:
                base, cap = self._backoff
                ceiling = min(cap, base * 2**attempt)
                delay = random.uniform(ceiling / 2, ceiling)
            log.debug("retrying %s in %.2fs: %s", where, delay, self._scrub(cause))
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return (await self._send(method, path, **kwargs))[0]

    async def _pages(self, path: str, body: dict[str, Any], *, empty_is_404: bool = False) -> list[dict]:
        """All rows of a paged POST (search, versions), following ``X-Pagination-Next``
        (``X-Pagination-Total`` is not a total). ``empty_is_404``: /versions answers an
        empty page with 404, which after a successful GET means "no more rows"."""
        rows: list[dict] = []
        offset = 0
        while True:
            limit = self._page
            resp = await self._request("POST", path, json_body={**body, "limit": limit, "offset": offset},
                                       ok=(200, 404, 422) if empty_is_404 else (200, 422))
            if resp.status_code == 422 and limit > SMALL_PAGE:
                self._page = SMALL_PAGE  # a server with a lower cap than 1000: remember it
                continue
            if resp.status_code == 422:
                raise self._error(TargetError, f"POST {path}", f"HTTP 422: {_detail(resp)}")
            if resp.status_code == 404:
                return rows
            page = resp.json()
            rows.extend(page)
            nxt = resp.headers.get("x-pagination-next", "")
            if nxt.isdigit() and int(nxt) > offset:
                offset = int(nxt)
            elif not nxt and len(page) >= limit and "x-pagination-total" not in resp.headers:
                offset += len(page)  # a server without pagination headers: go on until a short page
            else:
                return rows

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """No transactions on a server: each write stands alone."""
        yield

    # -- assistants --------------------------------------------------------------------

    async def list_assistants(self, metadata: dict[str, Any] | None = None) -> list[AssistantState]:
        """Every assistant whose metadata contains ``metadata``, in assistant_id order.

        Unlike GET, search also lists assistants whose graph is no longer registered.
        """
        body = {"metadata": metadata or {}, "sort_by": "assistant_id", "sort_order": "asc"}
        return [_state(row) for row in await self._pages("/assistants/search", body)]

    async def get(self, assistant_id: str, *, versions: bool = False) -> AssistantState | None:
        """The assistant, or None. None also for an assistant whose graph is unregistered:
        the server answers 404 to GET for it although search still lists it."""
        resp = await self._request("GET", f"/assistants/{assistant_id}", ok=(200, 404))
        if resp.status_code == 404:
            return None
        entries = None
        if versions:
            rows = await self._pages(f"/assistants/{assistant_id}/versions", {}, empty_is_404=True)
            found = [Version(int(v["version"]), Content.from_api(v), v.get("created_at", "")) for v in rows]
            entries = tuple(sorted(found, key=lambda v: v.number, reverse=True))
        return _state(resp.json(), entries)

    async def get_many(self, assistant_ids: Collection[str]) -> dict[str, AssistantState]:
        """One GET per id, or, when that is fewer requests, one listing of every assistant
        (a first apply of 1,000 manifests would otherwise spend 1,000 GETs learning "404")."""
        wanted = set(assistant_ids)
        if len(wanted) > 2:
            total = (await self._request("POST", "/assistants/count", json_body={"metadata": {}})).json()
            if isinstance(total, int) and -(-total // self._page) + 1 < len(wanted):
                return {a.assistant_id: a for a in await self.list_assistants() if a.assistant_id in wanted}
        found = await asyncio.gather(*(self.get(i) for i in wanted))
        return {state.assistant_id: state for state in found if state is not None}

    async def create(self, assistant_id: str, content: Content) -> AssistantState:
        body = {"assistant_id": assistant_id, **_write_fields(content, patch=False), "if_exists": "raise"}
        resp, maybe_landed = await self._send("POST", "/assistants", json_body=body, ok=(200, 409),
                                              assistant_id=assistant_id)
        if resp.status_code == 200:
            return _state(resp.json())
        if maybe_landed:  # our earlier attempt was applied but its answer got lost
            state = await self.get(assistant_id)
            if state is not None:
                return state
        raise Conflict(f"assistant {assistant_id} already exists on {self.url}")

    async def update(self, assistant_id: str, content: Content) -> AssistantState:
        """One PATCH with the full content: a new version, made active. Metadata is merged
        by the server, so the caller sends ``key: None`` for keys to remove."""
        resp = await self._request("PATCH", f"/assistants/{assistant_id}", idempotent=False,
                                   json_body=_write_fields(content, patch=True))
        return _state(resp.json())

    async def set_active(self, assistant_id: str, version: int) -> AssistantState:
        resp = await self._request("POST", f"/assistants/{assistant_id}/latest", json_body={"version": version})
        return _state(resp.json())

    async def delete(self, assistant_id: str) -> None:
        """Delete it, its versions and the threads its runs made; already gone is fine."""
        await self._request("DELETE", f"/assistants/{assistant_id}", params={"delete_threads": "true"},
                            ok=(200, 202, 204, 404))

    async def graphs(self) -> dict[str, GraphInfo]:
        """Graphs, as the per-graph system assistants show them, with their schemas.

        A graph whose system assistant survived a restart after the graph was removed
        answers 404 on /schemas and is left out; a failing /schemas (500 for some
        TypedDict declarations) gives a graph without schemas rather than an error.
        """
        by_graph: dict[str, AssistantState] = {}
        for s in await self.list_assistants({"created_by": "system"}):
            g = s.content.graph_id
            if g not in by_graph or s.assistant_id == system_assistant_id(g):
                by_graph[g] = s
        infos = await asyncio.gather(*(self._graph_info(g, s) for g, s in sorted(by_graph.items())))
        return {info.graph_id: info for info in infos if info is not None}

    async def _graph_info(self, graph_id: str, system: AssistantState) -> GraphInfo | None:
        try:
            resp = await self._request("GET", f"/assistants/{system.assistant_id}/schemas", ok=(200, 404, 500))
        except TargetError as exc:
            log.warning("schemas of graph %s unavailable: %s", graph_id, exc)
            resp = None
        if resp is not None and resp.status_code == 404:
            return None
        schemas = resp.json() if resp is not None and resp.status_code == 200 else {}
        return GraphInfo(graph_id, schemas.get("config_schema"), schemas.get("context_schema"),
                         system.content.description)

    # -- runs --------------------------------------------------------------------------

    async def create_thread(self) -> str:
        """A client-chosen id with ``if_exists: do_nothing`` makes the create safe to retry."""
        body = {"thread_id": str(uuid.uuid4()), "if_exists": "do_nothing"}
        return (await self._request("POST", "/threads", json_body=body)).json()["thread_id"]

    async def delete_thread(self, thread_id: str) -> None:
        await self._request("DELETE", f"/threads/{thread_id}", ok=(200, 202, 204, 404))

    async def run(self, assistant_id: str, input: Any, *, thread_id: str | None = None,
                  timeout: float = 60.0) -> RunOutcome:
        """Run the active version once (never retried: a run is not idempotent).

        Stateless runs keep their temporary thread (``on_completion: keep``) so the run's
        status can be read, and delete it afterwards. A client deadline of ``timeout``
        plus a margin drops the connection, which cancels the run (``on_disconnect``).
        A 4xx before the run starts (unknown assistant or thread, busy thread) is an
        ``error`` outcome; an unreachable or failing server raises TargetError.
        """
        path = f"/threads/{thread_id}/runs/wait" if thread_id else "/runs/wait"
        body: dict[str, Any] = {"assistant_id": assistant_id, "input": input,
                                "on_completion": "keep", "on_disconnect": "cancel"}
        if thread_id:
            body["multitask_strategy"] = "reject"
        deadline = timeout + RUN_MARGIN_S
        ref: tuple[str, str] | None = None
        client, slots = self._session()
        try:
            async with slots, asyncio.timeout(deadline):  # the deadline starts once a slot is ours
                async with client.stream("POST", path, json=body, timeout=httpx.Timeout(deadline, connect=10.0)) as resp:
                    m = _RUN_REF.search(resp.headers.get("content-location", ""))
                    ref = (m.group(1), m.group(2)) if m else None
                    raw = await resp.aread()
        except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout):
            if ref and not thread_id:
                await self._forget_thread(ref[0])
            return RunOutcome("timeout", error=f"run did not finish within {timeout:g}s", thread_id=thread_id)
        except httpx.HTTPError as exc:  # unreachable server, connection reset: not the run's fault
            raise self._error(TargetError, f"POST {path} (assistant {assistant_id})", f"{type(exc).__name__}: {exc}") from None
        try:
            return await self._outcome(resp, raw, ref, path, assistant_id, thread_id)
        finally:
            if ref and not thread_id:
                await self._forget_thread(ref[0])

    async def _outcome(self, resp: httpx.Response, raw: bytes, ref: tuple[str, str] | None, path: str,
                       assistant_id: str, thread_id: str | None) -> RunOutcome:
        def outcome(status: Any, output: Any = None, error: str | None = None) -> RunOutcome:
            return RunOutcome(status, output, error, thread_id)

        if resp.status_code == 429 or resp.status_code >= 500:
            raise self._error(TargetError, f"POST {path} (assistant {assistant_id})",
                              f"HTTP {resp.status_code}: {_detail(resp)}")
        if resp.status_code != 200:  # refused before it started: the run itself failed
            name = HTTP_NAMES.get(resp.status_code, f"HTTP {resp.status_code}")
            return outcome("error", error=self._scrub(f"{name}: {_detail(resp)}"))
        try:
            values = json.loads(raw.decode("utf-8").strip())  # keepalive newlines precede the JSON
        except (ValueError, UnicodeDecodeError):
            return outcome("error", error=f"InvalidResponse: not JSON: {raw[:200]!r}")
        failure = values.pop("__error__", None) if isinstance(values, dict) else None
        error = f"{failure.get('error')}: {failure.get('message')}" if isinstance(failure, dict) else None
        status = "error" if failure else "success"
        if ref:
            try:
                got = await self._run_status(*ref)
            except TargetError as exc:  # judge by the body alone, and say so
                log.warning("status of run %s unavailable, judged by its output: %s", ref[1], exc)
            else:
                status = got if got in RUN_STATUSES else "error"
                if got not in RUN_STATUSES:
                    error = f"unexpected run status {got!r}"
        if status != "success" and not error:
            error = {"timeout": "the server timed out the run", "interrupted": "the run was interrupted"}.get(
                status, f"run ended with status {status}")
        return outcome(status, values, error)

    async def _run_status(self, thread_id: str, run_id: str) -> Any:
        """The run's recorded status. The result stream can end a moment before the worker
        writes the status (an error is published first), so an unfinished one is re-read."""
        for _ in range(STATUS_POLLS):
            got = (await self._request("GET", f"/threads/{thread_id}/runs/{run_id}")).json().get("status")
            if got not in ("pending", "running"):
                break
            await asyncio.sleep(0.2)
        return got

    async def _forget_thread(self, thread_id: str) -> None:
        """Best-effort clean-up of a stateless run's kept thread."""
        try:
            await self.delete_thread(thread_id)
        except TargetError as exc:
            log.warning("could not delete run thread %s: %s", thread_id, exc)

    async def aclose(self) -> None:
        """Close the connections of the current loop's client. Safe to call twice."""
        client, self._client, self._slots = self._client, None, None
        if client is not None:
            with contextlib.suppress(RuntimeError):  # its loop is gone: nothing left to close cleanly
                await client.aclose()
