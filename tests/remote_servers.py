"""Which session server a remote test talks to, and the Aegra-only expected failures.

Tests reach a server by name ("langgraph-dev" or "aegra") through this one function,
so the rule for marking known Aegra differences lives in one place.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

PAGE = 100  # Aegra refuses a search limit above 100 (422); langgraph dev accepts it


def server_named(request: pytest.FixtureRequest, name: str) -> Any:
    """The session server called ``name``. On Aegra, a test marked
    ``aegra_known_gap(reason)`` is expected to fail: a difference the remote target does
    not handle yet. Strictly: once it passes, the run fails, so the fix is noticed and
    the mark removed."""
    if name == "aegra":
        gap = request.node.get_closest_marker("aegra_known_gap")
        if gap is not None:
            reason = gap.kwargs.get("reason") or (gap.args[0] if gap.args else "known Aegra difference")
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"Aegra: {reason}"))
        server = request.getfixturevalue("aegra_server")
        delete_user_assistants(server.url)
        return server
    return request.getfixturevalue("agent_server")


def delete_user_assistants(url: str) -> None:
    """Every assistant but the per-graph system ones, deleted: a clean slate per test.

    Owners do not isolate tests on Aegra: it refuses a second assistant of one graph
    with an identical config whatever its metadata (409 on create), and tests of
    different owners write identical configs. Tests run one at a time, so clearing
    before each Aegra test is safe.
    """
    with httpx.Client(base_url=url, timeout=30) as client:
        doomed: list[str] = []
        offset = 0
        while True:
            page = client.post("/assistants/search", json={"limit": PAGE, "offset": offset})
            page.raise_for_status()
            found = page.json()
            doomed += [a["assistant_id"] for a in found if a.get("metadata", {}).get("created_by") != "system"]
            if len(found) < PAGE:
                break
            offset += PAGE
        for assistant_id in doomed:
            gone = client.delete(f"/assistants/{assistant_id}")
            if gone.status_code not in (200, 204, 404):
                gone.raise_for_status()


def search_all(sdk: Any, **filters: Any) -> list[dict]:
    """Every assistant matching ``filters``, read in pages both servers accept."""
    found: list[dict] = []
    while True:
        page = sdk.assistants.search(**filters, limit=PAGE, offset=len(found))
        found += page
        if len(page) < PAGE:
            return found
