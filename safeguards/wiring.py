"""Assemble an `Applier` from CLI settings: the embedded default (strict model + SQLite plan
store in a state directory, no server) or boto3 against AWS / an endpoint URL. The only place
that knows which concrete backend and store exist."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .applier import Applier, ApplyOptions
from .checkpoints import NO_CHECKPOINTS
from .errors import CredentialsMissing, EndpointUnavailable, InvalidInput
from .verify import DnsVerifier


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
        if not host or (port and not port.isdigit()):
            raise InvalidInput(f"--verify-dns: expected HOST[:PORT], got {spec!r}")
        gate = DnsVerifier(host, port=int(port or 53))
        opts = self.applier.options
        self.applier.options = replace(opts, verifiers=(*opts.verifiers, gate))


def build_applier(settings: _Settings, *, checkpoint: Any = None) -> Wiring:
    """Backend, plan store and options for `settings`."""
    from .stores.sqlite import SqlitePlanStore

    cp = checkpoint or NO_CHECKPOINTS
    if settings.endpoint_url is None and str(getattr(settings.backend, "value", settings.backend)) == "embedded":
        from .backends.strict import StrictRoute53

        state = settings.state
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"state directory {state}: {exc.strerror}") from exc
        # The embedded model has no resolvers to propagate to, so changes are INSYNC at once.
        backend = StrictRoute53(path=state / "route53.sqlite", insync_after=0.0)
        store = SqlitePlanStore(state / "plans.sqlite")
        options = ApplyOptions(create_zone=True)
        return Wiring(Applier(backend, store, enactor_id=settings.enactor_id, options=options, checkpoint=cp))

    import boto3
    import botocore.exceptions

    from .backends.boto3_route53 import Boto3Route53, make_route53_client

    try:
        session = boto3.session.Session(region_name=settings.region)
        if session.get_credentials() is None:
            raise CredentialsMissing(
                "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
            )
        r53 = make_route53_client(session, settings.endpoint_url, settings.region)
        backend = Boto3Route53(client=r53)
        if settings.plan_table:
            from .stores.dynamodb import DynamoPlanStore, make_dynamodb_client
            from .stores.schema import ensure_tables

            ddb = make_dynamodb_client(session, settings.endpoint_url, settings.region)
            if settings.endpoint_url is not None:
                # Emulators start empty; on AWS the tables come from the Pulumi program.
                ensure_tables(ddb, settings.plan_table, settings.lease_table)
            store: Any = DynamoPlanStore(ddb, plan_table=settings.plan_table, lease_table=settings.lease_table)
        else:
            settings.state.mkdir(parents=True, exist_ok=True)
            store = SqlitePlanStore(settings.state / "plans.sqlite")
    except botocore.exceptions.EndpointConnectionError as exc:
        raise EndpointUnavailable(f"cannot reach endpoint {settings.endpoint_url}: {exc}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise InvalidInput(f"AWS configuration: {exc}") from exc
    # Real Route 53 (or an emulator) takes a while to be INSYNC: wait with backoff and jitter.
    options = ApplyOptions(create_zone=settings.endpoint_url is not None)
    return Wiring(Applier(backend, store, enactor_id=settings.enactor_id, options=options, checkpoint=cp))
