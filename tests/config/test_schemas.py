"""The committed JSON Schemas are what `controller schema` generates from the models."""

from __future__ import annotations

import pytest
from helpers import ROOT

from controller.config.schemas import FILES, schema_text

SCHEMAS = ROOT / "schemas"


@pytest.mark.parametrize("name", sorted(FILES))
def test_committed_schema_is_not_stale(name: str) -> None:
    committed = (SCHEMAS / name).read_text(encoding="utf-8")
    assert committed == schema_text(FILES[name]), f"schemas/{name} is stale: run `controller schema`"


def test_the_example_defaults_document_validates_against_its_schema() -> None:
    import json

    import jsonschema
    import yaml

    schema = json.loads((SCHEMAS / "defaults.schema.json").read_text(encoding="utf-8"))
    defaults = [doc for path in (ROOT / "manifests").rglob("*.yaml") for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and doc.get("kind") == "Defaults"]
    assert defaults, "the example has a Defaults document"
    for doc in defaults:
        jsonschema.validate(doc, schema)
    assert "activeVersion" not in schema["$defs"]["DefaultsSpec"]["properties"]  # a pin belongs to one assistant
