"""A loopback HTTP proxy that holds chosen requests, then forwards them anyway.

Why: a PATCH held past the client's timeout by a slow proxy and delivered later is a
real failure mode, and only a proxy in front of the real server reproduces it: the
client gives up, yet the server still processes the request, seconds later.

It runs on its own event loop in a thread, so a held request still lands after the
command (and its event loop) that sent it has finished. One request per connection:
the request is forwarded with ``Connection: close`` and the server's answer (also
``Connection: close``) is relayed until the server closes it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: ``hold(method, path)`` -> seconds to hold that request before forwarding it (0: at once).
Hold = Callable[[str, str], float]


@dataclass
class Forwarded:
    method: str
    path: str
    held: float
    landed: threading.Event = field(default_factory=threading.Event)


class HoldingProxy:
    """``with HoldingProxy(upstream_url, hold) as proxy:`` then point a target at ``proxy.url``."""

    def __init__(self, upstream: str, hold: Hold):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.hold = hold
        self.requests: list[Forwarded] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> HoldingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def held(self, method: str = "PATCH") -> list[Forwarded]:
        return [r for r in self.requests if r.method == method and r.held > 0]

    def wait_landed(self, timeout: float = 30.0) -> bool:
        """Every held request has reached the server and been answered."""
        return all(r.landed.wait(timeout) for r in self.requests if r.held > 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            writer.close()
            return
        seconds = self.hold(method, path)
        record = Forwarded(method, path, seconds)
        self.requests.append(record)
        if seconds:
            await asyncio.sleep(seconds)  # the client times out meanwhile; the request goes on anyway
        request = "\r\n".join([lines[0], *headers, "Connection: close", "", ""]).encode("latin-1") + body
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        up_writer.write(request)
        await up_writer.drain()
        answer = await up_reader.read()  # until the server closes: Connection: close
        up_writer.close()
        record.landed.set()
        try:
            writer.write(answer)
            await writer.drain()
        except ConnectionError:
            pass  # the client gave up long ago: exactly the case this proxy exists for
        finally:
            writer.close()
