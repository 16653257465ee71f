"""Which files hold manifests: YAML under the PATHs, minus what ``.controllerignore`` leaves out.

Kept apart from parsing and validation because it is the one step that walks the folder
tree: a watch re-uses it to know which files a pass covers, and a no-op plan of many
manifests pays for each system call here, so the walk stats each file once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from controller.core.errors import InvalidInput, Problem

if TYPE_CHECKING:
    import pathspec

SKIP_DIRS = frozenset({".git", ".controller", ".venv", "venv", "node_modules", "__pycache__", ".langgraph_api"})
YAML_SUFFIXES = (".yaml", ".yml")
IGNORE_FILE = ".controllerignore"
#: The manifests' ``apiVersion``: spelled here, where files are told apart, so reading a
#: manifest's kind needs neither the YAML parser nor pydantic.
API_VERSION = "assistant-controller/v1"
#: Text that marks a file as meant for this controller (apiVersion: assistant-controller/...).
MARKER = "assistant-controller/"


#: Starts the one problem that means a wrong PATH rather than a bad manifest.
_NO_MANIFESTS = "no manifests found under"


def no_manifests(paths: Iterable[str]) -> Problem:
    """PATHs that hold no manifest at all: a watch exits on this at once, while it waits out
    any other problem (an edit being made)."""
    return Problem(message=f"{_NO_MANIFESTS} {' '.join(paths)}")


def is_no_manifests(problem: Problem) -> bool:
    return problem.message.startswith(_NO_MANIFESTS)


class FoundFile(NamedTuple):
    """A YAML file to load, and whether the user named it (then it must hold a manifest)."""

    path: str
    explicit: bool
    #: (mtime ns, size, inode) as the walk saw it: lets a caller that recorded a file's text
    #: tell it unchanged without reading it.
    stat: tuple[int, int, int] | None = None


def ignore_spec(root: str | None) -> pathspec.PathSpec | None:
    """The project's ``.controllerignore`` (gitignore syntax), if it has one."""
    if not root:
        return None
    try:
        with open(os.path.join(root, IGNORE_FILE), encoding="utf-8") as fh:
            lines = fh.readlines()
    except (OSError, UnicodeDecodeError):
        return None
    import pathspec  # only a project with a .controllerignore pays for it

    return pathspec.GitIgnoreSpec.from_lines(lines)


def find_files(paths: Iterable[str], root: str | None = None) -> list[FoundFile]:
    """YAML files under ``paths``, in a stable order, each once (a file reached twice, through
    two PATHs or a link, counts once). Files found by walking a folder are left out when the
    ``.controllerignore`` at ``root`` matches them; a file named explicitly never is."""
    found: list[FoundFile] = []
    seen: set[tuple[int, int]] = set()
    spec = ignore_spec(root)

    def add(path: str, explicit: bool) -> None:
        try:
            st = os.stat(path)
        except OSError:  # a dangling link: nothing to read
            return
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            found.append(FoundFile(path, explicit, (st.st_mtime_ns, st.st_size, st.st_ino)))

    for given in paths:
        if os.path.isdir(given):
            for path in _walk(given, spec, os.path.abspath(root) if root else ""):
                add(path, False)
        elif os.path.exists(given):
            add(given, True)
        else:
            raise InvalidInput([Problem(file=given, message="no such file or directory")])
    return found


def _walk(folder: str, spec: pathspec.PathSpec | None, base: str) -> Iterator[str]:
    """YAML files below ``folder``, sorted, skipping tool folders and what ``spec`` ignores."""

    def ignored(full: str, is_folder: bool = False) -> bool:
        if spec is None:
            return False
        rel = os.path.relpath(os.path.abspath(full), base)
        if rel.startswith(".."):
            return False
        rel = rel.replace(os.sep, "/")
        return spec.match_file(rel + "/" if is_folder else rel)

    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and not ignored(os.path.join(dirpath, d), is_folder=True))
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES) and not ignored(full := os.path.join(dirpath, name)):
                yield full


def mentions_us(path: str) -> bool:
    """Does the file mention this controller at all? Other YAML that fails to parse is not ours to report."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return True
    return any(MARKER.encode(codec) in raw for codec in ("utf-8", "utf-16-le", "utf-16-be"))
