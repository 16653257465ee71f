"""A loopback TCP proxy that delays every byte sent to the server by a fixed latency.

Usage: python benchmarks/latency_proxy.py UPSTREAM_PORT [--delay-ms 20]
Prints the port it listens on (127.0.0.1) as its first stdout line, then serves until killed.

Why: on loopback a request costs a fraction of a millisecond, so a client that sends
one request at a time looks almost as fast as one that overlaps them. A real
deployment is ~20 ms away; delaying the client-to-server direction of each
connection by that much makes every request pay it once (the answer flows back at
once), which is what decides whether the client keeps enough requests in flight.
Bytes keep their order: each chunk is forwarded ``delay`` after it was read, so
a request sent in two writes still arrives whole, ``delay`` late.
It runs as its own process so its CPU is not counted as the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward reader → writer, each chunk ``delay`` seconds after it arrived, in order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(pump())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, chunk))
    finally:
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(ConnectionError):
            await sender
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


async def _serve(upstream: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_w.close()
            return
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, 0.0))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream", type=int)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    try:
        import uvloop  # the proxy's own overhead should stay well below the latency it adds

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.upstream, args.delay_ms / 1000))
    sys.exit(0)


if __name__ == "__main__":
    main()
