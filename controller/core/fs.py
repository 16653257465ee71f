"""Files and folders as users see them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any


def display_path(path: str) -> str:
    """Paths as a user typed them: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def walk_up(start: str, stop: str | None = None) -> Iterator[str]:
    """``start`` and each folder above it, ending at ``stop`` (included) or the file system root."""
    here = os.path.abspath(start)
    end = os.path.realpath(stop) if stop is not None else None
    while True:
        yield here
        parent = os.path.dirname(here)
        if parent == here or os.path.realpath(here) == end:
            return
        here = parent


def find_up(start: str, names: tuple[str, ...], stop: str | None = None) -> str | None:
    """The first file called one of ``names`` in ``start`` or a folder above it."""
    for folder in walk_up(start, stop):
        for name in names:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def read_checked_json(path: str | None, fmt: object) -> dict[str, Any]:
    """A cache file written by :func:`write_checked_json`, or ``{}``: one that is missing,
    cut short, edited or of another format is never trusted (a cache only saves time)."""
    if not path:
        return {}
    try:
        with open(path, "rb") as fh:
            header, _, body = fh.read().partition(b"\n")
        meta = json.loads(header)
        if meta.get("format") == fmt and meta.get("checksum") == _checksum(body):
            entries = json.loads(body)
            if isinstance(entries, dict):
                return entries
    except Exception:  # whatever is wrong with it, start empty
        pass
    return {}


def write_checked_json(path: str, fmt: object, entries: dict[str, Any]) -> bool:
    """Write ``entries`` with a header naming the format and a checksum of the body; False
    when it cannot be written (the next run is only slower)."""
    try:
        body = json.dumps(entries, separators=(",", ":")).encode("utf-8")
        header = json.dumps({"format": fmt, "checksum": _checksum(body)}).encode()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_bytes(path, header + b"\n" + body)
        return True
    except (OSError, TypeError, ValueError):
        return False


def _checksum(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=20).hexdigest()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``path`` whole or not at all: a reader (another process) never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
