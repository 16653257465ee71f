"""JSON Schemas of the manifest formats, generated from the pydantic models.

Editors (the ``yaml-language-server`` modeline) and CI use the committed files; a
test regenerates them and fails when they are stale.
"""

from __future__ import annotations

import json
import os
from typing import Any

from controller.config.manifest import AssistantManifest, ControllerConfig, DefaultsManifest

FILES = {"assistant.schema.json": AssistantManifest, "config.schema.json": ControllerConfig,
         "defaults.schema.json": DefaultsManifest}


def schema_text(model: Any) -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema(by_alias=True)}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, model in FILES.items():
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(schema_text(model))
        written.append(path)
    return written
