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
