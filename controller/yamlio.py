"""Safe YAML with line numbers and bounded alias expansion.

PyYAML's safe loader would expand a "billion laughs" file into gigabytes, and it
forgets where each value came from. Here documents are composed into nodes (no
object construction, so no python/* tags), then built into plain data by a walk that
records the line of every key and item and stops after a fixed number of nodes,
aliases counted each time they are expanded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
#: Nodes built per document, aliases counted at every use. Real manifests use a few hundred.
MAX_NODES = 100_000

Path = tuple[str | int, ...]

#: libyaml's parser when PyYAML was built with it (about 5x faster), else the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(Exception):
    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


@dataclass
class Document:
    """One YAML document: its data and the line of every path in it (1-based)."""

    data: Any
    line: int
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.line


def read_text(path: str) -> str:
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise YamlError("file is larger than 1 MiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text (byte {exc.start})") from None


def load_documents(text: str) -> list[Document]:
    loader = _Loader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(loader)
            doc = Document(data=None, line=node.start_mark.line + 1)
            doc.data = builder.build(node, (), doc.lines)
            docs.append(doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"YAML syntax: {what}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML: {exc}") from None
    finally:
        loader.dispose()
    return docs


class _Builder:
    def __init__(self, loader: yaml.SafeLoader):  # or CSafeLoader: same interface
        self.loader = loader
        self.budget = MAX_NODES

    def build(self, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise YamlError(
                f"document expands to more than {MAX_NODES} values (alias bomb?)", node.start_mark.line + 1
            )
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.loader.construct_object(node)
            except yaml.constructor.ConstructorError as exc:
                raise YamlError(f"unsupported YAML tag {node.tag!r} (only plain data is allowed)", line) from None
            if isinstance(value, dt.datetime | dt.date):
                return node.value  # keep dates as written, not as Python objects
            if isinstance(value, bytes):
                raise YamlError("binary values are not supported", line)
            return value
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, "tag:yaml.org,2002:seq")
            out = []
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                out.append(self.build(item, (*path, i), lines))
            return out
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, "tag:yaml.org,2002:map")
            self.loader.flatten_mapping(node)  # merge keys (<<)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, path, {})
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise YamlError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
                key = key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)
                if key in mapping:
                    raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
                lines[(*path, key)] = key_node.start_mark.line + 1
                mapping[key] = self.build(value_node, (*path, key), lines)
            return mapping
        raise YamlError("unsupported YAML node", line)  # pragma: no cover

    @staticmethod
    def _check_tag(node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            raise YamlError(
                f"unsupported YAML tag {node.tag!r} (only plain data is allowed)", node.start_mark.line + 1
            )
