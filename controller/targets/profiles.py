"""What each kind of target can do and how it differs: one profile per server, chosen once.

Servers that speak the Agent Server API do not all behave alike, and the reconciler must
know how before it writes. Each difference is a field here, not a branch in the remote
target, and the conformance suite (tests/targets/test_conformance.py) asserts every
profile's claims against its real server:

- how large a page of search results may be (the official server takes 1000, Aegra 100
  and answers 422 above), and whether ``/versions`` pages at all (Aegra answers every
  version at once, whatever ``limit`` and ``offset`` say);
- what "set latest version" restores: the official server keeps the live ``context`` and
  ``graph_id`` (docs/servers.md, quirk 5), Aegra and the embedded target restore the
  whole version. Plan asks this to tell a faithful repin from one that needs an update;
- whether the server refuses a second assistant of one graph with an identical config
  (Aegra: 409 on create, 500 on update, 500 on set-latest). Plan reports such manifests
  and orders writes so that the one freeing a config goes before the one taking it;
- where an error body keeps its message (``{"detail"}``, or Aegra's ``{"error", "message"}``).

The remote target learns its server from ``GET /info``, which both servers answer without
authentication; a server it does not recognise gets :data:`UNKNOWN`, whose claims are the
cautious ones (predict the least a set-latest restores, learn the page size from a 422).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from controller.core.content import Content


@dataclass(frozen=True)
class ServerProfile:
    """One kind of target's abilities and differences (see the module docstring)."""

    #: Short and stable: ``agent-server``, ``aegra``, ``unknown``, ``embedded``.
    name: str
    #: How messages name it: ``Aegra 0.11.0``, ``the Agent Server (langgraph-api 0.16.7)``.
    title: str
    #: Page sizes for listings, largest first: the first one the server accepts is used.
    page_sizes: tuple[int, ...] = (1000,)
    #: Whether ``/versions`` honours ``limit`` and ``offset`` (else one request lists them all).
    versions_paged: bool = True
    #: Content fields set-latest leaves as they are live instead of restoring the version's.
    set_active_keeps: frozenset[str] = frozenset()
    #: Refuses a second assistant of one graph with an identical config.
    unique_graph_config: bool = False
    #: The keys of an error body that carry its message, in the order to look.
    error_keys: tuple[str, ...] = ("detail",)
    #: What a 500 answering a write most likely means here ("" when nothing in particular).
    write_500_hint: str = ""

    def predict_set_active(self, version: Content, live: Content) -> Content:
        """What making ``version`` active gives over the ``live`` content, on this target.

        The official server's set-latest keeps the live context and graph_id, so a repin there
        is faithful only when those already match; plan and apply ask here instead of encoding
        one server's quirk."""
        if not self.set_active_keeps:
            return version
        return dataclasses.replace(version, **{f: getattr(live, f) for f in sorted(self.set_active_keeps)})

    @property
    def rule(self) -> str:
        """The unique (graph, config) rule in words, for messages ("" when it has none)."""
        return f"{self.title} allows one assistant per graph and config" if self.unique_graph_config else ""

    def config_key(self, content: Content | None) -> str | None:
        """What the unique rule compares: the graph and the config as the server stores it
        (``configurable`` mirrored from ``context``, an empty one written as ``{}``);
        None without such a rule, without content, or for a server's own default assistant."""
        if not self.unique_graph_config or content is None or content.is_system:
            return None
        config = dict(content.config or {})
        config["configurable"] = config.get("configurable") or content.context or {}
        return json.dumps([content.graph_id, config], sort_keys=True, separators=(",", ":"), default=repr)


#: The official Agent Server: ``langgraph dev``, LangSmith Deployment, self-hosted langgraph-api.
AGENT_SERVER = ServerProfile(
    "agent-server", "the Agent Server", page_sizes=(1000,), versions_paged=True,
    set_active_keeps=frozenset({"context", "graph_id"}), error_keys=("detail",),
)

#: Aegra (aegra-api), an open-source Agent Server on PostgreSQL.
AEGRA = ServerProfile(
    "aegra", "Aegra", page_sizes=(100,), versions_paged=False, unique_graph_config=True,
    error_keys=("message", "detail"),
    write_500_hint="Aegra answers 500 when another assistant of this graph has this config",
)

#: A server that answers the API but not as a known one: the cautious claims.
UNKNOWN = ServerProfile(
    "unknown", "the server", page_sizes=(1000, 100), versions_paged=True,
    set_active_keeps=frozenset({"context", "graph_id"}), error_keys=("detail", "message"),
)

#: The embedded target: set-active restores whole versions; no listing limits, no unique rule.
EMBEDDED = ServerProfile("embedded", "the embedded target", page_sizes=(), error_keys=())


def identify(info: Any) -> ServerProfile:
    """The profile of the server whose ``GET /info`` answered ``info`` (decoded JSON)."""
    if not isinstance(info, dict):
        return UNKNOWN
    version = info.get("version")
    version = version if isinstance(version, str) and version else None
    if str(info.get("name") or "").strip().lower() == "aegra":
        return dataclasses.replace(AEGRA, title=f"Aegra {version}" if version else "Aegra")
    if "langgraph_py_version" in info or isinstance(info.get("host"), dict):
        title = f"the Agent Server (langgraph-api {version})" if version else "the Agent Server"
        return dataclasses.replace(AGENT_SERVER, title=title)
    return UNKNOWN
