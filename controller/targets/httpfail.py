"""How HTTP failures read to a user: one line, in words, never a bare exception name.

httpx's exceptions are often empty (``ReadError()`` prints as ``ReadError: ``) or
speak of its internals ("All connection attempts failed"), and servers behind a
gateway answer HTML pages. This module turns both into short phrases the remote
target puts into its :class:`~controller.errors.TargetError` messages, and tells
the failures that are worth retrying (a refused connection: the server may be
restarting) from those that are not (a host name that does not resolve, a TLS
handshake with a server that speaks plain HTTP).
"""

from __future__ import annotations

import html
import re
import socket
import ssl
from collections.abc import Sequence
from typing import Any

import httpx

MAX_TEXT = 300
_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
#: OpenSSL's reasons for a handshake answered by a plain-HTTP server (the bytes of
#: "HTTP/1.1 400" read as a TLS record), across OpenSSL versions.
_PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                                 "UNKNOWN_PROTOCOL", "HTTP_REQUEST"})
#: Where an error body keeps its message when the server is not known: the Agent Server's
#: ``{"detail"}`` and Aegra's ``{"error", "message"}`` (targets/profiles.py says which is whose).
ANY_ERROR_KEYS = ("detail", "message")


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(str(text).split())
    return text[:limit] + ("…" if len(text) > limit else "")


def looks_like_html(resp: httpx.Response) -> bool:
    if "html" in resp.headers.get("content-type", "").lower():
        return True
    head = resp.content[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def html_text(page: str) -> str:
    """The readable text of an HTML page: its title, then its body's text without tags.

    A gateway's 502 page (``<title>502 Bad Gateway</title>…<h1>502 Bad Gateway</h1>``)
    becomes ``502 Bad Gateway nginx``: the title is dropped when the body repeats it.
    """
    match = _TITLE.search(page)
    title = one_line(html.unescape(_TAG.sub(" ", match.group(1)))) if match else ""
    body = one_line(html.unescape(_TAG.sub(" ", _DROP.sub(" ", page))), limit=10 * MAX_TEXT)
    text = body if not title or title in body else f"{title}: {body}" if body else title
    return one_line(text)


def detail(resp: httpx.Response, keys: Sequence[str] = ANY_ERROR_KEYS) -> str:
    """The message of an error answer (or the page's text), on one line and short.

    ``keys``: where the server's error bodies keep it, in the order to look (the server's
    profile knows); then any of the usual places, then the whole body. A validation error
    whose detail is a list (FastAPI's ``[{"msg": …}, …]``) is shown by its messages.
    """
    if looks_like_html(resp):
        return html_text(resp.text) or "(an empty HTML page)"
    try:
        data = resp.json()
    except (ValueError, UnicodeDecodeError):
        return one_line(resp.text) or "(no body)"
    if isinstance(data, dict):
        data = next((data[k] for k in (*keys, *ANY_ERROR_KEYS) if data.get(k)), data)
    if isinstance(data, list) and data and all(isinstance(e, dict) and e.get("msg") for e in data):
        data = "; ".join(str(e["msg"]) for e in data)
    return one_line(str(data)) or "(no body)"


def decode(resp: httpx.Response) -> Any:
    """The JSON body; ValueError with a description of what came instead."""
    if looks_like_html(resp):
        raise ValueError(f"an HTML page ({html_text(resp.text) or 'empty'}) instead of JSON")
    try:
        return resp.json()
    except (ValueError, UnicodeDecodeError):
        raw = resp.content
        what = "an empty body" if not raw.strip() else f"text that is not JSON ({one_line(resp.text, 80)})"
        raise ValueError(f"{what} instead of JSON") from None


def shape(value: Any) -> str:
    """``an object (keys: items, total)``, ``a list``, ``a string``: for "expected X, got Y"."""
    if isinstance(value, dict):
        keys = ", ".join(list(map(str, value))[:5]) + (", …" if len(value) > 5 else "")
        return f"an object (keys: {keys})" if value else "an empty object"
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def dns_failure(exc: BaseException) -> socket.gaierror | None:
    """The name-resolution error behind a connect failure: not worth retrying."""
    return next((e for e in _chain(exc) if isinstance(e, socket.gaierror)), None)


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connect failure: a handshake fails the same way every time."""
    return next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)


def speaks_plain_http(exc: BaseException) -> bool:
    """Did the TLS handshake meet a server that answers in plain HTTP (``https://`` to an ``http://`` port)?"""
    error = tls_failure(exc)
    return error is not None and str(getattr(error, "reason", "") or "").upper() in _PLAIN_HTTP_REASONS


def refused(exc: BaseException) -> bool:
    return any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in _chain(exc))


def describe(exc: httpx.HTTPError, host: str = "") -> str:
    """A transport failure in words (never empty)."""
    text = str(exc).strip()
    if isinstance(exc, httpx.ConnectError):
        gai = dns_failure(exc)
        if gai is not None:
            return f"cannot resolve host {host or '?'} ({gai.strerror or gai})"
        tls = tls_failure(exc)
        if tls is not None:
            return f"the TLS handshake failed ({getattr(tls, 'verify_message', None) or tls.reason or tls})"
        return "connection refused" if refused(exc) else f"cannot connect ({text or 'connection failed'})"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for the answer"
    if isinstance(exc, httpx.WriteTimeout):
        return "timed out sending the request"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "the connection was reset" + (f" ({text})" if text else "")
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in text or not text:
            return "the server closed the connection without answering"
        return f"the server broke the HTTP protocol ({text})"
    if isinstance(exc, httpx.DecodingError):
        return f"the answer could not be decoded ({text or 'bad encoding'})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
