"""The steps every command shares: settings → target → manifests → desired → plan.

Commands (cli.py) and watch mode (watch.py) both go through here, so `plan`,
`apply` and a watch tick always compute the same plan for the same inputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from controller.desired import Desired, desired_state
from controller.errors import ControllerError, InvalidInput, Problem
from controller.loader import LoadedManifest, ParseCache, load_manifests
from controller.observe import observe
from controller.plan import Plan, make_plan
from controller.settings import Settings, TargetSpec, git_revision, load_settings
from controller.targets.base import Target


def open_target(spec: TargetSpec, environ: Mapping[str, str] | None = None) -> Target:
    if spec.url:
        from controller.targets.remote import RemoteTarget

        key_env, key = spec.api_key_from(environ)
        if spec.api_key_env and key is None:  # named but unset: fail before any request, not with a 401
            raise ControllerError(f"{spec.api_key_env} (targets.{spec.name}.apiKeyEnv) is not set")
        return RemoteTarget(spec.url, key, concurrency=spec.concurrency, source=spec.url_source, api_key_env=key_env)
    from controller.targets.embedded import EmbeddedTarget

    return EmbeddedTarget(spec.embedded or ".controller/state.db", spec.graphs)


def parse_selector(selector: str | None) -> dict[str, str]:
    """``team=content,tier=gold`` → {"team": "content", "tier": "gold"}."""
    out: dict[str, str] = {}
    for part in (selector or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInput([Problem(message=f"invalid selector {part!r}: use key=value[,key=value]")])
        out[key.strip()] = value.strip()
    return out


@dataclass
class Workspace:
    """Where the manifests are, who owns what they make, and which target they go to."""

    paths: list[str]
    settings: Settings
    spec: TargetSpec
    #: Parsed files to reuse when their text is unchanged (watch keeps one across reconciles).
    parsed: ParseCache | None = None

    @classmethod
    def load(cls, paths: list[str], *, config: str | None = None, target: str | None = None,
             url: str | None = None, concurrency: int | None = None) -> "Workspace":
        paths = paths or ["."]
        settings = load_settings(paths, config)
        return cls(paths, settings, settings.target(target, url, concurrency=concurrency))

    def manifests(self, environ: Mapping[str, str] | None = None) -> list[LoadedManifest]:
        return load_manifests(self.paths, self.spec.values, os.environ if environ is None else environ, self.parsed)

    def desired(self, selector: dict[str, str] | None = None, environ: Mapping[str, str] | None = None) -> list[Desired]:
        revision = git_revision(self.settings.root)
        items = [desired_state(m, self.settings.owner, revision, self.settings.root) for m in self.manifests(environ)]
        if selector:
            items = [d for d in items if all(d.labels.get(k) == v for k, v in selector.items())]
        return items


async def compute_plan(
    ws: Workspace, target: Target, desired: list[Desired], *, prune: bool = False, adopt: bool = False,
    selector: dict[str, str] | None = None,
) -> Plan:
    if prune and selector:
        raise InvalidInput([Problem(message="--prune with -l would delete assistants outside the selection; prune without a selector")])
    if prune and not desired:
        raise InvalidInput([Problem(message="--prune refused: no manifest was loaded, so every owned assistant would be deleted")])
    seen = await observe(target, desired, ws.settings.owner)
    return make_plan(
        desired, seen.assistants, seen.owned, seen.graphs, owner=ws.settings.owner,
        target=ws.spec.label, faithful_repin=target.faithful_repin, prune=prune, adopt=adopt,
    )
