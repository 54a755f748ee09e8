"""`GuardedRecordSet`: one Route 53 record set that Pulumi manages through dns-safeguards.

Pulumi's own `aws.route53.Record` UPSERTs: last writer wins, an empty or stale value goes out
unchecked. Every create, update and delete of a `GuardedRecordSet` is instead one plan applied by
`safeguards.applier.Applier`: a new generation from the plan store, the fenced compare-and-set
batch, the never-empty, capacity, blast-radius and ownership guards, read-back verification.

A plan governs every name its owner holds (deleting what it omits), so a resource's plan is not
just its own record set: it is the owner's live record sets, read from Route 53 under the zone's
lease, with this one set added, replaced or removed. The owner is per stack (provider
configuration `owner`), so two stacks never govern each other's names.

Refusals, each a clear error and nothing written:
- the live record set differs from what this stack last applied (someone else changed it):
  stale, run `pulumi refresh` first; an explicit `generation` not above the live one: stale;
- delete without `retire_on_delete=True` (set it with one `pulumi up`, then remove the resource);
- a record set that already exists with other values, or records not managed by us at the name,
  unless `adopt=True`.

`GuardedRecordProvider` holds the logic; tests call its `check`, `diff`, `create`, `read`,
`update` and `delete` directly. Inside a Pulumi program this module must be imported by its plain
name (`from guarded_record import ...`): the provider is pickled by reference to that module and
the dynamic-provider process, which runs in this directory, imports it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from safeguards.applier import Applier, ApplyOptions, ApplyResult
from safeguards.errors import GuardRefused, InvalidInput, LeaseLost, PlanInvalid, StaleGeneration
from safeguards.fence import ZoneView
from safeguards.plan import Plan, parse_plan
from safeguards.records import RecordKey, RecordSet, fqdn

TYPE_TOKEN = "pulumi-python:dynamic/dns-safeguards:GuardedRecordSet"

#: The resource's inputs; `zone`, `name`, `type`, `set_identifier` identify the record set
#: (changing one replaces the resource), the others update it in place.
KEY_INPUTS = ("zone", "name", "type", "set_identifier")
UPDATE_INPUTS = ("ttl", "values", "weight", "min_values", "retire_on_delete", "adopt", "generation")
INPUTS = KEY_INPUTS + UPDATE_INPUTS

_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN, a value not known in preview
_OWNER_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def default_owner(project: str, stack: str) -> str:
    """The plan owner of a stack: `pulumi.<project>.<stack>`, within the library's owner rules."""
    text = _OWNER_CHARS.sub("-", f"pulumi.{project}.{stack}").strip("-._")
    return text[:63] or "pulumi"


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """Where the provider applies plans. Unset fields are filled from the stack configuration
    in `configure` (`dns-safeguards:*`, `aws:region`, `aws:endpoints`, `aws:accessKey`...).

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
    #: Seconds an operation waits for the zone's lease (other resources' operations hold it).
    lease_wait: float | None = None
    #: Wait for INSYNC after each batch (safe default; each change then takes ~1 min on AWS).
    wait_insync: bool | None = None

    def merged(self, other: BackendConfig) -> BackendConfig:
        """Self's fields, with `other`'s where self has none."""
        return BackendConfig(
            **{f.name: _first(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)}
        )


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


@dataclasses.dataclass
class _Engine:
    """The opened backend and plan store (not pickled: rebuilt in the provider process)."""

    backend: Any
    store: Any
    options: ApplyOptions
    owner: str
    lease_wait: float


def _key(zone: str, owner: str) -> str:
    """The plan-store key of `owner`'s plans in `zone` (each owner of a shared zone has its own)."""
    from safeguards.planstore import scope
    from safeguards.records import fqdn

    return scope(fqdn(zone), owner)


class GuardedRecordProvider(dyn.ResourceProvider):
    """Dynamic provider of `GuardedRecordSet` (see module doc)."""

    serialize_as_secret_always = False  # holds no secret: credentials come from the stack config

    def __init__(self, config: BackendConfig | None = None, **fields: Any) -> None:
        super().__init__()
        self.config = (config or BackendConfig()).merged(BackendConfig(**fields))
        self._runtime()

    # ------------------------------------------------------------------ pickling and setup

    def _runtime(self) -> None:
        self._stack_config = BackendConfig()
        self._credentials: dict[str, str] = {}
        self._engine: _Engine | None = None
        self._lock = threading.RLock()
        self._zone_locks: dict[str, threading.Lock] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config = state["config"]
        self._runtime()

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Fill unset settings from the stack configuration (the engine passes all of it)."""
        get = req.config.get
        endpoints = _endpoints(get("aws:endpoints"))
        self._stack_config = BackendConfig(
            backend=get("dns-safeguards:backend"),
            state=get("dns-safeguards:state"),
            endpoint_url=_first(get("dns-safeguards:endpointUrl"), endpoints.get("route53")),
            region=get("aws:region"),
            plan_table=get("dns-safeguards:planTable"),
            lease_table=get("dns-safeguards:leaseTable"),
            owner=get("dns-safeguards:owner"),
        )
        self._credentials = {
            k: str(v)
            for k, v in (
                ("aws_access_key_id", get("aws:accessKey")),
                ("aws_secret_access_key", get("aws:secretKey")),
                ("aws_session_token", get("aws:token")),
                ("profile_name", get("aws:profile")),
            )
            if v
        }

    def _open(self) -> _Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._build(self.config.merged(self._stack_config))
            return self._engine

    def _build(self, cfg: BackendConfig) -> _Engine:
        owner = cfg.owner or "pulumi"
        lease_wait = float(_first(cfg.lease_wait, 900.0))
        kind = (cfg.backend or ("aws" if cfg.endpoint_url else "embedded")).lower()
        state = Path(cfg.state or ".dns-safeguards").expanduser()
        if kind == "embedded":
            from safeguards.backends.strict import StrictRoute53
            from safeguards.stores.sqlite import SqlitePlanStore

            state.mkdir(parents=True, exist_ok=True)
            backend: Any = StrictRoute53(path=state / "route53.sqlite", insync_after=0.0)
            store: Any = SqlitePlanStore(state / "plans.sqlite")
            options = ApplyOptions(create_zone=True, lease_wait=lease_wait)
        elif kind == "aws":
            import boto3

            from safeguards.backends.boto3_route53 import Boto3Route53, make_route53_client

            region = cfg.region or "us-east-1"
            session = boto3.session.Session(region_name=region, **self._credentials)
            backend = Boto3Route53(make_route53_client(session, cfg.endpoint_url, region))
            if cfg.plan_table:
                from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client

                ddb = make_dynamodb_client(session, cfg.endpoint_url, region)
                store = DynamoPlanStore(
                    ddb, plan_table=cfg.plan_table, lease_table=cfg.lease_table or f"{cfg.plan_table}-leases"
                )
            else:
                from safeguards.stores.sqlite import SqlitePlanStore

                state.mkdir(parents=True, exist_ok=True)
                store = SqlitePlanStore(state / "plans.sqlite")
            # An emulator creates the zone on demand; on AWS the DnsAutomation component owns it.
            options = ApplyOptions(create_zone=cfg.endpoint_url is not None, lease_wait=lease_wait)
        else:
            raise InvalidInput(f"GuardedRecordSet provider: backend must be 'embedded' or 'aws', got {kind!r}")
        if cfg.wait_insync is False:
            options = dataclasses.replace(options, wait_insync=False)
        return _Engine(backend, store, options, owner, lease_wait)

    # ------------------------------------------------------------------ check and diff

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Normalize the inputs and validate them with the library's plan validation; every
        problem is returned as a failure before anything is changed."""
        inputs = {k: v for k, v in news.items() if k.startswith("__")}
        inputs.update(normalize_inputs(news))
        if _has_unknown(inputs):
            return dyn.CheckResult(inputs, [])  # preview: validated again once the values are known
        failures = [dyn.CheckFailure(prop, reason) for prop, reason in validate_inputs(inputs, self._owner())]
        if not failures:
            rrset = record_set(inputs)
            inputs.update(name=rrset.name, zone=fqdn(inputs["zone"]), values=list(rrset.values))
        return dyn.CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Identity changes (zone, name, type, set_identifier) replace; the rest update."""
        changed = [k for k in INPUTS if _differs(olds.get(k), news.get(k), k)]
        replaces = [k for k in changed if k in KEY_INPUTS]
        # Create-before-delete: the new set exists before the old one goes (a name never empties).
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    # ------------------------------------------------------------------ create, read, update, delete

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Add the record set (a new generation of the owner's plan)."""
        desired = record_set(props)
        label = _label(desired)
        result = self._change(props, old=None, new=desired, min_values=_int(props.get("min_values"), 1), label=label)
        assert result is not None  # only a delete can find nothing to do
        return dyn.CreateResult(resource_id(desired), self._outputs(props, desired, result))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the record set as Route 53 holds it now (gone: empty id)."""
        eng = self._open()
        current = record_set(props)
        zone = fqdn(props["zone"])
        live = {r.key: r for r in eng.backend.list_record_sets(eng.backend.resolve_zone(zone))}
        found = live.get(current.key)
        if found is None:
            return dyn.ReadResult("", {})
        outs = {**{k: v for k, v in props.items() if not k.startswith("__")}, "ttl": found.ttl}
        outs.update(values=list(found.values), weight=found.weight)
        return dyn.ReadResult(id_, outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """Change TTL, values, weight or min_values (compare-and-set against what this stack
        last applied: a record changed by anyone else meanwhile is refused as stale)."""
        old = record_set(olds)
        new = record_set(news)
        result = self._change(news, old=old, new=new, min_values=_int(news.get("min_values"), 1), label=_label(new))
        assert result is not None
        return dyn.UpdateResult(self._outputs(news, new, result))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Remove the record set, only when the resource says `retire_on_delete=True`; the name
        is retired (its ownership marker removed) when no other set of ours remains there."""
        old = record_set(props)
        label = _label(old)
        if not props.get("retire_on_delete"):
            raise GuardRefused(
                f"{label}: refusing to delete a live record set (never-empty): set retire_on_delete=True on "
                "this GuardedRecordSet and run 'pulumi up' first, then remove it",
                guard="never-empty",
            )
        self._change(props, old=old, new=None, min_values=1, label=label)

    # ------------------------------------------------------------------ the one write path

    def _change(
        self, props: Mapping[str, Any], *, old: RecordSet | None, new: RecordSet | None, min_values: int, label: str
    ) -> ApplyResult | None:
        eng = self._open()
        zone = fqdn(str(props["zone"]))
        holder = f"{eng.owner}:{uuid.uuid4().hex[:12]}"
        with self._zone_lock(zone):
            lease = self._acquire(eng, zone, holder)
            try:
                plan = self._plan(eng, zone, props, old=old, new=new, min_values=min_values, label=label)
                if plan is None:
                    return None
                applier = Applier(eng.backend, eng.store, enactor_id=holder, options=eng.options)
                try:
                    return applier.apply(plan, adopt=bool(props.get("adopt")))
                except StaleGeneration as exc:
                    raise StaleGeneration(f"{label}: {exc}", ours=exc.ours, live=exc.live) from exc
                except GuardRefused as exc:
                    raise GuardRefused(
                        f"{label}: {exc}" + "".join(f"\n  - {p}" for p in exc.problems[1:]),
                        guard=exc.guard,
                        problems=exc.problems,
                    ) from exc
            finally:
                with contextlib.suppress(Exception):
                    eng.store.release_lease(lease)

    def _plan(
        self,
        eng: _Engine,
        zone: str,
        props: Mapping[str, Any],
        *,
        old: RecordSet | None,
        new: RecordSet | None,
        min_values: int,
        label: str,
    ) -> Plan | None:
        """The owner's live sets with this change applied, as a validated plan of a new generation;
        None when a delete finds the set already gone."""
        try:
            live = eng.backend.list_record_sets(eng.backend.resolve_zone(zone, create=eng.options.create_zone))
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: {exc}") from exc
        view = ZoneView.of(zone, live)
        fence = view.fence
        governed = view.governed(view.owned_by(eng.owner))
        by_key = view.by_key

        if old is not None:  # compare-and-set against what this stack last applied
            current = by_key.get(old.key)
            if current is None and new is None:
                return None  # already deleted: deleting again changes nothing
            if current != old:
                seen = f"{list(current.values)} TTL {current.ttl}" if current else "deleted"
                raise StaleGeneration(
                    f"{label}: changed outside this stack since it was applied (live: {seen}; this stack applied "
                    f"{list(old.values)} TTL {old.ttl}); run 'pulumi refresh' to take the live value, then retry",
                    live=fence.generation if fence else 0,
                )
        if new is not None and old is None and not props.get("adopt"):
            current = by_key.get(new.key)
            if current is not None and current != new:
                raise GuardRefused(
                    f"{label}: already exists with {list(current.values)} TTL {current.ttl}; set adopt=True to "
                    "take it over, or import it",
                    guard="ownership",
                )

        records: dict[RecordKey, RecordSet] = dict(governed)
        if old is not None:
            records.pop(old.key, None)
        if new is not None:
            records[new.key] = new
        retire = []
        if old is not None and new is None and not any(r.name == old.name for r in records.values()):
            retire.append(old.name)
        mins = self._min_values(eng, zone, fence)
        if new is not None:
            mins[new.key] = min_values

        explicit = props.get("generation")
        generation = (
            _int(explicit, 0) if explicit not in (None, "") else eng.store.allocate_generation(_key(zone, eng.owner))
        )
        document = {
            "zone": zone,
            "generation": generation,
            "owner": eng.owner,
            "records": [_record_document(r, mins.get(r.key, 1)) for r in sorted(records.values())],
            "retire": retire,
        }
        try:
            return parse_plan(document, source=label)
        except PlanInvalid as exc:
            raise PlanInvalid(
                f"{label}: the owner's plan would be invalid: " + "; ".join(exc.problems), problems=exc.problems
            ) from exc

    @staticmethod
    def _min_values(eng: _Engine, zone: str, fence: Any) -> dict[RecordKey, int]:
        """min_values of the owner's other sets, from the newest stored plan of this owner."""
        gens = sorted(eng.store.generations(_key(zone, eng.owner)), reverse=True)
        if fence is not None:
            gens = [g for g in gens if g <= fence.generation]
        for g in gens[:50]:
            plan = eng.store.get_plan(_key(zone, eng.owner), g)
            if plan is not None and plan.owner == eng.owner:
                return dict(plan.min_values)
        return {}

    def _acquire(self, eng: _Engine, zone: str, holder: str) -> Any:
        """The zone's lease, waiting (with backoff) while another operation holds it."""
        deadline = time.monotonic() + eng.lease_wait
        delay = 0.05
        while True:
            try:
                return eng.store.acquire_lease(_key(zone, eng.owner), holder, eng.options.lease_ttl)
            except LeaseLost:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _zone_lock(self, zone: str) -> threading.Lock:
        with self._lock:
            return self._zone_locks.setdefault(zone, threading.Lock())

    def _owner(self) -> str:
        return self.config.merged(self._stack_config).owner or "pulumi"

    def _outputs(self, props: Mapping[str, Any], rrset: RecordSet, result: ApplyResult) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if not k.startswith("__")}
        outs.update(
            fqdn=rrset.name,
            values=list(rrset.values),
            applied_generation=result.generation,
            checksum=result.checksum,
            outcome=result.outcome,
            change_ids=list(result.change_ids),
            owner=self._open().owner,
        )
        return outs


# ---------------------------------------------------------------------- inputs


def normalize_inputs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Our inputs with defaults, numbers as ints (the engine sends floats), types upper-cased."""
    out: dict[str, Any] = {}
    for key in INPUTS:
        value = raw.get(key)
        if value == _UNKNOWN:
            out[key] = value
            continue
        if key in ("ttl", "weight", "min_values", "generation") and isinstance(value, float) and value.is_integer():
            value = int(value)
        if key == "type" and isinstance(value, str):
            value = value.strip().upper()
        if key == "values" and isinstance(value, Sequence) and not isinstance(value, str):
            value = list(value)
        out[key] = value
    out["min_values"] = 1 if out["min_values"] is None else out["min_values"]
    out["retire_on_delete"] = bool(out["retire_on_delete"])
    out["adopt"] = bool(out["adopt"])
    return out


#: Which input a parse_plan problem is about (first match wins); see safeguards.plan.
_PROPERTY_PATTERNS = (
    (re.compile(r"^(set_identifier|set_identifier and weight)\b"), "set_identifier"),
    (re.compile(r"^weight\b"), "weight"),
    (re.compile(r"^min_values\b"), "min_values"),
    (re.compile(r"^ttl\b"), "ttl"),
    (re.compile(r"^(type\b|unsupported type|soa records|ns at the zone apex|cname is not allowed)"), "type"),
    (re.compile(r"^(values?\b|a cname has exactly|duplicate value|\d+ (values|characters))"), "values"),
    (re.compile(r"^(name\b|ns records cannot have a wildcard)"), "name"),
    (re.compile(r"^zone\b"), "zone"),
    (re.compile(r"^generation\b"), "generation"),
)


def validate_inputs(inputs: Mapping[str, Any], owner: str = "pulumi") -> list[tuple[str, str]]:
    """(property, reason) for every problem, using `safeguards.plan.parse_plan` on a plan of
    this one record set (so the rules are exactly the library's)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(inputs.get("zone"), str) or not str(inputs.get("zone")).strip():
        return [("zone", "zone: a hosted zone name is required (e.g. example.com)")]
    generation = inputs.get("generation")
    if generation is not None and not (isinstance(generation, int) and not isinstance(generation, bool)):
        problems.append(("generation", f"generation must be a positive integer, got {generation!r}"))
        generation = None
    record: dict[str, Any] = {k: inputs.get(k) for k in ("name", "type", "ttl", "values")}
    for key in ("set_identifier", "weight"):  # present only when given: the library checks the pair
        if inputs.get(key) is not None:
            record[key] = inputs[key]
    if inputs.get("min_values") not in (None, 1):
        record["min_values"] = inputs.get("min_values")
    document = {"zone": inputs["zone"], "generation": generation or 1, "owner": owner, "records": [record]}
    try:
        parse_plan(document, source="GuardedRecordSet")
    except PlanInvalid as exc:
        for p in exc.problems:
            text = p.split("): ", 1)[1] if p.startswith("records[0]") and "): " in p else p
            problems.append((_property_of(text, inputs), text))
    return problems


def _property_of(problem: str, inputs: Mapping[str, Any]) -> str:
    detail = problem.strip().lower()
    for pattern, prop in _PROPERTY_PATTERNS:
        if pattern.search(detail):
            return prop
    values = inputs.get("values")
    if isinstance(values, list) and any(str(v).lower() in detail for v in values):
        return "values"  # a value the library could not parse names itself
    return ""


def record_set(props: Mapping[str, Any]) -> RecordSet:
    """The canonical RecordSet of validated inputs (the library's own normalization)."""
    record: dict[str, Any] = {k: props.get(k) for k in ("name", "type", "ttl", "values")}
    record["ttl"] = _int(record["ttl"], 0)
    if props.get("set_identifier") is not None:
        record.update(set_identifier=props.get("set_identifier"), weight=_int(props.get("weight"), 0))
    plan = parse_plan({"zone": props["zone"], "generation": 1, "records": [record]}, source="GuardedRecordSet")
    return plan.records[0]


def resource_id(rrset: RecordSet) -> str:
    """The Pulumi id: `<fqdn>/<type>` (`/<set identifier>` for weighted sets)."""
    return "/".join(p for p in (rrset.name, rrset.type, rrset.set_identifier) if p)


def _record_document(r: RecordSet, min_values: int) -> dict[str, Any]:
    d = r.to_dict()
    if min_values > 1:
        d["min_values"] = min(min_values, len(r.values))
    return d


def _label(r: RecordSet) -> str:
    return f"{r.name} {r.type}" + (f" (set {r.set_identifier})" if r.set_identifier else "")


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    return int(value)


def _has_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return value == _UNKNOWN
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unknown(v) for v in value)
    return False


def _differs(old: Any, new: Any, key: str) -> bool:
    if key in ("retire_on_delete", "adopt"):
        return bool(old) != bool(new)
    if key == "min_values":
        return (old or 1) != (new or 1)
    if key == "values" and isinstance(old, list | tuple) and isinstance(new, list | tuple):
        return sorted(map(str, old)) != sorted(map(str, new))
    if key in ("ttl", "weight", "generation") and isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) != float(new)
    return old != new


def _endpoints(raw: Any) -> dict[str, str]:
    """`aws:endpoints` from the stack config (a list of mappings, possibly as JSON text)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    out: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else []:
        if isinstance(item, Mapping):
            out.update({str(k): str(v) for k, v in item.items() if v})
    return out


# ---------------------------------------------------------------------- the resource


class GuardedRecordSet(dyn.Resource, module="dns-safeguards", name="GuardedRecordSet"):
    """A Route 53 record set changed only through dns-safeguards (see module doc).

    Outputs: `fqdn`, `values` (canonical), `applied_generation`, `checksum`, `outcome`,
    `change_ids`, `owner`."""

    fqdn: pulumi.Output[str]
    values: pulumi.Output[list[str]]
    applied_generation: pulumi.Output[int]
    checksum: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        zone: pulumi.Input[str],
        name: pulumi.Input[str],
        type: pulumi.Input[str],
        ttl: pulumi.Input[int],
        values: pulumi.Input[Sequence[pulumi.Input[str]]],
        set_identifier: pulumi.Input[str] | None = None,
        weight: pulumi.Input[int] | None = None,
        min_values: pulumi.Input[int] = 1,
        retire_on_delete: pulumi.Input[bool] = False,
        adopt: pulumi.Input[bool] = False,
        generation: pulumi.Input[int] | None = None,
        provider: GuardedRecordProvider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "zone": zone,
            "name": name,
            "type": type,
            "ttl": ttl,
            "values": values,
            "set_identifier": set_identifier,
            "weight": weight,
            "min_values": min_values,
            "retire_on_delete": retire_on_delete,
            "adopt": adopt,
            "generation": generation,
            # outputs, declared so the engine exposes them
            "fqdn": None,
            "applied_generation": None,
            "checksum": None,
            "outcome": None,
            "change_ids": None,
            "owner": None,
        }
        super().__init__(provider or GuardedRecordProvider(), resource_name, props, opts)
