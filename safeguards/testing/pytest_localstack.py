"""pytest plugin: LocalStack for your tests (host mode, no Docker; see localstack/start).

Loaded through the `pytest11` entry point, so every test suite that installs dns-safeguards gets
the `--localstack` option and these fixtures.

Enable with ``pytest --localstack`` or ``DNSSG_LOCALSTACK=1``. In CI (``CI=true``) they are always
on and LocalStack is required: when it cannot start, every test that needs it fails with the
reason. Elsewhere, without the switch, tests marked ``localstack`` are skipped with a reason that
says how to enable them.

Fixtures: ``localstack_strict`` / ``localstack_stock`` (session; endpoint URLs of LocalStack with
the dns-safeguards strict Route 53 provider / LocalStack's own), ``route53_client`` and
``dynamodb_client`` (factories: ``route53_client(endpoint_url, max_attempts=1)``).
Instances this session started are stopped at its end, unless ``DNSSG_LOCALSTACK_KEEP=1``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from safeguards.testing.localstack import LocalStack, LocalStackUnavailable, Provider, boto3_client

TRUE = {"1", "true", "yes", "on"}
ENABLE_HINT = (
    "LocalStack tests are off: run `pytest --localstack` or set DNSSG_LOCALSTACK=1 "
    "(needs Python >= 3.12; the suite starts LocalStack itself with localstack/start)"
)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE


def in_ci() -> bool:
    """CI=true: LocalStack is required."""
    return _env_true("CI")


def localstack_enabled(config: pytest.Config) -> bool:
    """--localstack, DNSSG_LOCALSTACK=1 or CI=true."""
    return bool(config.getoption("--localstack", default=False)) or _env_true("DNSSG_LOCALSTACK") or in_ci()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--localstack: run the tests that need LocalStack (starting it when needed)."""
    with contextlib.suppress(ValueError):  # already registered (plugin loaded twice)
        parser.addoption(
            "--localstack",
            action="store_true",
            default=False,
            help="run tests marked localstack, starting LocalStack with localstack/start when needed",
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "localstack: needs LocalStack (started by the suite when absent)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``localstack`` when LocalStack is off (never in CI)."""
    if localstack_enabled(config):
        return
    skip = pytest.mark.skip(reason=ENABLE_HINT)
    for item in items:
        if item.get_closest_marker("localstack"):
            item.add_marker(skip)


class _Instances:
    """The session's LocalStack instances: endpoints, start failures, and what to stop at the end."""

    def __init__(self) -> None:
        self.manager = LocalStack()
        self.endpoints: dict[str, str] = {}
        self.failures: dict[str, str] = {}
        self.started_ports: list[int] = []

    def endpoint(self, config: pytest.Config, provider: Provider) -> str:
        if not localstack_enabled(config):
            pytest.skip(ENABLE_HINT)
        if provider in self.failures:
            self._unavailable(self.failures[provider])
        if provider not in self.endpoints:
            port = self.manager.port_for(provider)
            already_running = self.manager.given_endpoint(provider) is not None or _answers(port)
            try:
                self.endpoints[provider] = self.manager.ensure_running(provider)
            except LocalStackUnavailable as error:
                self.failures[provider] = str(error)
                self._unavailable(str(error))
            if not already_running and self.endpoints[provider].endswith(f":{port}"):
                self.started_ports.append(port)
        return self.endpoints[provider]

    @staticmethod
    def _unavailable(reason: str) -> None:
        # In CI a missing LocalStack is a failure, never a skip; elsewhere the user asked for it
        # explicitly (--localstack), so failing with the reason is the useful answer too.
        pytest.fail(f"LocalStack is required but unavailable: {reason}", pytrace=False)

    def stop_started(self) -> None:
        if _env_true("DNSSG_LOCALSTACK_KEEP"):
            return
        for port in self.started_ports:
            self.manager.stop(port)


def _answers(port: int) -> bool:
    from safeguards.testing.localstack import route53_provider_of

    return route53_provider_of(f"http://127.0.0.1:{port}") is not None


@pytest.fixture(scope="session")
def _localstack_instances() -> Iterator[_Instances]:
    instances = _Instances()
    yield instances
    instances.stop_started()


@pytest.fixture(scope="session")
def localstack_strict(request: pytest.FixtureRequest, _localstack_instances: _Instances) -> str:
    """Endpoint URL of LocalStack with the strict Route 53 provider (real batch semantics)."""
    return _localstack_instances.endpoint(request.config, "strict")


@pytest.fixture(scope="session")
def localstack_stock(request: pytest.FixtureRequest, _localstack_instances: _Instances) -> str:
    """Endpoint URL of LocalStack with its stock Route 53 provider (moto; documents the gaps)."""
    return _localstack_instances.endpoint(request.config, "stock")


@pytest.fixture
def route53_client() -> Callable[..., Any]:
    """Factory: ``route53_client(endpoint_url, max_attempts=1)`` -> boto3 Route 53 client for LocalStack."""
    return lambda endpoint_url, **kwargs: boto3_client("route53", endpoint_url, **kwargs)


@pytest.fixture
def dynamodb_client() -> Callable[..., Any]:
    """Factory: ``dynamodb_client(endpoint_url, max_attempts=1)`` -> boto3 DynamoDB client for LocalStack."""
    return lambda endpoint_url, **kwargs: boto3_client("dynamodb", endpoint_url, **kwargs)
