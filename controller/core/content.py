"""What an assistant *is*, in a form two sides can be compared in.

The Agent Server stores more than the user declared (timestamps, version numbers)
and rewrites some of what it was given (it mirrors ``config.configurable`` into
``context``, keeps metadata keys set to null, turns an empty description into
null). :func:`canonical` undoes exactly those rewrites, so a manifest and the
server's copy of it compare equal right after an apply, and every remaining
difference is one a user would care about.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

#: Namespace of the deterministic assistant ids: ``uuid5(NAMESPACE, "<owner>/<name>")``.
#: Fixed forever: changing it would orphan every assistant ever created.
NAMESPACE = uuid.UUID("5d0a4e6c-2f8e-5b1a-9d63-4c1f0e7a8b21")

#: The Agent Server's namespace for per-graph system assistants (not RFC 4122's NAMESPACE_URL).
SYSTEM_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

#: Every metadata key the controller writes starts with this (manifests may not use it).
KEY_PREFIX = "controller/"
#: What an owner may be: a controller.yaml ``owner:``, ``--owner`` or ``CONTROLLER_OWNER``.
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

OWNER_KEY = "controller/owner"
NAME_KEY = "controller/name"
REVISION_KEY = "controller/revision"
SOURCE_KEY = "controller/source"
#: On a temporary ``smoke: before`` candidate: the id of the assistant it stands for.
CANDIDATE_KEY = "controller/candidate"
#: Written by controllers before verdicts were notes (engine/verdicts.py reads it): on a
#: version that undid failed changes, the numbers of the versions that failed.
LEGACY_FAILED_KEY = "controller/failed"
#: A fresh id per PATCH attempt, so apply can tell its own write when it lands late
#: (a proxy held it past the timeout); it differs on every write, so it is never compared.
WRITE_KEY = "controller/write"
#: The prompt files a version was built from (paths from the project root), so a reviewer
#: reading ``history`` can find them.
PROMPTS_KEY = "controller/prompts"
#: Written for people reading the server, never compared: a new commit alone is no change.
INFORMATIONAL_KEYS = frozenset({REVISION_KEY, SOURCE_KEY, LEGACY_FAILED_KEY, WRITE_KEY, PROMPTS_KEY})

#: Keys the server strips silently from requests (docs/servers.md, "Conventions").
RESERVED_METADATA_KEYS = frozenset(
    {"thread_id", "assistant_id", "run_id", "cron_id", "counters_since_delta_snapshot"}
)
RESERVED_CONFIGURABLE_KEYS = frozenset(
    {
        "langgraph_auth_user",
        "langgraph_auth_user_id",
        "langgraph_auth_permissions",
        "langgraph_request_id",
        "__langsmith_project__",
        "__langsmith_example_id__",
        "__request_start_time_ms__",
        "__after_seconds__",
        "__otel_traceparent__",
        "__otel_tracestate__",
        "__dd_trace_headers__",
        "__pregel_node_finished",
        "__context_provided__",
    }
)


def assistant_id_for(owner: str, name: str) -> str:
    """The id a manifest's assistant gets, so a retried create can never duplicate:
    ``str(uuid.uuid5(NAMESPACE, f"{owner}/{name}"))``, computed without the UUID object
    (a plan of 10,000 manifests makes 10,000 of them)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{owner}/{name}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES = NAMESPACE.bytes


def system_assistant_id(graph_id: str) -> str:
    """The id of the server's default assistant for ``graph_id``."""
    return str(uuid.uuid5(SYSTEM_NAMESPACE, graph_id))


@dataclass(frozen=True)
class Content:
    """The user-visible content of one assistant version, as the server stores it."""

    graph_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: dict[str, Any], *, owned: bool = False) -> Content:
        """Read an assistant or version object of the Agent Server API.

        ``owned``: ``body`` was just decoded for this call and nothing else holds it, so
        its dicts are taken as they are (a remote apply reads one per request: copying
        each was a measurable part of the client's CPU per request).
        """
        take = (lambda value: value or {}) if owned else (lambda value: copy.deepcopy(value or {}))
        return cls(
            graph_id=body.get("graph_id", ""),
            name=body.get("name") or "",
            description=body.get("description"),
            config=take(body.get("config")),
            context=take(body.get("context")),
            metadata=take(body.get("metadata")),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "graph_id": self.graph_id,
            "name": self.name,
            "description": self.description,
            "config": copy.deepcopy(self.config),
            "context": copy.deepcopy(self.context),
            "metadata": copy.deepcopy(self.metadata),
        }

    @property
    def owner(self) -> str | None:
        return self.metadata.get(OWNER_KEY)

    @property
    def is_system(self) -> bool:
        return self.metadata.get("created_by") == "system"

    def with_metadata(self, **changes: Any) -> Content:
        return replace(self, metadata={**self.metadata, **changes})

    def values_at(self, paths: Iterable[tuple]) -> set[str]:
        """The string values at ``paths`` (e.g. the sensitive ones), for output to redact."""
        found = set()
        for path in paths:
            node: Any = self.to_api()
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str) and node:
                found.add(node)
        return found


_SCALARS = (str, int, float, bool, type(None))


def plain_copy(value: Any) -> Any:
    """A deep copy of plain JSON-like data, several times faster than ``copy.deepcopy``
    (which a plan of 10,000 assistants calls 40,000 times); anything else is deep-copied."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    if isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)


# -- the server's configurable <-> context rule (docs/servers.md, quirk 4) ---------------

def mirrored(config: dict[str, Any], context: dict[str, Any]) -> tuple[dict, dict]:
    """Apply the server's configurable↔context rule to a write (create or PATCH).

    A non-empty ``configurable`` is copied to ``context``; otherwise a non-empty
    ``context`` is copied to ``configurable`` (appended last, as the server does).
    The inputs are never changed; the result may share nested values with them (a
    content is a value: nothing changes one in place).
    """
    config = dict(config or {})
    configurable = config.get("configurable") or {}
    if configurable:
        return config, dict(configurable)
    context = dict(context or {})
    if context:
        config.pop("configurable", None)
        config["configurable"] = dict(context)
    return config, context


def declared(content: Content) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (config, context) a user would declare for ``content``: the inverse of :func:`mirrored`.

    A non-empty ``configurable`` carries the values (its mirrored context is not a second
    value); without one, ``context`` does and ``config`` has no ``configurable``.
    """
    config = plain_copy(content.config or {})
    if config.get("configurable"):
        return config, {}
    config.pop("configurable", None)
    return config, plain_copy(content.context or {})


def mirror_path(path: tuple) -> tuple | None:
    """Where the server mirrors the value at ``path``: ``config.configurable.x`` ↔ ``context.x``."""
    if path[:2] == ("config", "configurable"):
        return ("context", *path[2:])
    if path[:1] == ("context",):
        return ("config", "configurable", *path[1:])
    return None


def with_removals(content: Content, live: Content) -> Content:
    """``content`` as a write over ``live``: metadata keys it lacks are written as null,
    because the server merges metadata and can never delete a key."""
    removed = {k: None for k, v in live.metadata.items() if k not in content.metadata and v is not None}
    return content.with_metadata(**removed) if removed else content


def canonical(content: Content, mirror_as: str = "configurable") -> dict[str, Any]:
    """The comparable form of ``content``: server rewrites undone, noise dropped.

    - an empty ``configurable`` equals none, and a ``context`` that mirrors the
      configurable is not a second value (``context`` is kept only when it carries
      information of its own: no configurable, or diverged from it);
    - metadata keys with null values count as absent (removal is written as null),
      and the informational ``controller/revision``/``controller/source``/``controller/write``
      are dropped;
    - an empty description equals none (the server cannot PATCH it back to null).

    ``mirror_as="context"`` shows a mirrored pair as ``context`` instead, for display
    of assistants declared with ``context`` (equality is the same either way).
    """
    config = plain_copy(content.config or {})
    configurable = config.get("configurable") or {}
    if not configurable:
        config.pop("configurable", None)
    context = plain_copy(content.context or {})
    out: dict[str, Any] = {
        "graph_id": content.graph_id,
        "name": content.name,
        "description": content.description or None,
        "config": config,
        "metadata": {
            k: v
            for k, v in (content.metadata or {}).items()
            if v is not None and k not in INFORMATIONAL_KEYS
        },
    }
    if not configurable or context != configurable:
        out["context"] = context
    elif mirror_as == "context":
        del config["configurable"]
        out["context"] = context
    return out


def same_content(a: Content, b: Content) -> bool:
    return canonical(a) == canonical(b)


def content_hash(content: Content) -> str:
    """A hash of :func:`canonical`: equal hashes mean the same content, so a no-op plan
    compares hashes and looks at full content only where they differ. (Different hashes
    do not prove a difference: ``1`` and ``1.0`` compare equal but print differently.)"""
    text = json.dumps(canonical(content), sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
