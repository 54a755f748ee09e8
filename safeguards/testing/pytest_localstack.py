"""pytest plugin: LocalStack for your tests (host mode, no Docker; see localstack/start).

Loaded through the `pytest11` entry point by every test suite that installs dns-safeguards, and
inert for those that do not use it: everything it adds is namespaced (the ``dnssg_localstack``
marker, the ``--dnssg-localstack`` option, the ``dnssg_localstack`` ini key), it only ever acts
on tests that carry that marker or ask for its fixtures, and it imports nothing heavy until then.
A project's own ``localstack`` marker or ``--localstack`` option is left alone.

Switch it on with ``pytest --dnssg-localstack``, ``DNSSG_LOCALSTACK=1``, or ``dnssg_localstack =
true`` in the project's pytest configuration (``DNSSG_LOCALSTACK=0`` turns that off again). In CI
(``CI=true``) it is always on and LocalStack is required: when it cannot start, every test that
needs it fails with the reason. Otherwise, switched off, tests marked ``dnssg_localstack`` are
skipped with a reason that says how to switch it on.

Fixtures: ``localstack_strict`` / ``localstack_stock`` (session; endpoint URLs of LocalStack with
the dns-safeguards strict Route 53 provider / LocalStack's own), ``route53_client`` and
``dynamodb_client`` (factories: ``route53_client(endpoint_url, max_attempts=1)``; sessions from
`localstack-client` when it is installed). Instances this session started are stopped at its
end, unless ``DNSSG_LOCALSTACK_KEEP=1``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from safeguards.testing.localstack import Provider

MARKER = "dnssg_localstack"
OPTION = "--dnssg-localstack"
INI = "dnssg_localstack"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
ENABLE_HINT = (
    "LocalStack tests are off: run `pytest --dnssg-localstack` or set DNSSG_LOCALSTACK=1 "
    "(needs Python >= 3.12; the suite starts LocalStack itself with localstack/start)"
)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE


def _env_false(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in FALSE


def in_ci() -> bool:
    """CI=true: LocalStack is required."""
    return _env_true("CI")


def localstack_enabled(config: pytest.Config) -> bool:
    """--dnssg-localstack, DNSSG_LOCALSTACK=1 or CI=true; else the ini key (DNSSG_LOCALSTACK=0 wins)."""
    if config.getoption(OPTION, default=False) or _env_true("DNSSG_LOCALSTACK") or in_ci():
        return True
    if _env_false("DNSSG_LOCALSTACK"):
        return False
    try:
        return bool(config.getini(INI))
    except ValueError:  # the ini key is not registered (plugin partly loaded)
        return False


def pytest_addoption(parser: pytest.Parser) -> None:
    """--dnssg-localstack and the dnssg_localstack ini key."""
    group = parser.getgroup("dns-safeguards")
    with contextlib.suppress(ValueError):  # already registered (plugin loaded twice)
        group.addoption(
            OPTION,
            action="store_true",
            default=False,
            help=f"run tests marked {MARKER}, starting LocalStack with localstack/start when needed",
        )
    with contextlib.suppress(ValueError):
        parser.addini(INI, type="bool", default=False, help=f"run tests marked {MARKER} (like {OPTION})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: needs LocalStack (dns-safeguards starts it when absent)")


#: Under pytest-xdist every test that needs LocalStack goes to one worker (``--dist loadgroup``):
#: one process starts the instances, uses them and stops them at its end, so no worker stops an
#: instance another one still uses and no two workers race to start the same port.
XDIST_GROUP = "dnssg-localstack"
_FIXTURES = frozenset({"localstack_strict", "localstack_stock"})


def _needs_localstack(item: pytest.Item) -> bool:
    return item.get_closest_marker(MARKER) is not None or not _FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


@pytest.hookimpl(tryfirst=True)  # before xdist turns xdist_group marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``dnssg_localstack`` when LocalStack is off (never in CI); under xdist,
    keep every test that needs LocalStack on one worker."""
    ours = [item for item in items if _needs_localstack(item)]
    if ours and localstack_enabled(config) and config.pluginmanager.hasplugin("xdist"):
        for item in ours:
            item.add_marker(pytest.mark.xdist_group(XDIST_GROUP))
    ours = [item for item in ours if item.get_closest_marker(MARKER)]
    if not ours or localstack_enabled(config):
        return
    skip = pytest.mark.skip(reason=ENABLE_HINT)
    for item in ours:
        item.add_marker(skip)


class _Instances:
    """The session's LocalStack instances: endpoints, start failures, and what to stop at the end."""

    def __init__(self) -> None:
        from safeguards.testing.localstack import LocalStack

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
            from safeguards.testing.localstack import LocalStackUnavailable

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


def localstack_session_client(service: str, endpoint_url: str, *, max_attempts: int = 1, **kwargs: Any) -> Any:
    """A boto3 client for the LocalStack at `endpoint_url`: a `localstack_client.session.Session`
    (test credentials, LocalStack's endpoints for every service) when `localstack-client` is
    installed, else a plain boto3 client with the same settings. `max_attempts` counts the first
    try (1: botocore does not retry, tests see every Throttling as it happens)."""
    from urllib.parse import urlsplit

    from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION, boto3_client

    try:
        from localstack_client.session import Session
    except ImportError:
        return boto3_client(service, endpoint_url, max_attempts=max_attempts, **kwargs)
    from botocore.config import Config

    parts = urlsplit(endpoint_url)
    session = Session(
        region_name=TEST_REGION,
        localstack_host=f"{parts.hostname}:{parts.port or 4566}",
        aws_session_token=None,
        **TEST_CREDENTIALS,
    )
    # localstack-client takes $AWS_ENDPOINT_URL over the host it is given: the endpoint asked for wins.
    session._service_endpoint_mapping = {k: endpoint_url for k in session._service_endpoint_mapping}
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts}, connect_timeout=5, read_timeout=60
    )
    client = session.client(service, config=kwargs.pop("config", config), **kwargs)
    return client


@pytest.fixture
def route53_client() -> Callable[..., Any]:
    """Factory: ``route53_client(endpoint_url, max_attempts=1)`` -> boto3 Route 53 client for LocalStack."""
    return lambda endpoint_url, **kwargs: localstack_session_client("route53", endpoint_url, **kwargs)


@pytest.fixture
def dynamodb_client() -> Callable[..., Any]:
    """Factory: ``dynamodb_client(endpoint_url, max_attempts=1)`` -> boto3 DynamoDB client for LocalStack."""
    return lambda endpoint_url, **kwargs: localstack_session_client("dynamodb", endpoint_url, **kwargs)
