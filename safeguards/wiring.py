"""Assemble an `Applier` from CLI settings: the embedded default (strict model + SQLite plan
store in a state directory, no server) or boto3 against AWS / an endpoint URL. The only place
that knows which concrete backend and store exist.

Zones are never created by accident: the embedded default creates the plan's zone on first use
(a state that holds no zone yet); otherwise, and always against an endpoint or AWS, only when
asked (`create_zone`, the CLI's ``apply --create-zone``).

The state directory is created 0700 and its SQLite files 0600 (SQLite gives its journal and WAL
files the database file's mode).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .applier import Applier, ApplyOptions
from .checkpoints import NO_CHECKPOINTS
from .errors import (
    CredentialsNotFound,
    EndpointUnavailable,
    InvalidInput,
    SafeguardsError,
    StateReadOnly,
)
from .logs import redact
from .sqlite_tx import state_error
from .verify import DnsVerifier

#: Credentials LocalStack and moto accept; used for a loopback endpoint when none are configured.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
_EMULATOR_HOSTS = {"localhost", "localstack", "moto", "host.docker.internal"}


class _Settings(Protocol):
    state: Path
    backend: Any
    endpoint_url: str | None
    region: str
    plan_table: str | None
    lease_table: str
    enactor_id: str


@dataclass
class Wiring:
    """The assembled applier plus what the CLI may still add to it."""

    applier: Applier
    extra: dict[str, Any] = field(default_factory=dict)

    def add_verifier(self, gate: Any) -> None:
        """Add a rollout gate (a `safeguards.verify.Verifier`)."""
        opts = self.applier.options
        self.applier.options = replace(opts, verifiers=(*opts.verifiers, gate))

    def add_dns_verifier(self, spec: str) -> None:
        """Add a DNS resolution gate against HOST[:PORT]."""
        host, _, port = spec.partition(":")
        if not host or (port and not port.isdigit()) or (port and not 0 < int(port) < 65536):
            raise InvalidInput(f"--verify-dns: expected HOST[:PORT] with a port in 1..65535, got {spec!r}")
        gate = DnsVerifier(host, port=int(port or 53))
        opts = self.applier.options
        self.applier.options = replace(opts, verifiers=(*opts.verifiers, gate))


def check_endpoint_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host; InvalidInput (exit 2) otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"--endpoint-url {redact(url)!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"--endpoint-url {redact(url)!r} is not a URL: expected http(s)://HOST[:PORT], e.g. http://localhost:4566"
        )
    if port == 0:
        raise InvalidInput(f"--endpoint-url {redact(url)!r}: port 0 is not a port")
    return url.strip()


def is_emulator_endpoint(url: str | None) -> bool:
    """A loopback address or a well-known emulator host name (LocalStack, moto)."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    if host in _EMULATOR_HOSTS or host.endswith(".localhost") or host.endswith(".localstack.cloud"):
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def prepare_state_dir(state: Path) -> None:
    """Create the state directory (0700) if needed; a clear error if it cannot be used."""
    try:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidInput(f"state directory {state} exists and is not a directory (see --state)") from None
    except OSError as exc:
        raise StateReadOnly(
            f"state directory {state}: cannot create it ({exc.strerror}): make its parent writable, "
            "or choose another with --state"
        ) from exc
    if not state.is_dir():
        raise InvalidInput(f"state directory {state} exists and is not a directory (see --state)")


def prepare_state_file(path: Path) -> None:
    """Create `path` empty with mode 0600 when it does not exist yet (SQLite takes an empty file
    as a new database), so the state's files are never readable by others."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StateReadOnly(
            f"{path}: {exc.strerror}: make the state directory writable, or choose another with --state"
        ) from exc
    os.close(fd)


def _zones_in(path: Path) -> list[str]:
    """Names of the hosted zones in the embedded model's file (empty: first use)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return [row[0] for row in db.execute("SELECT name FROM zones ORDER BY name")]
    except sqlite3.Error:
        return []


def _sqlite_fault(exc: BaseException, where: Path) -> SafeguardsError | None:
    """A SQLite fault while opening a state file, as the library's error (None: not one)."""
    cause = exc if isinstance(exc, sqlite3.Error) else exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return state_error(cause, where)
    return None


def build_applier(settings: _Settings, *, checkpoint: Any = None) -> Wiring:
    """Backend, plan store and options for `settings`: the embedded default, or boto3 against an
    endpoint (LocalStack, moto, AWS) with a DynamoDB or SQLite plan store."""
    cp = checkpoint or NO_CHECKPOINTS
    create_zone = bool(getattr(settings, "create_zone", False))
    endpoint_url = settings.endpoint_url
    if endpoint_url is not None:
        endpoint_url = check_endpoint_url(endpoint_url)
    if endpoint_url is None and str(getattr(settings.backend, "value", settings.backend)) == "embedded":
        backend, store, create_zone = _embedded(settings.state, create_zone)
    else:
        backend, store = _boto3(settings, endpoint_url)
    options = ApplyOptions(create_zone=create_zone)
    return Wiring(Applier(backend, store, enactor_id=settings.enactor_id, options=options, checkpoint=cp))


def _sqlite_store(state: Path) -> Any:
    from .stores.sqlite import SqlitePlanStore

    prepare_state_dir(state)
    plans_path = state / "plans.sqlite"
    prepare_state_file(plans_path)
    try:
        return SqlitePlanStore(plans_path)
    except SafeguardsError as exc:
        fault = _sqlite_fault(exc, plans_path)
        if fault is None:
            raise
        raise fault from exc


def _embedded(state: Path, create_zone: bool) -> tuple[Any, Any, bool]:
    """The strict Route 53 model and the plan store, both SQLite files in the state directory."""
    from .backends.strict import StrictRoute53

    prepare_state_dir(state)
    r53_path = state / "route53.sqlite"
    prepare_state_file(r53_path)
    # The embedded model has no resolvers to propagate to, so changes are INSYNC at once.
    try:
        strict = StrictRoute53(path=r53_path, insync_after=0.0)
    except sqlite3.Error as exc:
        raise (state_error(exc, r53_path) or exc) from exc
    store = _sqlite_store(state)
    # First use: a state without any zone takes the plan's zone.
    return strict, store, create_zone or not _zones_in(r53_path)


def _boto3(settings: _Settings, endpoint_url: str | None) -> tuple[Any, Any]:
    """Route 53 through boto3, and the DynamoDB plan store (or SQLite in the state directory).
    Real Route 53 (or an emulator) takes a while to be INSYNC: the applier waits with jitter."""
    import boto3
    import botocore.exceptions

    from .backends.boto3_route53 import Boto3Route53, make_route53_client

    shown = redact(endpoint_url or "")
    try:
        session = boto3.session.Session(region_name=settings.region)
        if session.get_credentials() is None:
            if not is_emulator_endpoint(endpoint_url):
                raise CredentialsNotFound(
                    "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
                )
            # LocalStack and moto accept any credentials: a loopback endpoint needs none configured.
            session = boto3.session.Session(region_name=settings.region, **EMULATOR_CREDENTIALS)
        backend = Boto3Route53(client=make_route53_client(session, endpoint_url, settings.region))
        if not settings.plan_table:
            return backend, _sqlite_store(settings.state)
        from .stores.dynamodb import DynamoPlanStore, make_dynamodb_client
        from .stores.schema import ensure_tables

        ddb = make_dynamodb_client(session, endpoint_url, settings.region)
        if endpoint_url is not None:
            # Emulators start empty; on AWS the tables come from the Pulumi program.
            ensure_tables(ddb, settings.plan_table, settings.lease_table)
        return backend, DynamoPlanStore(ddb, plan_table=settings.plan_table, lease_table=settings.lease_table)
    except botocore.exceptions.EndpointConnectionError as exc:
        raise EndpointUnavailable(f"cannot reach endpoint {shown}: {redact(str(exc))}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise InvalidInput(f"AWS configuration: {redact(str(exc))}") from exc
