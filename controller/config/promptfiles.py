"""Prompt files: the text behind ``${file:PATH}``, read under the project root only.

Teams keep prompts in files of their own (Markdown reviewers read as Markdown, with clean
diffs). A manifest names one by a path relative to itself; the path must stay inside the
project root, since a manifest from a pull request must not be able to read
``/etc/passwd``, ``~/.aws/credentials`` or a file behind a symlink into them and ship it to
a server as a prompt. The rules are checked on the path as written (absolute, or a ``..``
that leaves the root) and on the file as found (a symlink whose target is outside).

A file's text is taken verbatim (UTF-8, whole, a trailing newline kept). Each file is read
once per load, however many manifests use it, and what a manifest's load result depends on
(:meth:`PromptFiles.fingerprint`: the path and a hash of the bytes) is what the load store
keys it on, so a changed prompt file is never served from a cache.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from controller.config.yamlio import MAX_FILE_BYTES


class PromptFileError(Exception):
    """A ``${file:PATH}`` that cannot be read; the message names the path as written
    (never a value from the environment: the caller passes the template when it has one)."""


@dataclass(frozen=True)
class Found:
    """A prompt file: its path from the project root, its text, and a hash of its bytes."""

    path: str
    text: str
    digest: str


class PromptFiles:
    """Reads prompt files under ``root`` for one load (each once: a load is a moment in time)."""

    def __init__(self, root: str | None):
        self.root = os.path.abspath(root or ".")
        self._real_root = os.path.realpath(self.root)
        self._found: dict[str, Found | PromptFileError] = {}

    def locate(self, base: str, path: str) -> str:
        """``path`` (relative to the folder ``base``, itself relative to the root) as a path from
        the root; raises PromptFileError when it is absolute or leaves the root."""
        if not path.strip():
            raise PromptFileError("empty path: write ${file:PATH} with a path relative to this file")
        if os.path.isabs(path) or path.startswith("~"):
            raise PromptFileError("an absolute path; give a path relative to this file, inside the project root")
        rel = os.path.normpath(os.path.join(base, path))
        if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
            raise PromptFileError("leaves the project root; prompt files must be inside the project")
        return rel

    def read(self, base: str, path: str) -> Found:
        """The file ``path`` names (see :meth:`locate`); raises PromptFileError."""
        rel = self.locate(base, path)
        found = self._found.get(rel)
        if found is None:
            found = self._found[rel] = self._load(rel)
        if isinstance(found, PromptFileError):
            raise found
        return found

    def fingerprint(self, base: str, path: str) -> str:
        """What a manifest that reads ``path`` depends on: the file's place and bytes, or why it
        cannot be read (a file that appears later changes this too)."""
        try:
            found = self.read(base, path)
        except PromptFileError as exc:
            return f"error\0{exc}"
        return f"file\0{found.path}\0{found.digest}"

    def _load(self, rel: str) -> Found | PromptFileError:
        full = os.path.join(self.root, rel)
        real = os.path.realpath(full)
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            return PromptFileError("is a symlink pointing outside the project root")
        try:
            with open(full, "rb", buffering=0) as fh:
                st = os.fstat(fh.fileno())
                if stat.S_ISDIR(st.st_mode):
                    return PromptFileError("is a folder, not a file")
                if st.st_size > MAX_FILE_BYTES:
                    return PromptFileError("is larger than 1 MiB")
                raw = fh.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return PromptFileError("no such file")
        except IsADirectoryError:
            return PromptFileError("is a folder, not a file")
        except OSError as exc:
            return PromptFileError(f"cannot read: {exc.strerror}")
        if len(raw) > MAX_FILE_BYTES:
            return PromptFileError("is larger than 1 MiB")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            return PromptFileError(f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} on line {line})")
        return Found(rel, text, hashlib.blake2b(raw, digest_size=16).hexdigest())
