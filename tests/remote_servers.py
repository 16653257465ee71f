"""Which session server a remote test talks to, and the Aegra-only expected failures.

Tests reach a server by name ("langgraph-dev" or "aegra") through this one function,
so the rule for marking known Aegra differences lives in one place.
"""

from __future__ import annotations

from typing import Any

import pytest


def server_named(request: pytest.FixtureRequest, name: str) -> Any:
    """The session server called ``name``. On Aegra, a test marked
    ``aegra_known_gap(reason)`` is expected to fail (non-strict): a difference the
    remote target does not handle yet. Remove the mark once it does."""
    if name == "aegra":
        gap = request.node.get_closest_marker("aegra_known_gap")
        if gap is not None:
            reason = gap.kwargs.get("reason") or (gap.args[0] if gap.args else "known Aegra difference")
            request.node.add_marker(pytest.mark.xfail(strict=False, reason=f"Aegra: {reason}"))
        return request.getfixturevalue("aegra_server")
    return request.getfixturevalue("agent_server")
