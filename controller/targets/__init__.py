"""Backends that hold assistants. Each is one module behind :class:`Target`; the rest of
the controller reaches them only through :func:`open_target`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from controller.config.settings import TargetSpec
from controller.core.environ import process_environ
from controller.core.errors import ControllerError
from controller.targets.base import AssistantState, GraphInfo, RunOutcome, Target, Version

__all__ = ["AssistantState", "GraphInfo", "RunOutcome", "Target", "Version", "connect", "open_target"]


def connect(spec: TargetSpec, environ: Mapping[str, str] | None = None) -> Target:
    """The target ``spec`` names, ready to use; the caller closes it (``aclose``).

    Each backend module is imported only here and only when chosen, so an embedded run
    never imports httpx and a remote one never imports langgraph.
    """
    if spec.url:
        from controller.targets.remote import WRITE_TIMEOUT_S, RemoteTarget

        key_env, key = spec.api_key_from(process_environ() if environ is None else environ)
        if spec.api_key_env and key is None:  # named but unset: fail before any request, not with a 401
            raise ControllerError(f"{spec.api_key_env} (targets.{spec.name}.apiKeyEnv) is not set")
        return RemoteTarget(spec.url, key, concurrency=spec.concurrency, source=spec.url_source, api_key_env=key_env,
                            write_timeout=spec.write_timeout or WRITE_TIMEOUT_S)
    from controller.targets.embedded import EmbeddedTarget

    return EmbeddedTarget(spec.embedded or ".controller/state.db", spec.graphs, spec.cache_dir)


@contextlib.asynccontextmanager
async def open_target(spec: TargetSpec, environ: Mapping[str, str] | None = None) -> AsyncIterator[Target]:
    """``async with open_target(spec) as target:`` — closed on the way out, whatever happens."""
    target = connect(spec, environ)
    try:
        yield target
    finally:
        await target.aclose()
