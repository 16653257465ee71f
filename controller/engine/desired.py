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


def desired_state(item: LoadedManifest, owner: str, revision: str | None = None, root: str | None = None) -> Desired:
    m = item.manifest
    spec = m.spec
    config, context = mirrored(spec.config, spec.context)
    metadata: dict[str, Any] = {**spec.metadata, OWNER_KEY: owner, NAME_KEY: m.metadata.name}
    metadata[SOURCE_KEY] = os.path.relpath(os.path.abspath(item.file), root) if root else item.file
    if revision:
        metadata[REVISION_KEY] = revision
    content = Content(
        graph_id=spec.graph,
        name=spec.displayName or m.metadata.name,
        description=spec.description,
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
    assistant_id = (m.metadata.assistantId or assistant_id_for(owner, m.metadata.name)).lower()
    return Desired(
        declared=Declaration(
            name=m.metadata.name,
            assistant_id=assistant_id,
            source=item.location,
            smoke=tuple(spec.smoke),
            sensitive=frozenset(sensitive),
            templates=templates,
            mirror_as="context" if spec.context and not spec.config.get("configurable") else "configurable",
        ),
        content=content,
        pin=spec.activeVersion if isinstance(spec.activeVersion, int) else None,
        labels=dict(m.metadata.labels),
        document=item.document,
    )
