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
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from safeguards.applier import Applier, ApplyResult
from safeguards.errors import GuardRefused, InvalidInput, LeaseLost, PlanInvalid, StaleGeneration
from safeguards.fence import ZoneView
from safeguards.plan import Plan, parse_plan
from safeguards.records import RecordKey, RecordSet, fqdn

# The sibling module is imported the way this one was: as `infra.provider_engine` when this is
# `infra.guarded_record` (tests, other programs), by plain name when this is `guarded_record` (the Pulumi program,
# whose directory is on sys.path), so a pickled provider names modules its process can import.
if __package__:
    from .provider_engine import Engine, EngineProvider, store_key
else:  # pragma: no cover - the Pulumi program's own directory is on sys.path
    from provider_engine import Engine, EngineProvider, store_key  # type: ignore[import-not-found,no-redef]

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


class GuardedRecordProvider(EngineProvider):
    """Dynamic provider of `GuardedRecordSet` (see module doc)."""

    RESOURCE = "GuardedRecordSet"

    def _runtime(self) -> None:
        super()._runtime()
        self._zone_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ check and diff

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Normalize the inputs and validate them with the library's plan validation; every
        problem is returned as a failure before anything is changed."""
        inputs = {k: v for k, v in news.items() if k.startswith("__")}
        inputs.update(normalize_inputs(news))
        if _has_unknown(inputs):
            return dyn.CheckResult(inputs, [])  # preview: validated again once the values are known
        failures = [dyn.CheckFailure(prop, reason) for prop, reason in validate_inputs(inputs, self.owner())]
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
        eng = self.engine()
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
        eng = self.engine()
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
        eng: Engine,
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
            _int(explicit, 0)
            if explicit not in (None, "")
            else eng.store.allocate_generation(store_key(zone, eng.owner))
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
    def _min_values(eng: Engine, zone: str, fence: Any) -> dict[RecordKey, int]:
        """min_values of the owner's other sets, from the newest stored plan of this owner."""
        gens = sorted(eng.store.generations(store_key(zone, eng.owner)), reverse=True)
        if fence is not None:
            gens = [g for g in gens if g <= fence.generation]
        for g in gens[:50]:
            plan = eng.store.get_plan(store_key(zone, eng.owner), g)
            if plan is not None and plan.owner == eng.owner:
                return dict(plan.min_values)
        return {}

    def _acquire(self, eng: Engine, zone: str, holder: str) -> Any:
        """The zone's lease, waiting (with backoff) while another operation holds it."""
        deadline = time.monotonic() + eng.lease_wait
        delay = 0.05
        while True:
            try:
                return eng.store.acquire_lease(store_key(zone, eng.owner), holder, eng.options.lease_ttl)
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
            owner=self.engine().owner,
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
