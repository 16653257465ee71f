"""Remote target against the real Agent Server (`langgraph dev`, in-memory): apply and no-op at 1,000.

Usage: python benchmarks/bench_remote.py [--sizes 1000]

Per size n, on one fresh server started with tests/server.py serving the generated repo:
- `controller apply . --auto-approve --no-smoke --url URL` creating n assistants (time, assistants/s),
- a no-op `controller plan . --url URL` and a no-op apply after it,
- the same creating apply with `--concurrency 1` (a second repo, another owner), to show what the
  default 8 parallel requests buy when client and server share the machine's cores,
each with the number of HTTP requests it sent (httpx.AsyncClient.send is wrapped in-process).
Baselines (same run, same server, `langgraph_sdk.get_client`, sequential, as a user would write it):
- create: for each of the n assistants `assistants.get(id)` (404), then `assistants.create(...)`,
  under another owner and other ids, run *before* the controller so it meets the emptier server;
- no-op check: for each of the n assistants `assistants.get(id)` and compare with what is wanted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import ROOT, cpu_note, make_repo, quiet_cli, table, timed

sys.path.insert(0, str(ROOT / "tests"))
from server import AgentServer

REQUESTS = [0]
_send = httpx.AsyncClient.send


async def _counting_send(self: httpx.AsyncClient, request: httpx.Request, **kwargs):
    REQUESTS[0] += 1
    return await _send(self, request, **kwargs)


httpx.AsyncClient.send = _counting_send  # counts the controller's and the SDK's requests alike


def counted(fn, *args) -> tuple[float, object, int]:
    REQUESTS[0] = 0
    t, result = timed(fn, *args)
    return t, result, REQUESTS[0]


def wanted(i: int, owner: str) -> dict:
    """What the i-th generated manifest asks for, as SDK create arguments."""
    return {"graph_id": "writer", "name": f"writer-{i:05d}", "description": f"Generated assistant {i}",
            "config": {"configurable": {"style": "blog", "system_prompt": f"You are writer number {i}.\nBe brief.\n"}},
            "metadata": {"cost_center": f"cc-{i % 13}", "owner": owner, "name": f"writer-{i:05d}"}}


def ids(n: int, owner: str) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{owner}/writer-{i:05d}")) for i in range(n)]


async def sdk_create(url: str, n: int, owner: str) -> int:
    from langgraph_sdk import get_client

    client, created = get_client(url=url), 0
    for i, assistant_id in enumerate(ids(n, owner)):
        try:
            await client.assistants.get(assistant_id)
            continue
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise
        await client.assistants.create(assistant_id=assistant_id, if_exists="raise", **wanted(i, owner))
        created += 1
    return created


async def sdk_check(url: str, n: int, owner: str) -> int:
    from langgraph_sdk import get_client

    client, differ = get_client(url=url), 0
    for i, assistant_id in enumerate(ids(n, owner)):
        live, want = await client.assistants.get(assistant_id), wanted(i, owner)
        same = (live["graph_id"] == want["graph_id"] and live["name"] == want["name"]
                and live.get("description") == want["description"]
                and live["config"].get("configurable") == want["config"]["configurable"]
                and all(live["metadata"].get(k) == v for k, v in want["metadata"].items()))
        differ += not same
    return differ


def bench(n: int, tmp: Path) -> None:
    repo = make_repo(tmp / f"repo-{n}", n)
    server = AgentServer(repo, tmp / f"server-{n}")
    started = time.perf_counter()
    server.start(timeout=120)
    boot = time.perf_counter() - started
    url, cwd = server.url, os.getcwd()
    try:
        asyncio.run(sdk_create(url, 5, "warm-up"))  # the server's first requests are slow: keep them out
        quiet_cli("validate", str(repo))  # and the controller's imports
        base, created, base_reqs = counted(asyncio.run, sdk_create(url, n, "sdk-baseline"))
        assert created == n, created
        os.chdir(repo)
        rows = []
        t, code, reqs = counted(quiet_cli, "apply", ".", "--auto-approve", "--no-smoke", "--url", url)
        assert code == 0, code
        rows.append((f"apply {n} creates", t, f"{n / t:,.0f} assistants/s, {reqs:,} requests"))
        t, code, reqs = counted(quiet_cli, "plan", ".", "--detailed-exitcode", "--url", url)
        assert code == 0, code
        rows.append((f"plan {n} (no changes)", t, f"{reqs:,} requests"))
        t, code, reqs = counted(quiet_cli, "apply", ".", "--auto-approve", "--no-smoke", "--url", url)
        assert code == 0, code
        rows.append((f"apply {n} (no changes)", t, f"{reqs:,} requests"))
        os.chdir(make_repo(tmp / f"repo-seq-{n}", n, owner="bench-seq"))  # same n, other owner: creates again
        t, code, reqs = counted(quiet_cli, "apply", ".", "--auto-approve", "--no-smoke", "--url", url, "--concurrency", "1")
        assert code == 0, code
        rows.append((f"apply {n} creates, --concurrency 1 (other owner)", t, f"{n / t:,.0f} assistants/s, {reqs:,} requests"))
        check, differ, check_reqs = counted(asyncio.run, sdk_check(url, n, "sdk-baseline"))
        assert differ == 0, differ
        rows.append((f"baseline: SDK get+create {n}, sequential", base, f"{n / base:,.0f} assistants/s, {base_reqs:,} requests"))
        rows.append((f"baseline: SDK get-and-compare {n} (no-op)", check, f"{check_reqs:,} requests"))
    finally:
        os.chdir(cwd)
        server.stop()
    table(f"Remote target on langgraph dev (in-memory), {n} assistants, {cpu_note()}, server up in {boot:.1f}s "
          f"(baseline: SDK get+create loop, {base:.3f}s)", rows, base)
    print(f"{'':<52} {'':>9} {'':>11}  no-op plan vs SDK no-op check loop: {rows[1][1] / check:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            bench(n, Path(tmp))


if __name__ == "__main__":
    main()
