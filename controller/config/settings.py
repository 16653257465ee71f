"""controller.yaml discovery and target resolution: which target, which owner.

The project root is found from the current directory, never from a PATH argument:
the folder of the controller.yaml found walking up (or ``--config``), else the git top
level, else the current directory. PATHs only select manifests, so every command run
anywhere in the project agrees on the state file, the owner and ``controller/source``.

Without a controller.yaml the target is the embedded store at
``<root>/.controller/state.db`` with graphs from the nearest ``langgraph.json``. The
owner is ``--owner``, else ``CONTROLLER_OWNER``, else ``owner:`` in controller.yaml,
else (embedded targets only) the root folder's name, so a fresh clone works with no
setup. A remote target is shared: a folder name would differ between checkouts and
create duplicates, so there the owner must be explicit.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from controller.config.interpolate import Values
from controller.config.projectfile import ProjectConfig, TargetEntry, load_config
from controller.config.store import LoadStore
from controller.core import content
from controller.core.environ import process_environ
from controller.core.errors import ControllerError, InvalidInput, Problem
from controller.core.fs import display_path, find_up

CONFIG_NAMES = ("controller.yaml", "controller.yml")
API_KEY_ENVS = ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")
DEFAULT_MAX_DELETES = 10
#: Requests in flight to a remote target. A deployment is ~20 ms away and the client
#: spends ~1 ms of CPU per request, so 8 leaves the connection idle most of the time;
#: 32 took 1,000 creates behind a 20 ms proxy from 5.1 s to 3.8 s (benchmarks/bench_remote.py).
DEFAULT_CONCURRENCY = 32
#: Smoke-test runs at once: runs are graph executions that the server's workers queue,
#: so more of them in flight only eat into each run's timeout.
SMOKE_CONCURRENCY = 8
OWNER_ENV = "CONTROLLER_OWNER"
#: Where the owner came from, as messages and plan headers name it.
OWNER_FROM_FLAG, OWNER_FROM_ENV, OWNER_FROM_CONFIG = "--owner", OWNER_ENV, "controller.yaml"
OWNER_DEFAULT = "default: name of the project root folder"
OWNER_PATTERN = re.compile(content.OWNER_PATTERN)
OWNER_HOWTO = f"set owner: in controller.yaml, or pass --owner NAME, or set {OWNER_ENV}"


class OwnerRequired(ControllerError):
    """A remote target without an explicit owner: refused before any request."""


@dataclass(frozen=True)
class TargetSpec:
    """A resolved target: everything needed to open it, paths made absolute."""

    name: str
    url: str | None = None
    api_key_env: str | None = None
    embedded: str | None = None
    graphs: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    smoke: Literal["after", "before"] = "after"
    max_deletes: int = DEFAULT_MAX_DELETES
    concurrency: int = DEFAULT_CONCURRENCY
    #: Seconds a write to a remote target waits for its answer (None: the target's default).
    write_timeout: float | None = None
    #: The URL was given with ``--url`` (for an ad-hoc target, or a named target's settings at another URL).
    from_flag: bool = False
    #: One-line warnings about how the target was chosen (for the command line to show).
    notes: tuple[str, ...] = ()
    #: ``<root>/.controller/cache``: what may be rebuilt (graph schemas); None: no cache.
    cache_dir: str | None = None

    @property
    def kind(self) -> str:
        return "remote" if self.url else "embedded"

    @property
    def label(self) -> str:
        """Where, for messages and plan files (never includes a secret)."""
        return self.url if self.url else f"embedded {display_path(self.embedded or '')}"

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        return self.api_key_from(environ)[1]

    def api_key_from(self, environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
        """(variable, key): the variable is named in messages when the server rejects the key."""
        environ = process_environ() if environ is None else environ
        names = (self.api_key_env,) if self.api_key_env else API_KEY_ENVS
        for name in names:
            value = (environ.get(name) or "").strip().strip("'\"").strip()
            if value:
                return name, value
        return None, None

    @property
    def url_source(self) -> str:
        """Where the URL was set, for messages: ``--url`` or ``targets.<name>.url``."""
        return "--url" if self.from_flag else f"targets.{self.name}.url"


@dataclass(frozen=True)
class Settings:
    root: str
    owner: str
    config_file: str | None
    config: ProjectConfig | None
    #: How the owner was chosen: ``--owner``, ``CONTROLLER_OWNER``, ``controller.yaml`` or the default.
    owner_source: str = OWNER_DEFAULT
    #: What may be rebuilt (the load store, graph schemas): ``<root>/.controller/cache`` unless
    #: the project lives in a checkout that is cleaned (watch --git keeps it beside).
    cache_dir: str = ""

    @property
    def owner_explicit(self) -> bool:
        return self.owner_source != OWNER_DEFAULT

    @property
    def owner_label(self) -> str:
        """``owner 'acme' (controller.yaml)``: who, and why, for messages."""
        return f"owner {self.owner!r} ({self.owner_source})"

    def require_owner(self, spec: TargetSpec) -> None:
        """A remote target needs an explicit owner: raise before anything talks to it."""
        if spec.kind == "remote" and not self.owner_explicit:
            raise OwnerRequired(f"no owner for the remote target {spec.url}: {OWNER_HOWTO}")

    def target(
        self,
        name: str | None = None,
        url: str | None = None,
        environ: Mapping[str, str] | None = None,
        concurrency: int | None = None,
    ) -> TargetSpec:
        """The target chosen by ``-t``, ``CONTROLLER_TARGET``, ``--url``, defaultTarget, or the default.

        One name, one set of settings: ``-t NAME --url URL`` is NAME's settings (values, smoke
        mode, maxDeletes) at another URL; ``--url URL`` alone is the configured target with
        that URL when there is one (a service given the URL and a CI job given ``-t`` write
        the same content), else an ad-hoc target, whose ``notes`` warn of ``values`` unused."""
        environ = process_environ() if environ is None else environ
        targets = self.config.targets if self.config else {}
        name = name or environ.get("CONTROLLER_TARGET") or None
        if url and name is None:
            same = [n for n, t in targets.items() if t.url and t.url.rstrip("/") == url.rstrip("/")]
            name = same[0] if len(same) == 1 else None
            if name is None:
                spec = TargetSpec(name=url, url=url.rstrip("/"), from_flag=True, notes=self._unused_values(url))
                return self._finish(spec, concurrency)
        name = name or (self.config.defaultTarget if self.config else None)
        if name is None and len(targets) == 1:
            name = next(iter(targets))
        if name is None:
            spec = TargetSpec(name="default", embedded=os.path.join(self.root, ".controller", "state.db"),
                              graphs=find_langgraph_json(self.root))
        elif name not in targets:
            where = self.config_file or "no controller.yaml"
            raise InvalidInput([Problem(message=f"unknown target {name!r} (targets in {where}: {', '.join(targets) or 'none'})")])
        else:
            spec = self._from_config(name, targets[name])
        if url and spec.url is None:
            raise InvalidInput([Problem(path="--url", message=f"target {name!r} is embedded; --url names an Agent Server")])
        if url and spec.url != url.rstrip("/"):
            spec = dataclasses.replace(spec, url=url.rstrip("/"), from_flag=True)
        return self._finish(spec, concurrency)

    def _finish(self, spec: TargetSpec, concurrency: int | None) -> TargetSpec:
        if concurrency:
            spec = dataclasses.replace(spec, concurrency=concurrency)
        values = Values(spec.values, self.config.plain if self.config else ())  # what interpolation may show
        return dataclasses.replace(spec, cache_dir=self.cache_dir, values=values)

    def _unused_values(self, url: str) -> tuple[str, ...]:
        declared = sorted({k for t in (self.config.targets.values() if self.config else ()) for k in t.values})
        if not declared:
            return ()
        return (f"--url {url} is no target of controller.yaml, so no target's values apply to it "
                f"({', '.join(declared)}); name the target with -t NAME to use its settings at this URL",)

    def _from_config(self, name: str, t: TargetEntry) -> TargetSpec:
        base = os.path.dirname(os.path.abspath(self.config_file)) if self.config_file else self.root
        embedded = os.path.normpath(os.path.join(base, t.embedded)) if t.embedded else None
        graphs = os.path.normpath(os.path.join(base, t.graphs)) if t.graphs else (
            find_langgraph_json(self.root) if embedded else None
        )
        return TargetSpec(
            name=name,
            url=t.url.rstrip("/") if t.url else None,
            api_key_env=t.apiKeyEnv,
            embedded=embedded,
            graphs=graphs,
            values=dict(t.values),
            smoke=t.smoke or "after",
            max_deletes=DEFAULT_MAX_DELETES if t.maxDeletes is None else t.maxDeletes,
            concurrency=t.concurrency or DEFAULT_CONCURRENCY,
            write_timeout=t.writeTimeout,
        )


def find_langgraph_json(start: str) -> str | None:
    """The nearest langgraph.json at or above ``start``."""
    return find_up(start, ("langgraph.json",))


def git_toplevel(path: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", path, "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_revision(path: str, files: Sequence[str] = ()) -> str | None:
    """The commit the manifests are at (informational metadata), when in a git work tree.

    ``<sha>-dirty`` when any of ``files`` differs from HEAD, is untracked or ignored:
    the audit trail must not claim a commit the applied manifests are not in.
    """
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    sha = out.stdout.strip()
    if files and _dirty(path, files):
        return f"{sha}-dirty"
    return sha


def _dirty(path: str, files: Sequence[str]) -> bool:
    try:
        out = subprocess.run(
            ["git", "-C", path, "status", "--porcelain", "--ignored", "--untracked-files=all", "--",
             *(os.path.abspath(f) for f in files)],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: do not claim a clean commit
    # A manifest outside the work tree (git refuses the pathspec) is not at HEAD either.
    return out.returncode != 0 or bool(out.stdout.strip())


def find_config(start: str) -> str | None:
    """controller.yaml found by walking up from ``start`` (stopping at the git root)."""
    here = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    return find_up(here, CONFIG_NAMES, stop=git_toplevel(here))


def load_settings(
    config_file: str | None = None,
    *,
    cwd: str | None = None,
    owner: str | None = None,
    environ: Mapping[str, str] | None = None,
    cache_dir: str | None = None,
) -> Settings:
    """The project root, config and owner as seen from ``cwd`` (default: the current directory).

    ``owner`` is the ``--owner`` flag. PATH arguments play no part: they only select manifests.
    ``cache_dir``: where caches go instead of ``<root>/.controller/cache``.
    """
    environ = process_environ() if environ is None else environ
    here = os.path.abspath(cwd or os.getcwd())
    config_file = config_file or find_config(here)
    if config_file:
        root = os.path.dirname(os.path.abspath(config_file))
    else:
        root = git_toplevel(here) or here
    cache_dir = cache_dir or os.path.join(root, ".controller", "cache")
    config = load_config(config_file, LoadStore(cache_dir)) if config_file else None
    env_owner = (environ.get(OWNER_ENV) or "").strip()
    if owner:
        owner, source = _checked_owner(owner, OWNER_FROM_FLAG), OWNER_FROM_FLAG
    elif env_owner:
        owner, source = _checked_owner(env_owner, OWNER_FROM_ENV), OWNER_FROM_ENV
    elif config and config.owner:
        owner, source = config.owner, OWNER_FROM_CONFIG
    else:
        owner, source = os.path.basename(root) or "default", OWNER_DEFAULT
    return Settings(root=root, owner=owner, config_file=config_file, config=config, owner_source=source,
                    cache_dir=cache_dir)


def _checked_owner(owner: str, source: str) -> str:
    if not OWNER_PATTERN.match(owner):
        raise InvalidInput([Problem(path=source, message=(
            f"invalid owner {owner!r}: use letters, digits, '.', '_' and '-', 1-128 characters, "
            "starting with a letter or digit"))])
    return owner
