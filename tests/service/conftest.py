"""Service tests: the planner and long-running enactors on the embedded default's parts."""

from __future__ import annotations

import pytest
from _svc import Service, make_service


@pytest.fixture
def svc() -> Service:
    """Zone example.com. (ep1, ep2, regional), g1 live, a SQLite plan store, a virtual clock."""
    return make_service()
