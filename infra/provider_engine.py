"""What the dns-safeguards dynamic providers share: where plans are applied, opened once per process.

`GuardedRecordSet` (guarded_record.py) and `GuardedPlan` (guarded_plan.py) differ in what a
resource is, not in how they reach Route 53 and the plan store. Both subclass `EngineProvider`:
its settings (`BackendConfig`) are the constructor's, filled from the stack configuration by
`configure`; the engine (backend, plan store, apply options, owner) is built on first use in the
provider process and never pickled, nor are the credentials (they come from the stack config).

Imported by its plain name inside the Pulumi program (this directory is first on sys.path) and as
`infra.provider_engine` by the tests, like its siblings.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi.dynamic as dyn

from safeguards import Applier, ApplyOptions, InvalidInput

#: Seconds an operation waits for the zone's lease when the configuration does not say.
DEFAULT_LEASE_WAIT = 900.0


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """Where plans are applied. Unset fields are filled from the stack configuration in
    `EngineProvider.configure` (`dns-safeguards:*`, `aws:region`, `aws:endpoints`, ...).

    `backend`: "embedded" (strict Route 53 model + SQLite plan store in `state`, no AWS) or
    "aws" (boto3 against AWS or `endpoint_url`; plans in DynamoDB when `plan_table` is set).
    """

    backend: str | None = None
    state: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    plan_table: str | None = None
    lease_table: str | None = None
    owner: str | None = None
    #: Seconds an operation waits for the zone's lease (other operations may hold it).
    lease_wait: float | None = None
    #: Wait for INSYNC after each batch or stage (the safe default).
    wait_insync: bool | None = None

    def merged(self, other: BackendConfig) -> BackendConfig:
        """Self's fields, with `other`'s where self has none."""
        return BackendConfig(
            **{f.name: _first(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)}
        )

    @classmethod
    def from_stack(cls, get: Callable[[str], Any]) -> BackendConfig:
        """The settings the stack configuration gives (`get` is the engine's config lookup)."""
        return cls(
            backend=get("dns-safeguards:backend"),
            state=get("dns-safeguards:state"),
            endpoint_url=_first(get("dns-safeguards:endpointUrl"), endpoints(get("aws:endpoints")).get("route53")),
            region=get("aws:region"),
            plan_table=get("dns-safeguards:planTable"),
            lease_table=get("dns-safeguards:leaseTable"),
            owner=get("dns-safeguards:owner"),
        )


def stack_credentials(get: Callable[[str], Any]) -> dict[str, str]:
    """boto3 session arguments from the stack configuration (only those it sets)."""
    given = (
        ("aws_access_key_id", get("aws:accessKey")),
        ("aws_secret_access_key", get("aws:secretKey")),
        ("aws_session_token", get("aws:token")),
        ("profile_name", get("aws:profile")),
    )
    return {k: str(v) for k, v in given if v}


def endpoints(raw: Any) -> dict[str, str]:
    """`aws:endpoints` from the stack config (a list of mappings, possibly as JSON text)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else []
    return {str(k): str(v) for item in items if isinstance(item, Mapping) for k, v in item.items() if v}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


@dataclasses.dataclass
class Engine:
    """The opened backend and plan store (never pickled: rebuilt in the provider process)."""

    backend: Any
    store: Any
    options: ApplyOptions
    owner: str

    @property
    def lease_wait(self) -> float:
        return self.options.lease_wait

    def applier(self, enactor_id: str) -> Applier:
        return Applier(self.backend, self.store, enactor_id=enactor_id, options=self.options)


def open_engine(cfg: BackendConfig, credentials: Mapping[str, str], resource: str) -> Engine:
    """Open the backend and plan store `cfg` names; `resource` names the resource type in errors."""
    kind = (cfg.backend or ("aws" if cfg.endpoint_url else "embedded")).lower()
    state = Path(cfg.state or ".dns-safeguards").expanduser()
    lease_wait = float(_first(cfg.lease_wait, DEFAULT_LEASE_WAIT))
    if kind == "embedded":
        from safeguards import SqlitePlanStore, StrictRoute53

        state.mkdir(parents=True, exist_ok=True)
        backend: Any = StrictRoute53(path=state / "route53.sqlite", insync_after=0.0)
        store: Any = SqlitePlanStore(state / "plans.sqlite")
        create_zone = True
    elif kind == "aws":
        import boto3

        from safeguards.backends.boto3_route53 import Boto3Route53, make_route53_client

        region = cfg.region or "us-east-1"
        session = boto3.session.Session(region_name=region, **credentials)
        backend = Boto3Route53(make_route53_client(session, cfg.endpoint_url, region))
        if cfg.plan_table:
            from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client

            ddb = make_dynamodb_client(session, cfg.endpoint_url, region)
            lease_table = cfg.lease_table or f"{cfg.plan_table}-leases"
            store = DynamoPlanStore(ddb, plan_table=cfg.plan_table, lease_table=lease_table)
        else:
            from safeguards import SqlitePlanStore

            state.mkdir(parents=True, exist_ok=True)
            store = SqlitePlanStore(state / "plans.sqlite")
        # An emulator creates the zone on demand; on AWS the DnsAutomation component owns it.
        create_zone = cfg.endpoint_url is not None
    else:
        raise InvalidInput(f"{resource} provider: backend must be 'embedded' or 'aws', got {kind!r}")
    options = ApplyOptions(create_zone=create_zone, lease_wait=lease_wait)
    if cfg.wait_insync is False:
        options = dataclasses.replace(options, wait_insync=False)
    return Engine(backend, store, options, cfg.owner or "pulumi")


class EngineProvider(dyn.ResourceProvider):
    """A dynamic provider that applies through dns-safeguards: settings, stack configuration and
    the engine, opened once per provider process. Subclasses set `RESOURCE` (for errors)."""

    RESOURCE = "dns-safeguards"
    serialize_as_secret_always = False  # holds no secret: credentials come from the stack config

    def __init__(self, config: BackendConfig | None = None, **fields: Any) -> None:
        super().__init__()
        self.config = (config or BackendConfig()).merged(BackendConfig(**fields))
        self._runtime()

    def _runtime(self) -> None:
        """Process-local state: rebuilt after unpickling, never pickled."""
        self._stack_config = BackendConfig()
        self._credentials: dict[str, str] = {}
        self._engine: Engine | None = None
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config = state["config"]
        self._runtime()

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Fill unset settings from the stack configuration (the engine passes all of it)."""
        self._stack_config = BackendConfig.from_stack(req.config.get)
        self._credentials = stack_credentials(req.config.get)

    def engine(self) -> Engine:
        """The backend and plan store, opened once per provider process."""
        with self._lock:
            if self._engine is None:
                self._engine = open_engine(self.config.merged(self._stack_config), self._credentials, self.RESOURCE)
            return self._engine

    def owner(self) -> str:
        return self.config.merged(self._stack_config).owner or "pulumi"


def store_key(zone: str, owner: str) -> str:
    """The plan-store key of `owner`'s plans in `zone` (each owner of a shared zone has its own)."""
    from safeguards.planstore import scope
    from safeguards.records import fqdn

    return scope(fqdn(zone), owner)
