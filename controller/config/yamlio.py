"""Safe YAML with line numbers and bounded alias expansion.

PyYAML's safe loader would expand a "billion laughs" file into gigabytes, and it
forgets where each value came from. Here documents are composed into nodes (no
object construction, so no python/* tags), then built into plain data by a walk that
records the line of every key and item and stops after a fixed number of nodes,
aliases counted each time they are expanded.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

MAX_FILE_BYTES = 1024 * 1024
#: Nodes built per document, aliases counted at every use. Real manifests use a few hundred.
MAX_NODES = 100_000
#: Nesting depth of mappings/lists; deeper input (or a recursive alias) is rejected.
MAX_DEPTH = 100

Path = tuple[str | int, ...]


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
        return line_of(self.lines, path, self.line)


def line_of(lines: Mapping[Path, int], path: Path, default: int) -> int:
    """The line of ``path`` in ``lines``, or of its nearest ancestor there, else ``default``."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return default


def read_text(path: str) -> str:
    with open(path, "rb", buffering=0) as fh:
        # The size first: reading MAX_FILE_BYTES + 1 would allocate a 1 MiB buffer per file.
        # (Something other than a regular file, a pipe say, has no size to trust.)
        st = os.fstat(fh.fileno())
        regular = stat.S_ISREG(st.st_mode)
        if regular and st.st_size > MAX_FILE_BYTES:
            raise YamlError("file is larger than 1 MiB")
        raw = fh.readall() if regular else fh.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise YamlError("file is larger than 1 MiB")
    # Editors on Windows save "Unicode" as UTF-16 with a byte-order mark: read it, by its BOM.
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                       (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                raise YamlError(f"not valid {codec.upper()} text (it starts with a {codec.upper()} byte-order mark); save it as UTF-8") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlError(f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})", line) from None


def load_documents(text: str) -> list[Document]:
    import yaml  # here, not at the top: a run whose files all come from the load store never parses

    # libyaml's parser when PyYAML was built with it (about 5x faster), else the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
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
        if (tab := _tab_indented(text, exc.problem_mark)) is not None:
            raise YamlError(f"tabs are not allowed for indentation (line {tab}); indent with spaces", tab) from None
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and "end of stream" in (exc.problem or ""):
            mark = exc.context_mark  # an unclosed quote/bracket: where it was opened, not the end of the file
        line = mark.line + 1 if mark else 0
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark:
            where = exc.context_mark.line + 1
            what += f" ({exc.context} on line {where})" if where != line else f" ({exc.context})"
        raise YamlError(f"YAML syntax: {_one_line(what)}", line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, control characters)
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else 0
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlError(f"YAML: unacceptable character #x{char:04x} ({exc.reason})", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML: {_one_line(str(exc))}") from None
    finally:
        loader.dispose()
    return docs


def _tab_indented(text: str, mark: yaml.Mark | None) -> int | None:
    """The line of the error when a tab is in its indentation: libyaml words this three ways
    (none says "tab" when it is a mapping key), so the cause is named here, once."""
    if mark is None:
        return None
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return None
    line = lines[mark.line]
    indent = line[:len(line) - len(line.lstrip(" \t"))]
    return mark.line + 1 if "\t" in indent else None


def dump_yaml(data: Any) -> str:
    """``data`` as YAML people read: keys in their order, multi-line strings (prompts) as ``|`` blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def _one_line(text: str) -> str:
    return " ".join(text.split())


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Builder:
    def __init__(self, loader: yaml.SafeLoader):  # or CSafeLoader: same interface
        import yaml

        self.yaml = yaml
        self.loader = loader
        self.budget = MAX_NODES
        self.open: list[int] = []  # ids of the collection nodes being built (recursion guard)

    def build(self, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise YamlError(
                f"document expands to more than {MAX_NODES} values (alias bomb?)", node.start_mark.line + 1
            )
        if isinstance(node, self.yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.open:
            raise YamlError("recursive alias (a value that contains itself)", node.start_mark.line + 1)
        if len(self.open) >= MAX_DEPTH:
            raise YamlError(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        self.open.append(id(node))
        try:
            return self._collection(node, path, lines)
        finally:
            self.open.pop()

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        line = node.start_mark.line + 1
        try:
            value = self.loader.construct_object(node)
        except self.yaml.constructor.ConstructorError:
            raise YamlError(f"unsupported YAML tag {_tag(node.tag)} (only plain data is allowed)", line) from None
        if isinstance(value, dt.datetime | dt.date):
            return node.value  # keep dates as written, not as Python objects
        if isinstance(value, bytes):
            raise YamlError("binary values are not supported", line)
        return value

    def _collection(self, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
        if isinstance(node, self.yaml.SequenceNode):
            self._check_tag(node, "tag:yaml.org,2002:seq")
            out = []
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                out.append(self.build(item, (*path, i), lines))
            return out
        if isinstance(node, self.yaml.MappingNode):
            self._check_tag(node, "tag:yaml.org,2002:map")
            return self._mapping(node, path, lines)
        raise YamlError("unsupported YAML node", node.start_mark.line + 1)  # pragma: no cover

    def _mapping(self, node: yaml.MappingNode, path: Path, lines: dict[Path, int]) -> dict[Any, Any]:
        """Merge keys (<<) are resolved here rather than with PyYAML's flatten_mapping,
        which rewrites the (shared) node: keys written in the mapping override merged
        ones, earlier merge sources override later ones, and only keys written twice
        in the mapping itself are duplicates."""
        mapping: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.extend(self._merge_sources(value_node))
                continue
            key = self._key(key_node, path)
            if key in mapping:
                raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            lines[(*path, key)] = key_node.start_mark.line + 1
            mapping[key] = self.build(value_node, (*path, key), lines)
        if not merges:
            return mapping
        merged: dict[Any, Any] = {}
        for source in merges:
            source_lines: dict[Path, int] = {}
            values = self.build(source, path, source_lines)
            taken = {k for k in values if k not in mapping and k not in merged}
            merged.update((k, v) for k, v in values.items() if k in taken)
            lines.update((p, n) for p, n in source_lines.items() if p[len(path)] in taken)
        return {**merged, **mapping}

    def _merge_sources(self, value_node: yaml.Node) -> list[yaml.Node]:
        sources = value_node.value if isinstance(value_node, self.yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, self.yaml.MappingNode):
                raise YamlError("'<<' (merge key) takes a mapping or a list of mappings", source.start_mark.line + 1)
        return list(sources)

    def _key(self, key_node: yaml.Node, path: Path) -> str:
        if key_node.tag == "tag:yaml.org,2002:value":  # a plain '=' key
            key_node.tag = "tag:yaml.org,2002:str"
        if not isinstance(key_node, self.yaml.ScalarNode):
            raise YamlError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
        key = self.build(key_node, path, {})
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise YamlError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
        return _key_text(key)

    @staticmethod
    def _check_tag(node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            raise YamlError(
                f"unsupported YAML tag {_tag(node.tag)} (only plain data is allowed)", node.start_mark.line + 1
            )


def _key_text(key: Any) -> str:
    """Mapping keys as strings, the way JSON would write them (true, null, 1)."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    return str(key).lower() if isinstance(key, bool) else str(key)


def _tag(tag: str) -> str:
    """A tag as it is written in YAML: ``!!python/object:os.system``, ``!custom``."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
