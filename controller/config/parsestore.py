"""Parsed manifest files kept between processes, keyed by the hash of their text.

Building documents with line numbers is most of a no-op ``plan`` of many manifests;
a file whose text is unchanged since any earlier run (on any branch: the key is the
content, not the path) is not parsed again. The store is one JSON file (data and
line maps are plain JSON; nothing in it is executed), written whole with a checksum:
a file that is torn, edited or of another format is ignored and rebuilt, never
trusted. Deleting it changes no result.
"""

from __future__ import annotations

import hashlib
from typing import Any

from controller.config.yamlio import Document
from controller.core.fs import read_checked_json, write_checked_json

FORMAT = 1
#: Entries kept for other branches' files beyond this run's, before unused ones are dropped.
SPARE = 2000


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=20).hexdigest()


def _encode(docs: list[Document]) -> list[Any]:
    return [[d.data, d.line, [[list(p), n] for p, n in d.lines.items()]] for d in docs]


class _StoredDocument(Document):
    """A document from the store; its line map (needed only to report a problem) is
    built on first use: building 10,000 of them costs more than reading the store."""

    def __init__(self, data: Any, line: int, raw_lines: list[Any]):
        if not isinstance(line, int) or not isinstance(raw_lines, list):
            raise ValueError("not a stored document")
        self.data, self.line, self._raw_lines = data, line, raw_lines
        self._lines: dict[Any, int] | None = None

    @property
    def lines(self) -> dict:  # type: ignore[override]
        if self._lines is None:
            try:
                self._lines = {tuple(p): n for p, n in self._raw_lines}
            except (TypeError, ValueError):  # a damaged entry: problems point at the document's first line
                self._lines = {}
        return self._lines


def _decode(raw: list[Any]) -> list[Document]:
    return [_StoredDocument(data, line, lines) for data, line, lines in raw]


class ParseStore:
    """text hash → documents, read once from ``path`` and written back when it grew."""

    def __init__(self, path: str | None):
        self.path = path
        self._entries: dict[str, Any] | None = None
        self._used: set[str] = set()
        self._added = False

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = read_checked_json(self.path, FORMAT)
        return self._entries

    def get(self, key: str) -> list[Document] | None:
        raw = self._load().get(key)
        if raw is None:
            return None
        try:
            docs = _decode(raw)
        except Exception:  # an entry of the wrong shape: parse the file instead
            return None
        self._used.add(key)
        return docs

    def put(self, key: str, docs: list[Document]) -> None:
        self._load()[key] = _encode(docs)
        self._used.add(key)
        self._added = True

    def save(self) -> None:
        """Write the store when this run parsed something new (a no-op run writes nothing)."""
        if not (self.path and self._added and self._entries is not None):
            return
        entries = self._entries
        if len(entries) > len(self._used) + SPARE:
            entries = {k: v for k, v in entries.items() if k in self._used}
        if write_checked_json(self.path, FORMAT, entries):
            self._added = False
