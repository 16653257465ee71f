"""The service endpoints on a loopback port, shared by the HTTP and the metrics tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import Service, make_service


@pytest.fixture
def service() -> Iterator[Service]:
    s = make_service(None)
    s.server.start()
    yield s
    s.server.stop()
