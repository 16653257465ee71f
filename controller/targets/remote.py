"""The remote target: any server speaking the Agent Server HTTP API, over httpx.

Shaped by the server's observed behaviour (docs/servers.md, "Quirks"):

- At most ``concurrency`` requests are in flight (a pool of single-connection
  clients, controller/targets/pool.py), so a plan over
  thousands of assistants never floods the server.
- Requests that are safe to repeat (reads, search, DELETE, set-latest, create with
  a deterministic id and ``if_exists: raise``) are retried with capped exponential
  backoff and jitter on connection failures, read timeouts, 429 and 5xx, honouring
  ``Retry-After``. A retried create that meets 409 was most likely our own earlier
  attempt landing, so it returns the existing assistant instead of failing.
- PATCH always makes a new version, so repeating one that may have landed would pile
  up versions: it is retried only when the request provably never reached the server
  (connect failure, 429); otherwise :class:`UncertainWrite` makes the caller re-read.
- Writes wait longer for their answer than reads (``write_timeout``, 120 s by default):
  a PATCH given up on too early is the one a slow proxy delivers later. An uncertain
  write tells the caller how long to watch for it (``settle_window``, twice the write
  timeout when it timed out: it may still be held somewhere) before calling it unknown.
- Writes send config/context exactly as quirk 4 says, so the stored content equals
  what was meant (``description: None`` is sent as ``""`` on PATCH, which rejects null).
- Runs are judged by the run's status (GET of ``Content-Location``), never by the
  HTTP code: a raising graph answers 200 with ``__error__``, a server timeout looks
  like success. Runs are never retried.
- An HTTP 500 to a write is the server's answer (Aegra refuses a duplicate assistant
  with one): it is reported, never sent again. 502/503/504, 429 and transport
  failures are retried under the rules above; a 501 (not implemented) never is.
- Every failure is one line in words (controller/targets/httpfail.py): a refused
  connection asks whether the server is running and names the setting the URL came
  from (``source``), a host name that does not resolve fails at once, ``https://`` to a
  plain-HTTP port says to use ``http://``, a 401/403 names the variable the key came
  from, and an answer that is not the API's (an HTML page; a 400, 404, 405 or 501 to
  the assistants listing) says at once, without retrying, that the URL is not an
  Agent Server URL.
- How the server differs (page size, set-latest, error bodies, its unique graph+config
  rule) is its profile (controller/targets/profiles.py), learnt once per target from
  ``GET /info`` before its first request: no branch here names a server.
- The API key travels only in the ``x-api-key`` header: it is scrubbed from every
  message this module produces and never appears in ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Collection
from typing import Any, TypeVar

import httpx

from controller.core import retry
from controller.core.content import Content, declared, system_assistant_id
from controller.core.errors import Conflict, TargetError, UncertainWrite
from controller.targets import httpfail
from controller.targets.base import AssistantState, GraphInfo, RunOutcome, Version
from controller.targets.pool import ClientPool
from controller.targets.profiles import UNKNOWN, ServerProfile, identify

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Exception)

RUN_MARGIN_S = 2.0  # a run's client deadline is its timeout plus this (queueing, transfer)
#: The longest ``Retry-After`` obeyed: a proxy saying "in an hour" must not stall a plan for an hour.
MAX_RETRY_AFTER_S = 60.0
READ_TIMEOUT_S = 30.0
TIMEOUT = httpx.Timeout(READ_TIMEOUT_S, connect=10.0)
#: How long a write (PATCH, create, set-latest, DELETE) waits for its answer: longer than a
#: read, since a write given up on may still be delivered later (targets.<name>.writeTimeout).
WRITE_TIMEOUT_S = 120.0
#: How long after a timed-out write apply watches for it to land, as a multiple of the write timeout.
SETTLE_FACTOR = 2.0
#: How long to watch for a write whose connection broke or whose gateway failed (it was not held).
SETTLE_AFTER_ANSWER_S = 1.0
#: Transport failures where the request never reached the server: safe to repeat even for PATCH.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Transport failures after which the request may or may not have been processed.
MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
#: Failures after which the request may still be travelling: it timed out on our side.
IN_FLIGHT = (httpx.ReadTimeout, httpx.WriteTimeout)
RUN_STATUSES = ("success", "error", "timeout", "interrupted")
STATUS_POLLS = 25  # x 0.2 s: how long a finished run's status may lag behind its result
HTTP_NAMES = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 422: "InvalidRequest"}
_RUN_REF = re.compile(r"/threads/([^/]+)/runs/([^/?#]+)")
#: Answers to the assistants listing that no Agent Server gives: the URL points elsewhere
#: (a wrong path, a web server, a gateway that does not know the route). Never retried.
NOT_THE_API = (400, 404, 405, 501)
#: Answers to ``GET /info`` that are worth asking again (anything else is the server's answer).
_INFO_RETRIED = (429, 502, 503, 504)
_INFO_ANSWERS = frozenset(range(100, 600)) - frozenset(_INFO_RETRIED)
_ROW_FIELDS = ("config", "context", "metadata")
#: Where the controller's notes on assistants live in the server's store (``+ [assistant id]``).
#: (Namespace labels must not hold dots: GET /store/items joins them with dots.)
NOTES = ("assistant-controller", "notes")
NOTES_PAGE = 100  # Aegra caps store searches at 100


def _noted(namespace: Any) -> str | None:
    """The assistant id a note's namespace names: ``[*NOTES, id]``, after whatever prefix the
    server scopes namespaces with (Aegra puts the user's before it)."""
    if not isinstance(namespace, list):
        return None
    for i in range(len(namespace) - len(NOTES)):
        if tuple(namespace[i:i + len(NOTES)]) == NOTES:
            return str(namespace[i + len(NOTES)])
    return None


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
    body["metadata"] = dict(content.metadata or {})  # only encoded, never mutated: no deep copy
    body["description"] = (content.description or "") if patch else content.description
    return body


def _where(method: str, path: str, assistant_id: str | None) -> str:
    """``PATCH /assistants/<id>``, or ``POST /assistants (assistant <id>)`` where the path lacks the id."""
    return f"{method} {path}" + (f" (assistant {assistant_id})" if assistant_id and assistant_id not in path else "")


def _next_offset(resp: httpx.Response, offset: int, count: int, limit: int) -> int | None:
    """Where the next page starts, or None after the last one. ``limit`` 0: not paged."""
    nxt = resp.headers.get("x-pagination-next", "")
    if nxt.isdigit() and int(nxt) > offset:
        return int(nxt)
    if limit and not nxt and count >= limit and "x-pagination-total" not in resp.headers:
        return offset + count  # a server without pagination headers: go on until a short page
    return None


def _state(body: dict[str, Any], versions: tuple[Version, ...] | None = None) -> AssistantState:
    return AssistantState(body["assistant_id"], int(body.get("version") or 0), Content.from_api(body, owned=True),
                          body.get("created_at", ""), body.get("updated_at", ""), versions)


def _row_problem(row: Any, key: str = "assistant_id") -> str | None:
    """Why ``row`` is not an assistant (or version) object of the API, or None."""
    if not isinstance(row, dict):
        return f"got {httpfail.shape(row)}"
    if key == "assistant_id" and not isinstance(row.get("assistant_id"), str):
        return f"got {httpfail.shape(row)} without an assistant_id"
    version = row.get("version")
    if key == "version" and (isinstance(version, bool) or not isinstance(version, int)):
        return f"got {httpfail.shape(row)} without a version number"
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        return f"version is {httpfail.shape(version)}"
    bad = next((f for f in _ROW_FIELDS if row.get(f) is not None and not isinstance(row.get(f), dict)), None)
    return f"{bad} is {httpfail.shape(row[bad])}" if bad else None


_JSON_HEADERS = {"content-type": "application/json"}


def _body(json_body: Any) -> tuple[bytes | None, dict[str, str] | None]:
    """The request's content and headers, encoded once (not once per attempt)."""
    return (None, None) if json_body is None else (_encode(json_body), _JSON_HEADERS)


def _encode(body: Any) -> bytes:
    """A request body as httpx's ``json=`` would encode it, done once by the caller:
    ``json=`` re-encodes on every attempt and costs a copy per request."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


#: What the Agent Server sends in place of the message of an exception outside its allow-list
#: (``langgraph_api.serde.default``: ValueError, TypeError, KeyError, AttributeError,
#: RuntimeError, RecursionError, TimeoutError and LangGraph's own errors show theirs).
HIDDEN_MESSAGE = "An internal error occurred"


def hidden_error_hint(error: str) -> str:
    """``ProviderError: An internal error occurred`` says where the real message is."""
    if not error.endswith(f": {HIDDEN_MESSAGE}"):
        return error
    kind = error[: -len(HIDDEN_MESSAGE) - 2]
    return (f"{error} (the server hid the message: it shows messages only for ValueError, TypeError, KeyError, "
            f"AttributeError, RuntimeError, TimeoutError and LangGraph's own errors; the {kind} and its traceback "
            "are in the server's log)")


class RemoteTarget:
    """Assistants on an Agent Server at ``url`` (LangSmith Deployment, ``langgraph dev``, self-hosted)."""

    def __init__(self, url: str, api_key: str | None = None, *, concurrency: int = 8,
                 transport: httpx.AsyncBaseTransport | None = None, retries: int = 5,
                 backoff_base: float = 0.2, backoff_cap: float = 5.0, source: str | None = None,
                 api_key_env: str | None = None, write_timeout: float = WRITE_TIMEOUT_S,
                 settle_window: float | None = None):
        """``source``: where the URL was set (``targets.prod.url``, ``--url``) and
        ``api_key_env``: the variable the key came from; both only name things in messages.
        ``write_timeout``: seconds a write waits for its answer; ``settle_window``: seconds
        a timed-out write is watched for afterwards (default: twice ``write_timeout``)."""
        self.url = url.rstrip("/")
        self.source = source
        self.api_key_env = api_key_env
        self._api_key = api_key or None
        self._concurrency = max(1, concurrency)
        self._transport = transport
        self._retries = max(0, retries)
        self._backoff = (backoff_base, backoff_cap)
        self.write_timeout = write_timeout
        self.settle_window = SETTLE_FACTOR * write_timeout if settle_window is None else settle_window
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ClientPool | None = None
        self._probing: asyncio.Lock | None = None
        self._inflight: set[asyncio.Task] = set()
        self._profile: ServerProfile | None = None  # learnt once, before the first request
        self._page_size: int | None = None  # the profile's, or learnt from a 422 when it leaves a choice

    def __repr__(self) -> str:
        return f"RemoteTarget({self.url!r})"

    @property
    def profile(self) -> ServerProfile:
        """The server's profile: learnt before this target's first request goes out (see
        :meth:`server`); the cautious :data:`UNKNOWN` until then."""
        return self._profile or UNKNOWN

    async def server(self) -> ServerProfile:
        """The server's profile, from ``GET /info`` before the first request (once per target):
        plan, apply and their messages then consult what the server is, never a guess.

        ``/info`` is a read like any other (retried while the server is unreachable or
        overloaded); any other answer decides: a server without ``/info``, or that answers
        it with something else, is :data:`UNKNOWN`.
        """
        if self._profile is None:
            self._session()
            assert self._probing is not None
            async with self._probing:
                if self._profile is None:
                    resp = await self._request("GET", "/info", ok=_INFO_ANSWERS)
                    try:
                        info = httpfail.decode(resp) if resp.status_code == 200 else None
                    except ValueError:
                        info = None
                    self._profile = identify(info)
                    log.debug("%s is %s (%s)", self.url, self._profile.name, self._profile.title)
        return self._profile

    async def generation(self) -> str | None:
        """A server has no cheap token for "nothing was written": every read goes to it."""
        return None

    # -- plumbing ----------------------------------------------------------------------

    def _session(self) -> ClientPool:
        """The clients of the running loop: they are bound to the loop that first used
        them, and a process may run several loops (one ``asyncio.run`` per command)."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            self._check_url()
            headers = {"x-api-key": self._api_key} if self._api_key else {}

            def client(limits: httpx.Limits, verify: Any) -> httpx.AsyncClient:
                return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=TIMEOUT, limits=limits,
                                         verify=verify, transport=self._transport)

            self._pool, self._loop = ClientPool(self._concurrency, client), loop
            self._probing = asyncio.Lock()
        return self._pool

    def _check_url(self) -> None:
        """A URL without ``http://`` would otherwise fail as a relative path, deep in httpx."""
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL as exc:
            raise self._not_agent_server(f"it cannot be parsed ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise self._not_agent_server("it needs http:// or https://, e.g. http://127.0.0.1:2024")

    def _source(self) -> str:
        return f" ({self.source})" if self.source else ""

    def _not_agent_server(self, why: str) -> TargetError:
        return TargetError(self._scrub(f"{self.url} is not an Agent Server URL: {why}{self._source()}"))

    def _unreachable(self, cause: str, attempts: int) -> TargetError:
        tries = f", gave up after {attempts} attempts" if attempts > 1 else ""
        return TargetError(self._scrub(f"cannot connect to {self.url}: is the server running?{self._source()}; {cause}{tries}"))

    def _cannot_connect(self, exc: httpx.HTTPError) -> TargetError | None:
        """The error for a connect failure that no retry can heal (a host name that does not
        resolve, a TLS handshake that failed), or None for one that may (refused, timed out)."""
        host = httpx.URL(self.url).host
        if httpfail.dns_failure(exc) is not None:
            return self._unreachable(httpfail.describe(exc, host), 1)
        if httpfail.tls_failure(exc) is None:
            return None
        if httpfail.speaks_plain_http(exc):
            plain = str(httpx.URL(self.url).copy_with(scheme="http")).rstrip("/")
            why = f"the server speaks plain HTTP: use {plain}"
        else:
            why = httpfail.describe(exc, host)
        return TargetError(self._scrub(f"cannot connect to {self.url}: {why}{self._source()}"))

    def _detail(self, resp: httpx.Response) -> str:
        """The message of an error answer, where this server's error bodies keep it."""
        return httpfail.detail(resp, self.profile.error_keys)

    def _rejected(self, where: str, resp: httpx.Response) -> TargetError:
        """401/403: name the variable the key came from (never the key)."""
        answer = f"HTTP {resp.status_code}: {self._detail(resp)}"
        if not self._api_key:
            why = ("the server requires an API key and none was sent (set LANGGRAPH_API_KEY, LANGSMITH_API_KEY "
                   f"or LANGCHAIN_API_KEY, or the target's apiKeyEnv): {answer}")
        else:
            why = f"the server rejected the API key from {self.api_key_env or 'the environment'} ({answer})"
        return self._error(TargetError, where, why)

    def _decode(self, resp: httpx.Response, where: str, expect: type, what: str) -> Any:
        """The JSON body, which must be ``expect``; otherwise one line saying what came instead."""
        try:
            data = httpfail.decode(resp)
        except ValueError as exc:
            raise self._not_agent_server(f"{where} answered {exc}") from None
        if not isinstance(data, expect) or (expect is int and isinstance(data, bool)):
            raise self._unexpected(where, f"expected {what}, got {httpfail.shape(data)}")
        return data

    def _unexpected(self, where: str, why: str) -> TargetError:
        return self._error(TargetError, where, f"unexpected answer: {why}; is it an Agent Server URL?{self._source()}")

    def _assistant(self, resp: httpx.Response, where: str, versions: tuple[Version, ...] | None = None) -> AssistantState:
        body = self._decode(resp, where, dict, "an assistant")
        problem = _row_problem(body)
        if problem:
            raise self._unexpected(where, f"expected an assistant, {problem}")
        return _state(body, versions)

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _error(self, cls: type[E], where: str, cause: str) -> E:
        return cls(self._scrub(f"{self.url}: {where}: {cause}"))

    async def _send(self, method: str, path: str, *, json_body: Any = None, params: dict | None = None,
                    ok: Collection[int] = (200,), idempotent: bool = True, write: bool = False,
                    assistant_id: str | None = None) -> tuple[httpx.Response, bool]:
        """One logical request, retried as its method allows.

        Returns the response (its status is in ``ok``) and whether an earlier attempt may
        have been processed by the server (so a 409 on create may be our own write).
        Raises TargetError (UncertainWrite for a non-idempotent write that may have landed).
        ``write``: an HTTP 500 is the server's answer to it, reported and not sent again.
        """
        where = _where(method, path, assistant_id)
        if self._profile is None and path != "/info":
            await self.server()
        maybe_landed = False
        timeout = httpx.Timeout(self.write_timeout, connect=10.0) if write else httpx.USE_CLIENT_DEFAULT
        content, headers = _body(json_body)
        self._session()  # checks the URL first: a URL without http:// gets its one clear line
        url = httpx.URL(self.url + path)  # absolute: merging a path into base_url costs 3× as much, each attempt
        for attempt in range(self._retries + 1):
            pool = self._session()
            resp: httpx.Response | None = None
            connecting = held = False
            try:
                async with pool.lease() as client:
                    resp = await client.request(method, url, content=content, headers=headers, params=params, timeout=timeout)
            except NOT_SENT as exc:
                if (hopeless := self._cannot_connect(exc)) is not None:  # a wrong host name, https:// to http
                    raise hopeless from None
                cause, sent = httpfail.describe(exc), False
                connecting = not isinstance(exc, httpx.PoolTimeout)
            except MAYBE_SENT as exc:
                cause, sent = httpfail.describe(exc), True
                held = isinstance(exc, IN_FLIGHT)
            except httpx.HTTPError as exc:  # invalid URL, unsupported protocol: not transient
                raise self._error(TargetError, where, httpfail.describe(exc)) from None
            else:
                if resp.status_code in ok:
                    return resp, maybe_landed
                cause = f"HTTP {resp.status_code}: {self._detail(resp)}"
                if (final := self._final_answer(resp, where, cause, write)) is not None:
                    raise final
                sent = resp.status_code != 429  # a rate-limited request was not processed
                held = resp.status_code == 504  # a gateway gave up waiting: the server may still get it
            if sent and not idempotent:
                raise self._uncertain(where, cause, held)
            maybe_landed = maybe_landed or sent
            if attempt == self._retries:
                raise self._gave_up(where, cause, attempt + 1, connecting)
            delay = self._delay(resp, attempt)
            log.debug("retrying %s in %.2fs: %s", where, delay, self._scrub(cause))
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _gave_up(self, where: str, cause: str, attempts: int, connecting: bool) -> TargetError:
        if connecting:
            return self._unreachable(cause, attempts)
        return self._error(TargetError, where, f"gave up after {attempts} attempts: {cause}")

    def _uncertain(self, where: str, cause: str, held: bool) -> UncertainWrite:
        """A write that may have landed: watched for ``settle_window`` when it timed out
        (something may hold it and deliver it late), else briefly (its fate is decided)."""
        error = self._error(UncertainWrite, where, f"{cause}; it may or may not have been applied, re-read before writing again")
        error.settle = self.settle_window if held else min(SETTLE_AFTER_ANSWER_S, self.settle_window)
        error.in_flight, error.retries = held, self._retries
        return error

    def _final_answer(self, resp: httpx.Response, where: str, cause: str, write: bool) -> TargetError | None:
        """The error an unwanted answer is when sending again cannot help; None when it may."""
        if resp.status_code in (401, 403):
            return self._rejected(where, resp)
        if (resp.status_code != 429 and resp.status_code < 500) or resp.status_code == 501:  # 501: not implemented
            return self._error(TargetError, where, cause)
        if resp.status_code == 500 and write:  # an answer, not a lost request: never sent twice
            hint = f"; {self.profile.write_500_hint}" if self.profile.write_500_hint else ""
            return self._error(TargetError, where, f"the server answered {cause} (not sent again{hint})")
        return None

    def _delay(self, resp: httpx.Response | None, attempt: int) -> float:
        """``Retry-After`` when the server gives one, else capped exponential backoff with jitter."""
        asked = retry.retry_after(resp.headers.get("retry-after")) if resp is not None else None
        return retry.delay(attempt, *self._backoff, asked, ceiling=MAX_RETRY_AFTER_S)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            return (await self._send(method, path, **kwargs))[0]
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _pages(self, path: str, body: dict[str, Any], *, versions: bool = False) -> list[dict]:
        """All rows of a paged POST (search, versions), following ``X-Pagination-Next``
        (``X-Pagination-Total`` is not a total), or, from a server that sends no pagination
        headers, until a short page.

        ``versions``: /versions answers an empty page with 404, which after a successful GET
        means "no more rows"; where the profile says /versions does not page (Aegra), one
        request lists them all. A page that adds no new row ends the listing: a server that
        ignores ``offset`` would otherwise be asked for the same page forever.
        """
        profile = await self.server()
        key = "version" if versions else "assistant_id"
        rows: dict[Any, dict] = {}
        offset: int | None = 0
        while offset is not None:
            if versions and not profile.versions_paged:
                resp, limit = await self._request("POST", path, json_body=body, ok=(200, *NOT_THE_API)), 0
            else:
                resp, limit = await self._page(path, body, offset)
            page = self._rows(resp, path, key)
            new = {row[key]: row for row in page or () if row[key] not in rows}
            rows.update(new)
            offset = _next_offset(resp, offset, len(page), limit) if new and page else None
        return list(rows.values())

    def _rows(self, resp: httpx.Response, path: str, key: str) -> list[dict] | None:
        """The rows of one page of a listing; None for /versions' empty-page 404. An answer
        no Agent Server gives to a listing (NOT_THE_API) fails at once, never retried."""
        where = f"POST {path}"
        if resp.status_code == 404 and key == "version":
            return None
        if resp.status_code in NOT_THE_API:
            raise self._not_agent_server(f"{where} answered HTTP {resp.status_code} ({self._detail(resp)})")
        page = self._decode(resp, where, list, "a list")
        problem = next(filter(None, (_row_problem(r, key) for r in page)), None)
        if problem:
            raise self._unexpected(where, f"expected a list of {'versions' if key == 'version' else 'assistants'}, {problem}")
        return page

    async def _page(self, path: str, body: dict[str, Any], offset: int) -> tuple[httpx.Response, int]:
        """One page at the largest size this server accepts (the answer, and the size asked).

        The size is the profile's. Where the profile leaves a choice (a server it does not
        know), the first listing of this target learns it, alone (others wait for it), so a
        server that caps pages below 1000 costs one 422 per target, not one per listing.
        """
        answers = (200, 422, *NOT_THE_API)
        if self._page_size is None:
            sizes = (await self.server()).page_sizes
            if len(sizes) == 1:
                self._page_size = sizes[0]
            else:
                assert self._probing is not None
                async with self._probing:
                    for size in sizes if self._page_size is None else ():
                        resp = await self._request("POST", path, json_body={**body, "limit": size, "offset": offset},
                                                   ok=answers)
                        if resp.status_code != 422:
                            self._page_size = size if resp.status_code == 200 else None
                            return resp, size
                    if self._page_size is None:
                        raise self._error(TargetError, f"POST {path}", f"HTTP 422: {self._detail(resp)}")
        size = self._page_size
        resp = await self._request("POST", path, json_body={**body, "limit": size, "offset": offset}, ok=answers)
        if resp.status_code == 422:
            raise self._error(TargetError, f"POST {path}", f"HTTP 422: {self._detail(resp)}")
        return resp, size

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """No transactions on a server: each write stands alone."""
        yield

    # -- assistants --------------------------------------------------------------------

    async def list_assistants(self, metadata: dict[str, Any] | None = None) -> list[AssistantState]:
        """Every assistant whose metadata contains ``metadata``, in assistant_id order.

        Unlike GET, search also lists assistants whose graph is no longer registered.
        """
        return [_state(row) for row in await self._search(metadata)]

    async def _search(self, metadata: dict[str, Any] | None = None) -> list[dict]:
        body = {"metadata": metadata or {}, "sort_by": "assistant_id", "sort_order": "asc"}
        return await self._pages("/assistants/search", body)

    async def get(self, assistant_id: str, *, versions: bool = False) -> AssistantState | None:
        """The assistant, or None. None also for an assistant whose graph is unregistered:
        the server answers 404 to GET for it although search still lists it."""
        where = f"GET /assistants/{assistant_id}"
        resp = await self._request("GET", f"/assistants/{assistant_id}", ok=(200, 404))
        if resp.status_code == 404:
            with contextlib.suppress(ValueError):  # the API's 404 is JSON; a web server's is a page
                httpfail.decode(resp)
                return None
            raise self._not_agent_server(f"{where} answered HTTP 404 ({self._detail(resp)})")
        entries = await self._versions(assistant_id) if versions else None
        return self._assistant(resp, where, entries)

    async def _versions(self, assistant_id: str) -> tuple[Version, ...]:
        """Every version, newest first (none: the assistant is gone)."""
        rows = await self._pages(f"/assistants/{assistant_id}/versions", {}, versions=True)
        found = [Version(int(v["version"]), Content.from_api(v, owned=True), v.get("created_at", "")) for v in rows]
        return tuple(sorted(found, key=lambda v: v.number, reverse=True))

    async def history(self, state: AssistantState) -> AssistantState | None:
        """The versions alone: a GET would repeat what the listing said (one request, not two).

        None at all for an assistant never written since its create: it is at version 1
        with ``updated_at == created_at``, because every PATCH and every ``/latest`` bumps
        ``updated_at`` (docs/servers.md; Aegra alike), so version 1 is its only
        version and holds what the listing shows.
        """
        if state.version == 1 and state.created_at and state.created_at == state.updated_at:
            return dataclasses.replace(state, versions=(Version(1, state.content, state.created_at),))
        entries = await self._versions(state.assistant_id)
        return dataclasses.replace(state, versions=entries) if entries else None

    async def count(self) -> int | None:
        resp = await self._request("POST", "/assistants/count", json_body={"metadata": {}})
        total = self._decode(resp, "POST /assistants/count", object, "a number")
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    async def get_many(self, assistant_ids: Collection[str], *, total: int | None = None) -> dict[str, AssistantState]:
        """One GET per id, or, when that is fewer requests, one listing of every assistant
        (a first apply of 1,000 manifests would otherwise spend 1,000 GETs learning "404").
        ``total``: the count, when the caller asked for it alongside its other reads."""
        wanted = set(assistant_ids)
        if len(wanted) > 2:
            if total is None:
                total = await self.count()
            page = self._page_size or self.profile.page_sizes[0]  # known: the listings went first
            if isinstance(total, int) and -(-total // page) + 1 < len(wanted):
                return {r["assistant_id"]: _state(r) for r in await self._search() if r["assistant_id"] in wanted}
        found = await asyncio.gather(*(self.get(i) for i in wanted))
        return {state.assistant_id: state for state in found if state is not None}

    async def create(self, assistant_id: str, content: Content) -> AssistantState:
        body = {"assistant_id": assistant_id, **_write_fields(content, patch=False), "if_exists": "raise"}
        where = f"POST /assistants (assistant {assistant_id})"
        resp, maybe_landed = await self._send("POST", "/assistants", json_body=body, ok=(200, 409),
                                              assistant_id=assistant_id, write=True)
        if resp.status_code == 200:
            return self._assistant(resp, where)
        state = await self.get(assistant_id)
        if state is not None and maybe_landed:  # our earlier attempt was applied but its answer got lost
            return state
        if state is not None:
            raise Conflict(f"assistant {assistant_id} already exists on {self.url}")
        # No such id, yet 409: a server with a unique (graph, config) rule (the profile's) refused it.
        rule = f": {self.profile.rule}, and another assistant has this graph and config" if self.profile.rule else ""
        raise self._error(TargetError, where, f"the server refused it as a duplicate{rule} (HTTP 409: {self._detail(resp)})")

    async def update(self, assistant_id: str, content: Content) -> AssistantState:
        """One PATCH with the full content: a new version, made active. Metadata is merged
        by the server, so the caller sends ``key: None`` for keys to remove. Apply puts a
        fresh ``controller/write`` id into the metadata of each attempt, so it can
        recognise this write if it lands after an :class:`UncertainWrite`."""
        resp = await self._request("PATCH", f"/assistants/{assistant_id}", idempotent=False, write=True,
                                   json_body=_write_fields(content, patch=True))
        return self._assistant(resp, f"PATCH /assistants/{assistant_id}")

    async def set_active(self, assistant_id: str, version: int) -> AssistantState:
        resp = await self._request("POST", f"/assistants/{assistant_id}/latest", json_body={"version": version},
                                   write=True)
        return self._assistant(resp, f"POST /assistants/{assistant_id}/latest")

    async def delete(self, assistant_id: str) -> None:
        """Delete it, its versions, the threads its runs made and the controller's notes on it
        (an assistant made again with this id starts without them); already gone is fine."""
        await self._request("DELETE", f"/assistants/{assistant_id}", params={"delete_threads": "true"},
                            ok=(200, 202, 204, 404), write=True)
        namespace = [*NOTES, assistant_id.lower()]
        try:
            for item in await self._store_items(namespace) or []:
                await self._request("DELETE", "/store/items", json_body={"namespace": namespace, "key": item.get("key")},
                                    ok=(200, 204, 404), write=True)
        except TargetError as exc:  # the assistant is gone; its notes only wait for the next one of this id
            log.warning("notes of deleted assistant %s not removed: %s", assistant_id, exc)

    # -- notes (the server's store API: beside an assistant, no version) -------------------

    async def notes(self, assistant_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """Every note under the controller's namespace (one paged search), kept for ``assistant_ids``."""
        wanted = {a.lower() for a in assistant_ids}
        if not wanted:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for item in await self._store_items(list(NOTES)) or []:  # no store API: no notes are known
            owner_id, value = _noted(item.get("namespace")), item.get("value")
            if isinstance(value, dict) and owner_id in wanted:
                out.setdefault(owner_id, {})[str(item.get("key"))] = value
        return out

    async def _store_items(self, prefix: list[str]) -> list[dict[str, Any]] | None:
        """Every store item under ``prefix``, all pages read before any is acted on (a delete
        between pages would shift the offsets); None when the server has no store API."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = {"namespace_prefix": prefix, "limit": NOTES_PAGE, "offset": offset}
            resp = await self._request("POST", "/store/items/search", json_body=body, ok=(200, 404, 405))
            if resp.status_code != 200:
                return items or None
            found = self._decode(resp, "POST /store/items/search", dict, "an object").get("items")
            page = found if isinstance(found, list) else []
            items.extend(i for i in page if isinstance(i, dict))
            if len(page) < NOTES_PAGE:
                return items
            offset += len(page)

    async def put_note(self, assistant_id: str, key: str, value: dict[str, Any]) -> None:
        body = {"namespace": [*NOTES, assistant_id.lower()], "key": key, "value": value, "index": False}
        resp = await self._request("PUT", "/store/items", json_body=body, ok=(200, 204, 404, 405), write=True)
        if resp.status_code in (404, 405):
            log.warning("%s keeps no notes (no store API): verdicts are not recorded there", self.url)

    async def graphs(self) -> dict[str, GraphInfo]:
        """Graphs, as the per-graph system assistants show them, with their schemas.

        A graph whose system assistant survived a restart after the graph was removed
        answers 404 on /schemas and is left out; a /schemas that still fails after the
        retries (500 for some TypedDict declarations) gives a graph without schemas and
        with ``schema_error`` set (plan warns that config was not checked), not an error.
        """
        by_graph: dict[str, AssistantState] = {}
        for s in await self.list_assistants({"created_by": "system"}):
            g = s.content.graph_id
            if g not in by_graph or s.assistant_id == system_assistant_id(g):
                by_graph[g] = s
        infos = await asyncio.gather(*(self._graph_info(g, s) for g, s in sorted(by_graph.items())))
        return {info.graph_id: info for info in infos if info is not None}

    async def _graph_info(self, graph_id: str, system: AssistantState) -> GraphInfo | None:
        where = f"GET /assistants/{system.assistant_id}/schemas"
        try:
            resp = await self._request("GET", f"/assistants/{system.assistant_id}/schemas", ok=(200, 404))
            if resp.status_code == 404:
                return None
            schemas = self._decode(resp, where, dict, "an object")
        except TargetError as exc:
            log.debug("schemas of graph %s unavailable: %s", graph_id, exc)
            return GraphInfo(graph_id, None, None, system.content.description, schema_error=str(exc))
        config, context = schemas.get("config_schema"), schemas.get("context_schema")
        return GraphInfo(graph_id, config if isinstance(config, dict) else None,
                         context if isinstance(context, dict) else None, system.content.description)

    # -- runs --------------------------------------------------------------------------

    async def create_thread(self) -> str:
        """A client-chosen id with ``if_exists: do_nothing`` makes the create safe to retry."""
        body = {"thread_id": str(uuid.uuid4()), "if_exists": "do_nothing"}
        resp = await self._request("POST", "/threads", json_body=body)
        thread = self._decode(resp, "POST /threads", dict, "a thread")
        if not isinstance(thread.get("thread_id"), str):
            raise self._unexpected("POST /threads", f"expected a thread, got {httpfail.shape(thread)}")
        return thread["thread_id"]

    async def delete_thread(self, thread_id: str) -> None:
        await self._request("DELETE", f"/threads/{thread_id}", ok=(200, 202, 204, 404), write=True)

    async def run(self, assistant_id: str, input: Any, *, thread_id: str | None = None,
                  timeout: float = 60.0, config: dict[str, Any] | None = None,
                  context: dict[str, Any] | None = None) -> RunOutcome:
        """Run the active version once (never retried: a run is not idempotent).

        Stateless runs keep their temporary thread (``on_completion: keep``) so the run's
        status can be read, and delete it afterwards. A client deadline of ``timeout``
        plus a margin drops the connection, which cancels the run (``on_disconnect``).
        A 4xx before the run starts (unknown assistant or thread, busy thread) is an
        ``error`` outcome; an unreachable or failing server raises TargetError.
        ``config``/``context`` go in the body: the server merges them over the assistant's.
        """
        path = f"/threads/{thread_id}/runs/wait" if thread_id else "/runs/wait"
        body: dict[str, Any] = {"assistant_id": assistant_id, "input": input,
                                "on_completion": "keep", "on_disconnect": "cancel"}
        if config:
            body["config"] = config
        if context:
            body["context"] = context
        if thread_id:
            body["multitask_strategy"] = "reject"
        deadline = timeout + RUN_MARGIN_S
        ref: tuple[str, str] | None = None
        pool = self._session()
        try:
            async with (  # the deadline starts once a client is ours
                pool.lease() as client,
                asyncio.timeout(deadline),
                client.stream("POST", path, content=_encode(body), headers=_JSON_HEADERS,
                              timeout=httpx.Timeout(deadline, connect=10.0)) as resp,
            ):
                m = _RUN_REF.search(resp.headers.get("content-location", ""))
                ref = (m.group(1), m.group(2)) if m else None
                raw = await resp.aread()
        except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout):
            if ref and not thread_id:
                await self._forget_thread(ref[0])
            return RunOutcome("timeout", error=f"run did not finish within {timeout:g}s")
        except httpx.HTTPError as exc:  # unreachable server, connection reset: not the run's fault
            if isinstance(exc, NOT_SENT):
                hopeless = self._cannot_connect(exc)
                raise hopeless or self._unreachable(httpfail.describe(exc, httpx.URL(self.url).host), 1) from None
            raise self._error(TargetError, f"POST {path} (assistant {assistant_id})", httpfail.describe(exc)) from None
        try:
            return await self._outcome(resp, raw, ref, path, assistant_id)
        finally:
            if ref and not thread_id:
                await self._forget_thread(ref[0])

    async def _outcome(self, resp: httpx.Response, raw: bytes, ref: tuple[str, str] | None, path: str,
                       assistant_id: str) -> RunOutcome:
        if resp.status_code == 429 or resp.status_code >= 500:
            raise self._error(TargetError, f"POST {path} (assistant {assistant_id})",
                              f"HTTP {resp.status_code}: {self._detail(resp)}")
        if resp.status_code != 200:  # refused before it started: the run itself failed
            name = HTTP_NAMES.get(resp.status_code, f"HTTP {resp.status_code}")
            return RunOutcome("error", error=self._scrub(f"{name}: {self._detail(resp)}"))
        try:
            values = json.loads(raw.decode("utf-8").strip())  # keepalive newlines precede the JSON
        except (ValueError, UnicodeDecodeError):
            return RunOutcome("error", error=f"InvalidResponse: not JSON: {raw[:200]!r}")
        failure = values.pop("__error__", None) if isinstance(values, dict) else None
        error = hidden_error_hint(f"{failure.get('error')}: {failure.get('message')}") if isinstance(failure, dict) else None
        status: Any = "error" if failure else "success"  # (or the run's recorded status)
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
        return RunOutcome(status, values, error)

    async def _run_status(self, thread_id: str, run_id: str) -> Any:
        """The run's recorded status. The result stream can end a moment before the worker
        writes the status (an error is published first), so an unfinished one is re-read."""
        for _ in range(STATUS_POLLS):
            where = f"GET /threads/{thread_id}/runs/{run_id}"
            got = self._decode(await self._request("GET", where.split(" ", 1)[1]), where, dict, "a run").get("status")
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
        """Close the connections of the current loop's client. Safe to call twice.

        Requests still in flight (a sibling of a failed ``gather``) are cancelled and
        awaited first: left to the loop's shutdown, a half-open connect attempt prints
        "coroutine ... was never awaited" after the error line.
        """
        current = asyncio.current_task()
        orphans = [t for t in self._inflight if t is not current and not t.done()]
        for task in orphans:
            task.cancel()
        if orphans:
            await asyncio.gather(*orphans, return_exceptions=True)
        self._inflight.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(RuntimeError):  # its loop is gone: nothing left to close cleanly
                await pool.aclose()
