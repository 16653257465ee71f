"""What the last plan of an owner on a target found in sync, so the next one need not look again.

A no-op plan of 10,000 manifests loads, reads and compares every one of them, and a CI job
that runs it again (or an apply after a one-line edit) finds nearly all of them as they
were. Two cheap facts say when that is certain: the target's *generation* (the embedded
file says in one read whether anything was written since) and each manifest file's
*digest* (its text and what its variables resolve to). When both equal what a plan
recorded, that file's assistants are noops at the versions that plan saw, and only the
other files are loaded, read from the target and planned.

A record is a shortcut to the answer the full plan gives, never a second opinion: a file
is recorded only when every assistant it declares was a noop without a warning, and a
record made for another generation or other graphs is not used. Prunes, selectors and
adoptions plan everything. Kept in the project's load store (``synced.json``); deleting it
changes no result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.config.loader import FileKey
from controller.config.store import Dependency, LoadStore
from controller.targets.base import GraphInfo

MEMO = "synced"


@dataclass(frozen=True)
class SyncedManifest:
    """One assistant a recorded file declares, as the plan saw it: a noop at ``version``."""

    name: str
    assistant_id: str
    #: The manifest gives its id (``metadata.assistantId``): checked across files like its name.
    claims_id: bool
    #: The document's first line (the plan's ``source`` is ``file:line``).
    line: int
    version: int


@dataclass(frozen=True)
class SyncedFile:
    key: FileKey
    manifests: tuple[SyncedManifest, ...]


@dataclass(frozen=True)
class SyncRecord:
    """What was in sync at ``generation`` of the target, given graphs whose schemas hash to ``graphs``."""

    generation: str
    graphs: str
    #: Owned smoke candidates (left by a killed apply) were on the target at that generation.
    candidates: bool
    #: By absolute path.
    files: Mapping[str, SyncedFile]


def graphs_key(graphs: Mapping[str, GraphInfo]) -> str:
    """A hash of what the planner checks manifests against: the graphs and their schemas."""
    parts = {g: [i.config_schema, i.context_schema, i.error, i.schema_error] for g, i in graphs.items()}
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def _encode(record: SyncRecord) -> dict[str, Any]:
    return {"generation": record.generation, "graphs": record.graphs, "candidates": record.candidates,
            "files": {path: {"text_key": f.key.text_key, "digest": f.key.digest,
                             "dependencies": [[d.kind, d.name] for d in f.key.dependencies],
                             "manifests": [{"name": m.name, "assistant_id": m.assistant_id, "claims_id": m.claims_id,
                                            "line": m.line, "version": m.version} for m in f.manifests]}
                      for path, f in record.files.items()}}


def _decode(raw: Any) -> SyncRecord:
    files = {}
    for path, f in raw["files"].items():
        deps = tuple(Dependency(kind, name) for kind, name in f["dependencies"])
        manifests = tuple(SyncedManifest(str(m["name"]), str(m["assistant_id"]), bool(m["claims_id"]), int(m["line"]),
                                         int(m["version"])) for m in f["manifests"])
        files[str(path)] = SyncedFile(FileKey(str(f["text_key"]), deps, str(f["digest"])), manifests)
    return SyncRecord(str(raw["generation"]), str(raw["graphs"]), bool(raw["candidates"]), files)


class SyncMemo:
    """The record of one owner on one target, in the project's store."""

    def __init__(self, store: LoadStore, target: str, owner: str):
        self._table = store.memo(MEMO)
        self._key = f"{target}\0{owner}"
        self._store = store

    def load(self, generation: str | None, graphs: str) -> SyncRecord | None:
        """The record, when it was made at this generation and with these graphs."""
        raw = self._table.get(self._key)
        if raw is None or generation is None:
            return None
        try:
            record = _decode(raw)
        except Exception:  # a damaged record: as if there were none
            return None
        return record if record.generation == generation and record.graphs == graphs else None

    def save(self, record: SyncRecord) -> None:
        encoded = _encode(record)
        if self._table.get(self._key) != encoded:
            self._table.put(self._key, encoded)
        self._store.save()


def synced_file(key: FileKey, manifests: Iterable[tuple[str, str, bool, int, int]]) -> SyncedFile:
    """``manifests``: (name, assistant id, claims id, line, version) of each of the file's noops."""
    return SyncedFile(key, tuple(SyncedManifest(*m) for m in manifests))
