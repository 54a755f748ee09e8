"""Run and reach LocalStack from tests: start it (host mode, no Docker) or reuse a running one.

LocalStack lives in its own venv (localstack/.venv, Python >= 3.12) and is started by the
``localstack/start`` script of a source checkout; nothing here imports localstack. Two Route 53
providers can run side by side on different ports:

- ``strict``: the dns-safeguards plugin's provider with Route 53's batch semantics (atomic
  batches, exact DELETE, no duplicate CREATE, CNAME rules, limits) and fault injection;
- ``stock``: LocalStack's own provider (moto), kept to document its gaps.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Provider = Literal["strict", "stock"]

PROVIDERS: tuple[Provider, ...] = ("strict", "stock")
DEFAULT_PORTS: dict[str, int] = {"strict": 4566, "stock": 4567}
PORT_ENV: dict[str, str] = {"strict": "DNSSG_LOCALSTACK_STRICT_PORT", "stock": "DNSSG_LOCALSTACK_STOCK_PORT"}
ENDPOINT_ENV = ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
TEST_REGION = "us-east-1"
TEST_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
# The first start installs LocalStack into its venv (~1-2 min with an empty pip cache).
START_TIMEOUT_S = 900


class LocalStackUnavailable(RuntimeError):
    """LocalStack could not be started or reached; the message says why and what to do."""


def _http(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    """One JSON request with the standard library; returns (status, parsed body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def route53_provider_of(endpoint_url: str) -> str | None:
    """The Route 53 provider of the LocalStack at endpoint_url.

    "strict"/"stock" when the dns-safeguards plugin answers, "stock" for a LocalStack without the
    plugin (e.g. the Docker image), None when nothing usable answers.
    """
    base = endpoint_url.rstrip("/")
    try:
        status, health = _http("GET", f"{base}/_localstack/health")
        if status != 200 or not isinstance(health, dict):
            return None
        services = health.get("services", {})
        if any(services.get(name) not in ("available", "running") for name in ("route53", "dynamodb")):
            return None
        status, info = _http("GET", f"{base}/_dnssg/info")
    except OSError:
        return None
    if status == 200 and isinstance(info, dict):
        return str(info.get("route53_provider"))
    return "stock"


def find_checkout(start: Path | None = None) -> Path | None:
    """The source checkout holding localstack/start: next to this package (editable install) or the cwd."""
    candidates = [Path(__file__).resolve().parents[2], Path.cwd(), *(start.resolve().parents if start else [])]
    for root in candidates:
        if (root / "localstack" / "start").is_file():
            return root
    return None


@dataclass
class LocalStack:
    """Starts, reuses and stops LocalStack instances through the checkout's localstack/start and stop."""

    checkout: Path | None = field(default_factory=find_checkout)

    def port_for(self, provider: Provider) -> int:
        """The port a provider runs on: DNSSG_LOCALSTACK_<PROVIDER>_PORT or 4566 (strict) / 4567 (stock)."""
        return int(os.environ.get(PORT_ENV[provider], DEFAULT_PORTS[provider]))

    def given_endpoint(self, provider: Provider) -> str | None:
        """A running LocalStack named by LOCALSTACK_ENDPOINT or AWS_ENDPOINT_URL, if it runs provider."""
        for name in ENDPOINT_ENV:
            url = os.environ.get(name, "").strip().rstrip("/")
            if url and route53_provider_of(url) == provider:
                return url
        return None

    def ensure_running(self, provider: Provider = "strict", port: int | None = None) -> str:
        """Endpoint URL of a ready LocalStack with this Route 53 provider, starting one when needed.

        Order: an instance given by LOCALSTACK_ENDPOINT/AWS_ENDPOINT_URL that runs provider; else
        ``localstack/start --route53 provider --port port`` (which itself reuses a running instance).
        Raises LocalStackUnavailable with the start script's reason and log tail.
        """
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, not {provider!r}")
        given = self.given_endpoint(provider) if port is None else None
        if given:
            return given
        script = self._script("start")
        port = port or self.port_for(provider)
        try:
            result = subprocess.run(
                [str(script), "--route53", provider, "--port", str(port)],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise LocalStackUnavailable(f"localstack/start did not finish within {START_TIMEOUT_S} s") from error
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            raise LocalStackUnavailable(
                f"localstack/start --route53 {provider} --port {port} failed (exit {result.returncode}):\n"
                f"{result.stderr.strip()}"
            )
        return lines[-1].strip()

    def stop(self, port: int) -> None:
        """Stop the instance localstack/start runs on port (no-op when none runs)."""
        subprocess.run([str(self._script("stop")), "--port", str(port)], capture_output=True, check=False, timeout=60)

    def _script(self, name: str) -> Path:
        if self.checkout is None:
            raise LocalStackUnavailable(
                "localstack/start not found: run from a dns-safeguards checkout, or point LOCALSTACK_ENDPOINT "
                "at a running LocalStack"
            )
        return self.checkout / "localstack" / name


def ensure_running(provider: Provider = "strict", port: int | None = None) -> str:
    """Endpoint URL of a ready LocalStack with this Route 53 provider (see LocalStack.ensure_running)."""
    return LocalStack().ensure_running(provider, port)


def boto3_client(service: str, endpoint_url: str, *, max_attempts: int = 1, **kwargs: Any) -> Any:
    """A boto3 client for LocalStack with test credentials in us-east-1.

    max_attempts is the total number of tries (standard retry mode): 1 turns botocore's own retries
    off, so tests see every Throttling/InvalidChangeBatch as it happens; pass more to let it retry.
    """
    import boto3
    from botocore.config import Config

    # total_max_attempts counts the first try; botocore's "max_attempts" would count retries only.
    retries = {"mode": "standard", "total_max_attempts": max_attempts}
    config = Config(retries=retries, connect_timeout=5, read_timeout=60)
    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=TEST_REGION, config=config, **TEST_CREDENTIALS, **kwargs
    )


def inject_throttling(endpoint_url: str, n: int, code: str = "Throttling") -> None:
    """Make the next n ChangeResourceRecordSets calls fail with code (HTTP 400); n=0 clears.

    Needs the strict provider (its POST /_dnssg/faults); code is Throttling or PriorRequestNotComplete.
    """
    status, body = _http("POST", f"{endpoint_url.rstrip('/')}/_dnssg/faults", {"throttle": n, "code": code})
    if status != 200:
        reason = body.get("error") if isinstance(body, dict) else body
        raise LocalStackUnavailable(f"fault injection refused by {endpoint_url} (HTTP {status}): {reason}")
