"""What loading returns: values, never written into by anything downstream.

Kept apart from the loader (config/loader.py, how files become these) so the code that
reads a load result (the desired state, render, watch) reads one small module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from controller.config.defaults import DefaultsSet
from controller.config.promptfiles import PromptFiles
from controller.config.store import Dependency, LoadStore
from controller.config.yamlio import Document, Path
from controller.core.environ import process_environ
from controller.core.errors import Problem

if TYPE_CHECKING:
    from controller.config.manifest import AssistantManifest


@dataclass(frozen=True)
class ManifestView:
    """What the desired state reads of a valid manifest, as plain data: built from the
    validated model, or from a stored load (checked, when stored, to equal the model's)."""

    name: str
    assistant_id: str | None
    labels: dict[str, str]
    graph: str
    display_name: str | None
    description: str | None
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    active_version: str | int
    has_smoke: bool


def view_of(data: Any) -> ManifestView:
    """The view of data that validated (raises on data of another shape: a damaged record)."""
    meta, spec = data["metadata"], data["spec"]
    return ManifestView(meta["name"], meta.get("assistantId"), dict(meta.get("labels") or {}), spec["graph"],
                        spec.get("displayName"), spec.get("description"), spec.get("config", {}), spec.get("context", {}),
                        spec.get("metadata", {}), spec.get("activeVersion", "latest"), bool(spec.get("smoke")))


def model_view(m: AssistantManifest) -> ManifestView:
    spec = m.spec
    return ManifestView(m.metadata.name, m.metadata.assistantId, dict(m.metadata.labels), spec.graph, spec.displayName,
                        spec.description, spec.config, spec.context, spec.metadata, spec.activeVersion, bool(spec.smoke))


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where it came from. ``data`` is what validated (the effective
    manifest: Defaults merged, prompt files read); the pydantic model is built from it only
    when something asks (smoke cases, import)."""

    #: The file as the user sees it (relative to the working directory when inside it).
    file: str
    #: The file's path from the project root: the assistant's ``controller/source``.
    source: str
    document: Document
    view: ManifestView
    data: dict[str, Any] = field(repr=False)
    #: The template (as written) of each document path whose value came from the environment.
    templates: Mapping[Path, str] = field(default_factory=dict)
    #: The file's digest (its text and what its dependencies are now: ``LoadStore.digest``)
    #: and the document's place in it: equal pairs, equal data. None without a store.
    digest: str | None = None
    index: int = 0
    #: Where values not written in this document came from, by document path: a prompt file
    #: (``prompts/blog.md``) or a Defaults document (``defaults/support.yaml:6``).
    origins: Mapping[Path, str] = field(default_factory=dict)
    #: The prompt files it read (paths from the project root; a template where the path was
    #: built from the environment).
    files: tuple[str, ...] = ()

    @property
    def sensitive(self) -> frozenset[Path]:
        """Document paths (``("spec", "config", ...)``) whose value came from the environment."""
        return frozenset(self.templates)

    @cached_property
    def manifest(self) -> AssistantManifest:
        from controller.config.manifest import AssistantManifest

        return AssistantManifest.model_validate(self.data)  # the data validated before: no error

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def line(self) -> int:
        return self.document.line

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class LoadOptions:
    """How to load: where ``${VAR}`` values come from, what an unset one is, where results are kept."""

    #: The target's ``values`` (they come before the environment, and are not sensitive).
    values: Mapping[str, str] = field(default_factory=dict)
    #: The environment ``${VAR}`` reads; None: the process's.
    environ: Mapping[str, str] | None = None
    #: The project root: ``.controllerignore``, ``controller/source`` paths and prompt files hang off it.
    root: str | None = None
    #: An unset variable is a warning, not an error (``validate`` without secrets); the
    #: manifest is still checked, with the unset templates left as written.
    unset_is_warning: bool = False
    store: LoadStore | None = None
    #: The Defaults documents in force; None: those of the files being loaded.
    defaults: DefaultsSet | None = None
    #: The prompt files of this load (each read once); None: a reader of its own.
    prompts: PromptFiles | None = None

    @property
    def env(self) -> Mapping[str, str]:
        return process_environ() if self.environ is None else self.environ  # never langgraph.json's env

    @cached_property
    def files(self) -> PromptFiles:
        return self.prompts if self.prompts is not None else PromptFiles(self.root)


@dataclass(frozen=True)
class FileKey:
    """What identifies a file's load result (with a store): its text's hash, the dependencies
    it has besides its text, and the digest of both as they are now (``LoadStore.digest``)."""

    text_key: str
    dependencies: tuple[Dependency, ...]
    digest: str


@dataclass
class FileLoads:
    """Each file's valid manifests (in the order given), and every problem found."""

    files: dict[str, list[LoadedManifest]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Unset variables, with ``unset_is_warning``.
    warnings: list[Problem] = field(default_factory=list)
    #: Each loaded file's key, when loaded with a store.
    keys: dict[str, FileKey] = field(default_factory=dict)
    #: The Defaults documents the manifests were merged with.
    defaults: DefaultsSet = field(default_factory=DefaultsSet)

    @property
    def manifests(self) -> list[LoadedManifest]:
        """Every file's, in order (a new list each time: keep it when using it more than once)."""
        return [m for items in self.files.values() for m in items]


@dataclass(frozen=True)
class FileText:
    """A file as read for loading: where it is, and its text (None: it could not be read
    or decoded, and loading it reports why)."""

    path: str
    explicit: bool
    #: As the user sees it (relative to the working directory when inside it).
    shown: str
    #: From the project root: the assistant's ``controller/source``.
    source: str
    text: str | None

    @property
    def base(self) -> str:
        """The folder, from the project root, that its prompt file paths are relative to."""
        return os.path.dirname(self.source)
