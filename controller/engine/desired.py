"""Manifests → the content each assistant should have (pure; no I/O)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from controller.config.loader import LoadedManifest
from controller.config.manifest import SmokeCase
from controller.config.yamlio import Document
from controller.core.content import (
    NAME_KEY,
    OWNER_KEY,
    REVISION_KEY,
    SOURCE_KEY,
    Content,
    assistant_id_for,
    content_hash,
    mirror_path,
    mirrored,
)

#: Where a manifest's spec fields land in the assistant's content.
_SPEC_TO_CONTENT = {"graph": "graph_id", "displayName": "name", "description": "description",
                    "config": "config", "context": "context", "metadata": "metadata"}

ContentPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Declaration:
    """What a planned change keeps of its manifest: who it is, where it was declared,
    how to test it, and which values to mask. Shared by :class:`Desired` and ``Change``."""

    name: str
    assistant_id: str
    source: str = ""
    smoke: tuple[SmokeCase, ...] = ()
    #: Content paths whose value came from the environment (masked in all output).
    sensitive: frozenset[ContentPath] = frozenset()
    #: The template of each sensitive value, so a plan file can hold it instead of the value.
    templates: Mapping[ContentPath, str] = field(default_factory=dict)
    #: How to show a configurable↔context pair: as the manifest wrote it.
    mirror_as: str = "configurable"


class Declared:
    """Read access to a :class:`Declaration` held as ``declared`` (Desired and Change)."""

    declared: Declaration

    @property
    def name(self) -> str:
        return self.declared.name

    @property
    def assistant_id(self) -> str:
        return self.declared.assistant_id

    @property
    def source(self) -> str:
        return self.declared.source

    @property
    def smoke(self) -> tuple[SmokeCase, ...]:
        return self.declared.smoke

    @property
    def sensitive(self) -> frozenset[ContentPath]:
        return self.declared.sensitive

    @property
    def templates(self) -> Mapping[ContentPath, str]:
        return self.declared.templates

    @property
    def mirror_as(self) -> str:
        return self.declared.mirror_as


@dataclass(frozen=True)
class Desired(Declared):
    """One assistant as the manifests declare it."""

    declared: Declaration
    content: Content
    pin: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    document: Document | None = field(default=None, compare=False, repr=False)

    @cached_property
    def content_hash(self) -> str:
        return content_hash(self.content)

    def location(self, document_path: tuple[str | int, ...] = ()) -> tuple[str, int]:
        """(file, line) of a manifest field, for error messages."""
        file, _, line = self.source.rpartition(":")
        if self.document is not None and document_path:
            return file, self.document.line_of(document_path)
        return file, int(line) if line.isdigit() else 0


def content_path(document_path: tuple[str | int, ...]) -> ContentPath | None:
    """``("spec", "config", "configurable", "model")`` → ``("config", "configurable", "model")``."""
    if len(document_path) >= 2 and document_path[0] == "spec" and document_path[1] in _SPEC_TO_CONTENT:
        return (_SPEC_TO_CONTENT[document_path[1]], *document_path[2:])
    return None


def desired_state(item: LoadedManifest, owner: str, revision: str | None = None, root: str | None = None,
                  sources: dict[str, str] | None = None) -> Desired:
    """``sources``: file → its path from ``root``, shared by the calls of one load (a file holds
    several manifests). A manifest loaded from the store brings its id and content hash."""
    m = item.view
    config, context = mirrored(m.config, m.context)
    metadata: dict[str, Any] = {**m.metadata, OWNER_KEY: owner, NAME_KEY: m.name}
    metadata[SOURCE_KEY] = _source(item.file, root, sources)
    if revision:
        metadata[REVISION_KEY] = revision
    content = Content(
        graph_id=m.graph,
        name=m.display_name or m.name,
        description=m.description,
        config=config,
        context=context,
        metadata=metadata,
    )
    sensitive: set[ContentPath] = set()
    templates: dict[ContentPath, str] = {}
    for doc_path in item.sensitive:
        path = content_path(doc_path)
        if path is None:
            continue
        # the server mirrors configurable and context into each other: both sides are sensitive
        for p in (path, mirror_path(path)):
            if p is not None:
                sensitive.add(p)
                templates[p] = item.templates[doc_path]
    fingerprint = item.fingerprint(owner)
    if fingerprint is not None:
        assistant_id = fingerprint[0]
    else:
        assistant_id = (m.assistant_id or assistant_id_for(owner, m.name)).lower()
    desired = Desired(
        declared=Declaration(
            name=m.name,
            assistant_id=assistant_id,
            source=item.location,
            smoke=tuple(item.manifest.spec.smoke) if m.has_smoke else (),
            sensitive=frozenset(sensitive),
            templates=templates,
            mirror_as="context" if m.context and not m.config.get("configurable") else "configurable",
        ),
        content=content,
        pin=m.active_version if isinstance(m.active_version, int) else None,
        labels=dict(m.labels),
        document=item.document,
    )
    if fingerprint is not None:
        # the hash ignores the source and revision: the stored one is this content's (cached_property's slot)
        desired.__dict__["content_hash"] = fingerprint[1]
    else:
        item.remember(owner, assistant_id, desired.content_hash)
    return desired


def _source(file: str, root: str | None, sources: dict[str, str] | None) -> str:
    if not root:
        return file
    if sources is None:
        return os.path.relpath(os.path.abspath(file), root)
    found = sources.get(file)
    if found is None:
        found = sources[file] = os.path.relpath(os.path.abspath(file), root)
    return found
