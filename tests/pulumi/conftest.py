"""Pulumi unit tests without the Pulumi CLI: fresh mocks per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi
import pytest

ROOT = Path(__file__).resolve().parents[2]
# `infra` is not an installed package: make it importable as `infra.<module>`.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_mocks import Mocks  # noqa: E402


@pytest.fixture
def mocks() -> Mocks:
    """Fresh process-global mocks for one test."""
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="dns-safeguards", stack="test", preview=False)
    return m
