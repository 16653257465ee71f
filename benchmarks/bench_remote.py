"""Remote target against the real Agent Server (`langgraph dev`, in-memory) 20 ms away: apply and no-op at 1,000.

Usage: python benchmarks/bench_remote.py [--sizes 1000] [--edits 100] [--delay-ms 20]

Per size n, on one fresh server started with tests/server.py serving the generated repo, reached
through benchmarks/latency_proxy.py (a separate process adding ``--delay-ms`` to every request, the
latency of a real deployment; on bare loopback every client looks fast):
- `controller apply . --auto-approve --no-smoke --url URL` creating n assistants,
- a no-op `controller plan . --url URL` and a no-op apply after it,
- `controller apply` after editing the description of ``--edits`` manifests,
each with the number of HTTP requests it sent (httpx.AsyncClient.send is wrapped in-process) and
the client's CPU per request (time.process_time of the whole command over the requests counted:
parsing and planning included; the server and the proxy are other processes).
Baselines (same run, same server and proxy, `langgraph_sdk.get_client`, as a user would write it),
each under its own owner and ids, run *before* the controller so they meet the emptier server:
- SDK loop: for each of the n assistants `assistants.get(id)` (404), then `assistants.create(...)`,
  one at a time (the table's "× baseline" column is against this one);
- SDK asyncio script: the same get-then-create per assistant, all gathered under a semaphore of 8;
- SDK asyncio edits: `assistants.get(id)` then `assistants.update(...)` for the edited assistants,
  under a semaphore of 8;
- SDK no-op check: `assistants.get(id)` and compare, under a semaphore of 8.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import ROOT, cpu_note, make_repo, quiet_cli, table

sys.path.insert(0, str(ROOT / "tests"))
from server import AgentServer

REQUESTS = [0]
_send = httpx.AsyncClient.send
SCRIPT_CONCURRENCY = 8


async def _counting_send(self: httpx.AsyncClient, request: httpx.Request, **kwargs):
    REQUESTS[0] += 1
    return await _send(self, request, **kwargs)


httpx.AsyncClient.send = _counting_send  # counts the controller's and the SDK's requests alike


def counted(fn, *args) -> tuple[float, object, int, float]:
    """(seconds, result, requests sent, client CPU seconds)."""
    REQUESTS[0] = 0
    cpu, start = time.process_time(), time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result, REQUESTS[0], time.process_time() - cpu


def per_request(cpu: float, reqs: int) -> str:
    return f"{1000 * cpu / max(reqs, 1):.2f} ms CPU/request"


def wanted(i: int, owner: str, description: str = "Generated") -> dict:
    """What the i-th generated manifest asks for, as SDK create arguments."""
    return {"graph_id": "writer", "name": f"writer-{i:05d}", "description": f"{description} assistant {i}",
            "config": {"configurable": {"style": "blog", "system_prompt": f"You are writer number {i}.\nBe brief.\n"}},
            "metadata": {"cost_center": f"cc-{i % 13}", "owner": owner, "name": f"writer-{i:05d}"}}


def ids(n: int, owner: str) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{owner}/writer-{i:05d}")) for i in range(n)]


async def _get_or_none(client, assistant_id: str):
    try:
        return await client.assistants.get(assistant_id)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 404:
            raise
        return None


async def sdk_create(url: str, n: int, owner: str) -> int:
    """The sequential loop."""
    from langgraph_sdk import get_client

    client, created = get_client(url=url), 0
    for i, assistant_id in enumerate(ids(n, owner)):
        if await _get_or_none(client, assistant_id) is None:
            await client.assistants.create(assistant_id=assistant_id, if_exists="raise", **wanted(i, owner))
            created += 1
    return created


async def _gathered(work, items) -> list:
    limit = asyncio.Semaphore(SCRIPT_CONCURRENCY)

    async def one(item):
        async with limit:
            return await work(*item)

    return await asyncio.gather(*(one(item) for item in items))


async def sdk_create_async(url: str, n: int, owner: str) -> int:
    """The asyncio script: get-then-create per assistant, gathered under a semaphore."""
    from langgraph_sdk import get_client

    client = get_client(url=url)

    async def one(i: int, assistant_id: str) -> int:
        if await _get_or_none(client, assistant_id) is not None:
            return 0
        await client.assistants.create(assistant_id=assistant_id, if_exists="raise", **wanted(i, owner))
        return 1

    return sum(await _gathered(one, list(enumerate(ids(n, owner)))))


async def sdk_edit_async(url: str, n: int, owner: str) -> int:
    """The asyncio edit script: read each assistant, send the new content if it differs."""
    from langgraph_sdk import get_client

    client = get_client(url=url)

    async def one(i: int, assistant_id: str) -> int:
        want = wanted(i, owner, "Edited")
        live = await client.assistants.get(assistant_id)
        if live.get("description") == want["description"]:
            return 0
        await client.assistants.update(assistant_id, **want)
        return 1

    return sum(await _gathered(one, list(enumerate(ids(n, owner)))))


async def sdk_check(url: str, n: int, owner: str) -> int:
    from langgraph_sdk import get_client

    client = get_client(url=url)

    async def one(i: int, assistant_id: str) -> int:
        live, want = await client.assistants.get(assistant_id), wanted(i, owner)
        same = (live["graph_id"] == want["graph_id"] and live["name"] == want["name"]
                and live.get("description") == want["description"]
                and live["config"].get("configurable") == want["config"]["configurable"]
                and all(live["metadata"].get(k) == v for k, v in want["metadata"].items()))
        return int(not same)

    return sum(await _gathered(one, list(enumerate(ids(n, owner)))))


def edit_repo(repo: Path, n: int) -> None:
    """Change the description of the first n generated manifests (4 per file)."""
    for path in sorted((repo / "assistants").glob("batch-*.yaml")):
        start = int(path.stem.split("-")[1])
        if start >= n:
            continue
        docs = path.read_text().split("---\n")
        docs = [d.replace("Generated assistant", "Edited assistant") if start + k < n else d for k, d in enumerate(docs)]
        path.write_text("---\n".join(docs))


class LatencyProxy:
    """benchmarks/latency_proxy.py in its own process (its CPU is not the client's)."""

    def __init__(self, upstream_url: str, delay_ms: float):
        port = httpx.URL(upstream_url).port
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("latency_proxy.py")), str(port),
                                      "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def cli(*argv: str) -> int:
    code = quiet_cli(*argv)
    assert code == 0, (argv, code)
    return code


def bench(n: int, edits: int, delay_ms: float, tmp: Path) -> None:
    edits = min(edits, n)
    repo = make_repo(tmp / f"repo-{n}", n)
    server = AgentServer(repo, tmp / f"server-{n}")
    started = time.perf_counter()
    server.start(timeout=120)
    boot = time.perf_counter() - started
    proxy = LatencyProxy(server.url, delay_ms)
    url, cwd = proxy.url, os.getcwd()
    try:
        asyncio.run(sdk_create(url, 5, "warm-up"))  # the server's first requests are slow: keep them out
        warm = make_repo(tmp / f"warm-{n}", 5, owner="warm-up-controller")
        os.chdir(warm)  # the project root is the current directory
        cli("apply", ".", "--auto-approve", "--no-smoke", "--url", url)  # and the controller's imports
        seq, created, seq_reqs, seq_cpu = counted(asyncio.run, sdk_create(url, n, "sdk-loop"))
        assert created == n, created
        script, created, script_reqs, script_cpu = counted(asyncio.run, sdk_create_async(url, n, "sdk-script"))
        assert created == n, created
        ed_script, changed, ed_reqs, ed_cpu = counted(asyncio.run, sdk_edit_async(url, edits, "sdk-script"))
        assert changed == edits, changed
        os.chdir(repo)
        rows = []
        t, _, reqs, cpu = counted(cli, "apply", ".", "--auto-approve", "--no-smoke", "--url", url)
        rows.append((f"apply {n} creates", t, f"{n / t:,.0f} assistants/s, {reqs:,} requests, {per_request(cpu, reqs)}"))
        apply_t = t
        t, _, reqs, cpu = counted(cli, "plan", ".", "--detailed-exitcode", "--url", url)
        rows.append((f"plan {n} (no changes)", t, f"{reqs:,} requests"))
        noop_t = t
        t, _, reqs, cpu = counted(cli, "apply", ".", "--auto-approve", "--no-smoke", "--url", url)
        rows.append((f"apply {n} (no changes)", t, f"{reqs:,} requests"))
        edit_repo(repo, edits)
        t, _, reqs, cpu = counted(cli, "apply", ".", "--auto-approve", "--no-smoke", "--url", url)
        rows.append((f"apply {edits} edits (of {n})", t, f"{reqs:,} requests, {per_request(cpu, reqs)}"))
        edit_t = t
        check, differ, check_reqs, _ = counted(asyncio.run, sdk_check(url, n, "sdk-loop"))
        assert differ == 0, differ
        rows.append((f"baseline: SDK get+create {n}, sequential loop", seq,
                     f"{n / seq:,.0f} assistants/s, {seq_reqs:,} requests, {per_request(seq_cpu, seq_reqs)}"))
        rows.append((f"baseline: SDK get+create {n}, asyncio script ({SCRIPT_CONCURRENCY})", script,
                     f"{n / script:,.0f} assistants/s, {script_reqs:,} requests, {per_request(script_cpu, script_reqs)}"))
        rows.append((f"baseline: SDK get+update {edits}, asyncio script", ed_script,
                     f"{ed_reqs:,} requests, {per_request(ed_cpu, ed_reqs)}"))
        rows.append((f"baseline: SDK get-and-compare {n} (no-op), asyncio", check, f"{check_reqs:,} requests"))
    finally:
        os.chdir(cwd)
        proxy.stop()
        server.stop()
    table(f"Remote target on langgraph dev (in-memory) behind a {delay_ms:g} ms proxy, {n} assistants, {cpu_note()}, "
          f"server up in {boot:.1f}s (baseline: SDK get+create loop, {seq:.3f}s)", rows, seq)
    print(f"{'':<52} {'':>9} {'':>11}  apply creates: {seq / apply_t:.1f}× faster than the SDK loop, "
          f"{script / apply_t:.2f}× than the asyncio script")
    print(f"{'':<52} {'':>9} {'':>11}  apply edits: {ed_script / edit_t:.2f}× faster than the asyncio script; "
          f"no-op plan: {check / noop_t:.2f}× faster than the asyncio check")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            bench(n, args.edits, args.delay_ms, Path(tmp))


if __name__ == "__main__":
    main()
