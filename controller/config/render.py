"""The effective manifest: each assistant as it will be written, for ``controller render``.

With prompts in files and values in shared Defaults, no single file shows what an
assistant is. This prints it whole, like ``kustomize build``: Defaults merged, prompt
files read, variables resolved, and every value that came from the environment masked,
as in a plan: the values as they will be written (a ``${`` in a prompt file's text is
printed as text, not escaped).
"""

from __future__ import annotations

from typing import Any

from controller.config.loaded import LoadedManifest
from controller.config.yamlio import dump_yaml
from controller.core.content import plain_copy
from controller.core.mask import MASK


def effective(item: LoadedManifest) -> dict[str, Any]:
    """The manifest as validated, its values from the environment masked."""
    data = plain_copy(item.data)
    for path in item.templates:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = MASK
        except (KeyError, IndexError, TypeError):  # (a path validation normalised away)
            continue
    return data


def as_json(items: list[LoadedManifest]) -> dict[str, Any]:
    """``render -o json``: every manifest, with where it was declared and the prompt files it read."""
    return {"ok": True, "manifests": [{"name": m.name, "source": m.location, "prompts": list(m.files),
                                       "manifest": effective(m)} for m in items]}


def as_yaml(items: list[LoadedManifest]) -> str:
    """``render``: one YAML document per assistant, each headed by where it was declared."""
    docs = []
    for m in items:
        head = f"# {m.location}" + (f" (prompts: {', '.join(m.files)})" if m.files else "")
        docs.append(f"---\n{head}\n{dump_yaml(effective(m))}")
    return "".join(docs).rstrip("\n")
