"""Manifests → the content each assistant should have (pure; no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from controller.config.loader import LoadedManifest
from controller.config.store import Table
from controller.config.yamlio import Document
from controller.core.content import (
    NAME_KEY,
    OWNER_KEY,
    PROMPTS_KEY,
    REVISION_KEY,
    SOURCE_KEY,
    Content,
    assistant_id_for,
    content_hash,
    mirror_path,
    mirrored,
)

if TYPE_CHECKING:
    from controller.config.manifest import EvalSpec, SmokeCase
    from controller.evals.dataset import Home

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
    #: The smoke cases, or a function that builds them when first needed: a no-op plan of
    #: many manifests never validates their models.
    cases: tuple[SmokeCase, ...] | Callable[[], tuple[SmokeCase, ...]] = field(default=(), compare=False, repr=False)
    #: Content paths whose value came from the environment (masked in all output).
    sensitive: frozenset[ContentPath] = frozenset()
    #: The template of each sensitive value, so a plan file can hold it instead of the value.
    templates: Mapping[ContentPath, str] = field(default_factory=dict)
    #: How to show a configurable↔context pair: as the manifest wrote it.
    mirror_as: str = "configurable"
    #: Where values not written in the manifest came from (a prompt file, a Defaults document),
    #: by content path: a plan names it beside a change.
    origins: Mapping[ContentPath, str] = field(default_factory=dict, compare=False)
    #: The evals (``spec.evals``), or a function that builds them when first needed (as ``cases``).
    evaluations: tuple[EvalSpec, ...] | Callable[[], tuple[EvalSpec, ...]] = field(default=(), compare=False, repr=False)
    #: Where each eval is written (the manifest, or a Defaults document): its dataset is relative to that file.
    eval_homes: tuple[Home, ...] = field(default=(), compare=False, repr=False)

    @cached_property
    def smoke(self) -> tuple[SmokeCase, ...]:
        return self.cases() if callable(self.cases) else self.cases

    @cached_property
    def evals(self) -> tuple[EvalSpec, ...]:
        return self.evaluations() if callable(self.evaluations) else self.evaluations

    @property
    def file(self) -> str:
        """The manifest's file (``source`` without its line)."""
        return self.source.rpartition(":")[0] if self.source.rpartition(":")[2].isdigit() else self.source

    @classmethod
    def of(cls, name: str, assistant_id: str, source: str) -> Declaration:
        """Who and where, the rest as its defaults (an assistant a record says is in sync),
        made without the generated ``__init__``: a plan of 10,000 recorded noops makes one each."""
        made = object.__new__(cls)
        made.__dict__.update(_DECLARATION_DEFAULTS, name=name, assistant_id=assistant_id, source=source)
        return made


_DECLARATION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Declaration)
                         if f.default is not dataclasses.MISSING}
_DECLARATION_DEFAULTS["templates"] = {}


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
    def evals(self) -> tuple[EvalSpec, ...]:
        return self.declared.evals

    @property
    def file(self) -> str:
        return self.declared.file

    @property
    def eval_homes(self) -> tuple[Home, ...]:
        return self.declared.eval_homes

    @property
    def sensitive(self) -> frozenset[ContentPath]:
        return self.declared.sensitive

    @property
    def templates(self) -> Mapping[ContentPath, str]:
        return self.declared.templates

    @property
    def mirror_as(self) -> str:
        return self.declared.mirror_as

    @property
    def origins(self) -> Mapping[ContentPath, str]:
        return self.declared.origins


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


def by_content_path(by_document_path: Mapping[tuple[str | int, ...], str]) -> dict[ContentPath, str]:
    """Values by document path → by content path. The server mirrors configurable and context
    into each other, so a value at one is at the other too."""
    out: dict[ContentPath, str] = {}
    for doc_path, value in by_document_path.items():
        path = content_path(doc_path)
        if path is None:
            continue
        for p in (path, mirror_path(path)):
            if p is not None:
                out[p] = value
    return out


def _sensitive(document_templates: Mapping[tuple[str | int, ...], str]) -> tuple[frozenset[ContentPath], dict[ContentPath, str]]:
    """Content paths whose value came from the environment (both sides of a mirrored pair), and their templates."""
    templates = by_content_path(document_templates)
    return frozenset(templates), templates


def secrets_of(sensitive: frozenset[ContentPath], *contents: Content | None) -> set[str]:
    """The values at ``sensitive`` paths of each content (new, live, restored): output about
    runs of them must show none (a live value may be a secret an earlier run wrote)."""
    found: set[str] = set()
    for content in contents:
        if content is not None:
            found |= content.values_at(sensitive)
    return found


def _eval_homes(item: LoadedManifest) -> tuple[Home, ...]:
    """Where each of the manifest's evals is written (none: nothing imported)."""
    evals = item.data["spec"].get("evals")
    if not evals:
        return ()
    from controller.evals.dataset import eval_homes

    return eval_homes(len(evals), item.origins, item.file, item.source)


#: Memo of each manifest's (assistant id, content hash) per owner, keyed by the manifest's digest.
MEMO = "desired"


def desired_state(item: LoadedManifest, owner: str, revision: str | None = None, memo: Table[Any] | None = None) -> Desired:
    """The assistant ``item`` declares for ``owner``, with the git ``revision`` it was read at.

    ``memo``: a store table (``LoadStore.memo(MEMO)``) of assistant ids and content hashes by
    manifest digest and owner. Both are pure functions of the two, and hashing 10,000
    contents would be a fifth of a no-op plan."""
    m = item.view
    config, context = mirrored(m.config, m.context)
    metadata: dict[str, Any] = {**m.metadata, OWNER_KEY: owner, NAME_KEY: m.name, SOURCE_KEY: item.source}
    if revision:
        metadata[REVISION_KEY] = revision
    if item.files:
        metadata[PROMPTS_KEY] = list(item.files)
    content = Content(m.graph, m.display_name or m.name, m.description, config, context, metadata)
    sensitive, templates = _sensitive(item.templates) if item.templates else (frozenset(), {})
    key = f"{item.digest}/{owner}" if memo is not None and item.digest else None
    of_file = memo.get(key) if memo is not None and key else None  # the file's: {index: [id, hash]}
    known = of_file.get(str(item.index)) if type(of_file) is dict else None
    if not (type(known) is list and len(known) == 2 and type(known[0]) is str and type(known[1]) is str):
        known = None
    desired = Desired(
        Declaration(
            m.name,
            known[0] if known else (m.assistant_id or assistant_id_for(owner, m.name)).lower(),
            item.location,
            (lambda: tuple(item.manifest.spec.smoke)) if m.has_smoke else (),
            sensitive,
            templates,
            "context" if m.context and not m.config.get("configurable") else "configurable",
            by_content_path(item.origins) if item.origins else {},
            (lambda: tuple(item.manifest.spec.evals)) if item.data["spec"].get("evals") else (),
            _eval_homes(item),
        ),
        content,
        m.active_version if type(m.active_version) is int else None,
        m.labels,
        item.document,
    )
    if known:
        desired.__dict__["content_hash"] = known[1]  # (the cached_property's slot)
    elif memo is not None and key:
        memo.put(key, {**(of_file if type(of_file) is dict else {}), str(item.index): [desired.assistant_id,
                                                                                       desired.content_hash]})
    return desired
