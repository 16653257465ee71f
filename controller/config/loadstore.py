"""Loaded manifests kept between processes: a no-op run skips interpolation and validation.

Parsing is cached by :mod:`parsestore`; this keeps what comes *after* it: the data
each ``kind: Assistant`` document validated with, its sensitive paths and templates,
and (per owner) its assistant id and content hash. An entry is keyed by the hash of
the file's text and of what each variable the file references resolved to (from the
target's ``values``, from the environment, or unset): change either and the entry is
not used. Only the *hash* of a resolved value is kept; a sensitive value (one from
the environment) is stored as its template and substituted again on use, so no
environment value is ever written here in clear.

A hit is exactly what validation produced for the same input: only files that loaded
without any problem are stored, and the view :func:`controller.engine.desired.desired_state`
reads is checked, when stored, to equal the validated model's. The full pydantic model
is still built from the stored data when something asks for it (smoke cases, tests).

The store is one JSON file with a checksum (plain data, nothing executed): a torn,
edited or foreign file, or an entry of the wrong shape, is ignored and rebuilt.
Deleting it changes no result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from controller.core.fs import read_checked_json, write_checked_json

FORMAT = 1
#: Entries kept beyond this run's (other branches, other environments) before unused ones go.
SPARE = 2000
#: Variable resolutions kept per file text (a few environments in turn, say CI and a laptop).
RUNS_PER_TEXT = 4


def variables_key(names: Iterable[str], values: Mapping[str, str], environ: Mapping[str, str],
                  secret: bytes = b"") -> str:
    """A keyed hash of how each of ``names`` resolves now: which source gives it, and its value.

    The values are only hashed (a value from the environment must not be written in clear),
    and with ``secret``, a random key kept beside the store and readable by its owner only,
    so a copied store alone does not let anyone test guesses of a secret offline."""
    parts: list[list[str]] = []
    for name in names:
        if name in values:
            parts.append([name, "values", values[name]])
        elif name in environ:
            parts.append([name, "env", environ[name]])
        else:
            parts.append([name, "unset"])
    text = json.dumps(parts, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=20, key=secret[:64]).hexdigest()


class LoadStore:
    """text hash → {"names": [...], "runs": {variables key → [document entry, ...]}}.

    A document entry is a list ``[index, line, data, sensitive, templates, fingerprint]``
    (see :mod:`controller.config.loader`); this class only stores and checks its shape."""

    def __init__(self, path: str | None):
        self.path = path
        self._entries: dict[str, Any] | None = None
        self._used: set[str] = set()
        self._changed = False
        self._key: bytes | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = read_checked_json(self.path, FORMAT)
        return self._entries

    def variables_key(self, names: Iterable[str], values: Mapping[str, str], environ: Mapping[str, str]) -> str:
        """:func:`variables_key` under this store's own key (made on first use, mode 0600)."""
        return variables_key(names, values, environ, self._secret())

    def _secret(self) -> bytes:
        if self._key is None:
            self._key = b""
            if self.path:
                key_path = f"{self.path}.key"
                try:
                    with open(key_path, "rb") as fh:
                        self._key = fh.read(64)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.makedirs(os.path.dirname(key_path), exist_ok=True)
                        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "wb") as fh:
                            fh.write(secrets.token_bytes(32))
                    with contextlib.suppress(OSError), open(key_path, "rb") as fh:
                        self._key = fh.read(64)
        return self._key

    def names(self, text_key: str) -> list[str] | None:
        """The variables the file with this text references, if it was stored."""
        entry = self._load().get(text_key)
        if not isinstance(entry, dict):
            return None
        names = entry.get("names")
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            return None
        return names

    def get(self, text_key: str, variables: str) -> list[list[Any]] | None:
        entry = self._load().get(text_key)
        if not isinstance(entry, dict) or not isinstance(entry.get("runs"), dict):
            return None
        docs = entry["runs"].get(variables)
        if not isinstance(docs, list):
            return None
        self._used.add(text_key)
        return docs

    def put(self, text_key: str, names: list[str], variables: str, docs: list[list[Any]]) -> None:
        entries = self._load()
        entry = entries.get(text_key)
        if not (isinstance(entry, dict) and entry.get("names") == names and isinstance(entry.get("runs"), dict)):
            entry = entries[text_key] = {"names": names, "runs": {}}
        runs = entry["runs"]
        runs.pop(variables, None)
        while len(runs) >= RUNS_PER_TEXT:
            del runs[next(iter(runs))]  # the oldest resolution
        runs[variables] = docs
        self._used.add(text_key)
        self._changed = True

    def touched(self) -> None:
        """An entry was updated in place (a fingerprint for another owner): write on save."""
        self._changed = True

    def save(self) -> None:
        """Write the store when this run added or changed something (a no-op run writes nothing)."""
        if not (self.path and self._changed and self._entries is not None):
            return
        entries = self._entries
        if len(entries) > len(self._used) + SPARE:
            entries = {k: v for k, v in entries.items() if k in self._used}
        if write_checked_json(self.path, FORMAT, entries):
            self._changed = False
