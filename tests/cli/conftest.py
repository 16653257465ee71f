"""Fixtures the CLI tests share (tests/conftest.py has the servers, the owner and the example repo)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable a user may have set (model, target, owner, API keys) reaches the test."""
    for name in ("MODEL", "SIGNATURE", "CONTROLLER_TARGET", "CONTROLLER_OWNER",
                 "LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dev_sdk(agent_server: Any) -> Any:
    """langgraph-sdk on the real `langgraph dev`: the independent reader of what the CLI wrote there."""
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=agent_server.url, api_key=None)
