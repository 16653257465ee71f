"""controller.yaml → :class:`ProjectConfig`: validated once per text, read back from the store after.

Every command reads controller.yaml, and validating it needs pydantic (a tenth of a no-op
``plan``'s time just to import); so the validated data is kept in the project's load store,
keyed by the file's text, and the settings read it as plain frozen values. The pydantic
models (config/manifest.py) stay the one definition of what is valid and of the JSON Schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from controller.config.store import LoadStore
from controller.config.yamlio import YamlError, load_documents, read_text
from controller.core.errors import InvalidInput, Problem
from controller.core.fs import display_path


@dataclass(frozen=True)
class TargetEntry:
    """One target as controller.yaml declares it (the field names are the YAML's)."""

    embedded: str | None = None
    graphs: str | None = None
    url: str | None = None
    apiKeyEnv: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    smoke: Literal["after", "before"] | None = None
    maxDeletes: int | None = None
    concurrency: int | None = None
    writeTimeout: float | None = None


@dataclass(frozen=True)
class ProjectConfig:
    """controller.yaml, validated."""

    owner: str | None = None
    defaultTarget: str | None = None
    targets: dict[str, TargetEntry] = field(default_factory=dict)
    #: Webhook that `controller watch` POSTs events to; it may hold a token: never printed.
    notify: str | None = None
    #: Variables whose values are not secret: strings built from them are shown, not masked.
    plain: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ProjectConfig:
        """From data that validated (raises on anything else: a damaged store record)."""
        names = {f.name for f in fields(TargetEntry)}
        targets = {name: TargetEntry(**{k: v for k, v in t.items() if k in names}) for name, t in data["targets"].items()}
        return cls(data.get("owner"), data.get("defaultTarget"), targets, data.get("notify"), tuple(data.get("plain") or ()))


def load_config(path: str, store: LoadStore) -> ProjectConfig:
    """The controller.yaml at ``path`` (raises InvalidInput, one problem per line)."""
    shown = display_path(path)
    try:
        text = read_text(path)
    except YamlError as exc:
        raise InvalidInput([Problem(shown, exc.line, "", str(exc))]) from None
    except OSError as exc:
        raise InvalidInput([Problem(shown, 0, "", f"cannot read: {exc.strerror}")]) from None
    kept = store.config(text)
    if kept is not None:
        try:
            return ProjectConfig.from_data(kept)
        except Exception:  # a damaged record: validate again
            pass
    data = _validate(text, shown)
    store.keep_config(text, data)
    store.save()
    return ProjectConfig.from_data(data)


def _validate(text: str, shown: str) -> dict[str, Any]:
    from pydantic import ValidationError

    from controller.config.manifest import ControllerConfig
    from controller.config.problems import pydantic_problems

    try:
        docs = load_documents(text)
    except YamlError as exc:
        raise InvalidInput([Problem(shown, exc.line, "", str(exc))]) from None
    configs = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "Config"]
    if len(configs) != 1:
        raise InvalidInput([Problem(shown, 0, "", "expected exactly one document with kind: Config")])
    try:
        model = ControllerConfig.model_validate(configs[0].data)
    except ValidationError as exc:
        raise InvalidInput(pydantic_problems(exc, ControllerConfig, configs[0], shown)) from None
    return model.model_dump(mode="json")
