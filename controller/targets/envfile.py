"""langgraph.json's ``env``, applied to graph imports and runs as ``langgraph dev`` applies it.

Mirrors ``langgraph_api.cli.run_server`` (langgraph-api 0.16.7): a string is a dotenv
file read with python-dotenv's ``DotEnv(dotenv_path=env).dict()`` (``${VAR}`` inside
the file expands, a key without ``=`` unsets the variable), a mapping is taken as it
is; the values then *override* the process environment (``patch_environment``), except
the server's own settings, which it never lets a ``.env`` overwrite. ``langgraph dev``
resolves the path against its working directory, the folder of langgraph.json; so
does the embedded target. A missing file gives no variables, as there.

The values are the graphs' secrets: they are never printed (:func:`secret_values` feeds
the redaction of run errors) and never used for ``${VAR}`` in manifests
(core/environ.py keeps the user's environment apart).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from controller.core.errors import ControllerError

#: Variables ``run_server`` sets itself and never takes from ``env`` ("Skipping loaded env var").
SERVER_OWNED = frozenset({
    "MIGRATIONS_PATH", "DATABASE_URI", "REDIS_URI", "N_JOBS_PER_WORKER", "LANGGRAPH_STORE", "LANGSERVE_GRAPHS",
    "LANGSMITH_LANGGRAPH_API_VARIANT", "LANGGRAPH_AUTH", "LANGGRAPH_HTTP", "LANGGRAPH_UI", "LANGGRAPH_WEBHOOKS",
    "LANGGRAPH_UI_CONFIG", "LANGGRAPH_CHECKPOINTER", "LANGGRAPH_UI_BUNDLER", "LANGGRAPH_API_URL",
    "LANGGRAPH_DISABLE_FILE_PERSISTENCE", "LANGGRAPH_RUNTIME_EDITION", "LANGGRAPH_ALLOW_BLOCKING",
    "ALLOW_PRIVATE_NETWORK",
})


def read_env(env: Any, base: str, config_path: str) -> dict[str, str | None]:
    """The variables langgraph.json's ``env`` gives (``None``: unset), server-owned ones left out."""
    if env is None or env == {}:
        return {}
    if isinstance(env, str):
        from dotenv.main import DotEnv  # the same parser langgraph dev uses

        path = os.path.join(base, env)
        values: Mapping[str, str | None] = DotEnv(dotenv_path=path).dict() if os.path.isfile(path) else {}
    elif isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        values = env
    else:
        raise ControllerError(f"{config_path}: \"env\" must be a path to a .env file or a mapping of names to strings")
    return {k: v for k, v in values.items() if k not in SERVER_OWNED}


def secret_values(values: Mapping[str, str | None]) -> frozenset[str]:
    """The values to hide wherever a run's error or output is shown. Very short ones (``1``,
    ``on``) would mask ordinary text and are no secrets anyway."""
    return frozenset(v for v in values.values() if v and len(v) >= 6)
