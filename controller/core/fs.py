"""Files and folders as users see them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


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
