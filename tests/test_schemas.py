"""The committed JSON Schemas are what `controller schema` generates from the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config.schemas import FILES, schema_text

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@pytest.mark.parametrize("name", sorted(FILES))
def test_committed_schema_is_not_stale(name: str) -> None:
    committed = (SCHEMAS / name).read_text(encoding="utf-8")
    assert committed == schema_text(FILES[name]), f"schemas/{name} is stale: run `controller schema`"
