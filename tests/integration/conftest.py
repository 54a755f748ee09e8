"""Integration tests against LocalStack (host mode, no Docker; see localstack/start).

The `--dnssg-localstack` option, the CI rule (required when ``CI=true``) and the fixtures
(``localstack_strict``, ``localstack_stock``, ``route53_client``, ``dynamodb_client``) come from the
shipped pytest plugin `safeguards.testing.pytest_localstack`. Everything in this directory is
marked ``dnssg_localstack``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.dnssg_localstack)
