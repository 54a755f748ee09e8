"""`GuardedPlan`: a whole dns-safeguards plan as one Pulumi resource.

`GuardedRecordSet` makes every record set its own resource, so a stack of N sets pays N
generations, N change batches, N reads of the zone and (on Route 53) N INSYNC waits in a row, and
the blast-radius guard never fires because each plan changes one set. A `GuardedPlan` holds the
plan file's content (records, min_values, weights, retire, canary) and each create or update is
exactly what `dns-safeguards apply` does with that file: one generation, one fenced apply through
`safeguards.Applier` (batches packed to Route 53's limits, canary first, verified, the guards
judging the whole change, rollback of the whole change).

- `check` validates with the library's `parse_plan` (every problem at once) and, once the values
  are known, asks the library what the plan would do to the live zone (`Applier.preview`, which
  writes nothing): the per-record creates, updates and deletes come back as the `preview` input,
  a refusal (blast radius, never-empty, ownership, stale generation) as check failures, so
  `pulumi preview` shows it and `pulumi up` stops before writing anything.
- `update` refuses when the owner's live sets differ from what this stack last applied (someone
  changed the zone meanwhile): `pulumi refresh` takes the live sets, then `pulumi up` again.
- `delete` retires every name of the plan, only with `retire_on_delete=True`.

The plan's owner is the provider's `owner` (per stack). A plan governs every name its owner holds,
so `GuardedRecordSet`s next to a `GuardedPlan` need a provider with another owner.

The library is used through its public API only: `parse_plan`, `Applier.preview` and
`Applier.apply`, the plan store's generation and lease calls. Inside a Pulumi program import this
module by its plain name (`from guarded_plan import ...`), as `guarded_record`: the provider is
pickled by reference and the dynamic-provider process, which runs in this directory, imports it.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from safeguards import (
    Applier,
    ApplyResult,
    FenceLost,
    GuardRefused,
    Plan,
    PlanInvalid,
    RecordSet,
    StaleGeneration,
    parse_plan,
    plan_to_document,
)

# The sibling module is imported the way this one was: as `infra.provider_engine` when this is
# `infra.guarded_plan` (tests, other programs), by plain name when this is `guarded_plan` (the Pulumi program,
# whose directory is on sys.path), so a pickled provider names modules its process can import.
if __package__:
    from .provider_engine import Engine, EngineProvider, store_key
else:  # pragma: no cover - the Pulumi program's own directory is on sys.path
    from provider_engine import Engine, EngineProvider, store_key  # type: ignore[import-not-found,no-redef]

TYPE_TOKEN = "pulumi-python:dynamic/dns-safeguards:GuardedPlan"

#: A change of zone is another plan (replace); the rest is applied as a new generation.
CONTENT_INPUTS = ("zone", "records", "retire", "canary", "generation")
#: Inputs that only shape how the next apply runs, never what is live: no apply of their own.
FLAG_INPUTS = ("force", "adopt", "retire_on_delete")

#: Generation the read-only preview judges with when none is given: the real apply takes the
#: plan store's next one, so only an explicit generation can be stale before it is applied.
PREVIEW_GENERATION = 2**53 - 1
#: Lines of the per-record preview kept in the inputs (the counts line is always first).
PREVIEW_LINES = 200

_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN


def record_key(r: RecordSet) -> str:
    """A record set's key in the `records` input: `<fqdn>/<type>[/<set identifier>]`."""
    return "/".join(p for p in (r.name, r.type, r.set_identifier) if p)


def plan_inputs(plan: Plan) -> dict[str, Any]:
    """A `GuardedPlan`'s content inputs for a loaded plan file (`safeguards.load_plan`)."""
    return {
        "zone": plan.zone,
        "records": record_documents(plan),
        "retire": list(plan.retire),
        "canary": list(plan.canary),
    }


# ---------------------------------------------------------------------- provider configuration


class GuardedPlanProvider(EngineProvider):
    """Dynamic provider of `GuardedPlan` (see module doc)."""

    RESOURCE = "GuardedPlan"

    # ------------------------------------------------------------------ check and diff

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Validate with the library's rules, then show what the plan would do to the live zone
        (nothing written); refusals are failures, so preview shows them and up stops."""
        inputs = {k: v for k, v in news.items() if k.startswith("__")}
        inputs.update(normalize_inputs(news))
        if _has_unknown(inputs):
            return dyn.CheckResult(inputs, [])  # preview: checked again once the values are known
        try:
            plan = build_plan(inputs, self.owner(), inputs.get("generation") or PREVIEW_GENERATION)
        except PlanInvalid as exc:
            return dyn.CheckResult(inputs, [dyn.CheckFailure(_property_of(p), p) for p in exc.problems])
        inputs.update(plan_inputs(plan))
        lines, problems = self._preview(plan, inputs)
        inputs["preview"] = lines
        return dyn.CheckResult(inputs, [dyn.CheckFailure("records", p) for p in problems])

    def _preview(self, plan: Plan, inputs: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """(per-record lines, refusals) of the library's preview of `plan` against the live zone."""
        try:
            applier = self.engine().applier("pulumi-preview")
            preview = applier.preview(plan, force=bool(inputs.get("force")), adopt=bool(inputs.get("adopt")))
        except Exception as exc:  # the live read is a courtesy of preview: apply reads and judges again
            return [f"live zone not read ({type(exc).__name__}: {exc}); judged again by the apply"], []
        problems = []
        if preview.stale is not None:
            problems.append(str(preview.stale))
        if preview.refusal is not None:
            problems.extend(preview.refusal.problems or [str(preview.refusal)])
        return preview_lines(preview), [_in_pulumi_terms(p) for p in problems]

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """A new zone replaces; any other content change is one update (one generation). The
        flags only change the state: `update` records them without applying anything."""
        changed = [k for k in CONTENT_INPUTS + FLAG_INPUTS if _plain(olds.get(k)) != _plain(news.get(k))]
        replaces = [k for k in changed if k == "zone"]
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    # ------------------------------------------------------------------ create, read, update, delete

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Apply the plan: one generation, one fenced apply."""
        eng = self.engine()
        zone = str(props["zone"])
        with self._lease(eng, zone) as holder:
            plan = build_plan(
                props, eng.owner, props.get("generation") or eng.store.allocate_generation(store_key(zone, eng.owner))
            )
            result = _apply(eng.applier(holder), plan, props)
        return dyn.CreateResult(f"{plan.zone}#{eng.owner}", self._outputs(props, plan, result))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """Apply the new content as one generation, compare-and-set against what this stack last
        applied: sets changed by anyone else meanwhile are refused as stale."""
        eng = self.engine()
        zone = str(news["zone"])
        if all(_plain(olds.get(k)) == _plain(news.get(k)) for k in CONTENT_INPUTS):
            # Only flags changed: record them; applying would only burn a generation.
            kept = {k: olds.get(k) for k in RESULT_OUTPUTS}
            return dyn.UpdateResult({**_inputs_only(news), **kept})
        with self._lease(eng, zone) as holder:
            plan = build_plan(
                news, eng.owner, news.get("generation") or eng.store.allocate_generation(store_key(zone, eng.owner))
            )
            applier = eng.applier(holder)
            preview = applier.preview(plan, force=bool(news.get("force")), adopt=bool(news.get("adopt")))
            drift = drifted(_records_of(olds, eng.owner), preview.diff)
            if drift:
                raise StaleGeneration(
                    f"{plan.zone}: {len(drift)} record set(s) changed outside this stack since it applied "
                    f"generation {olds.get('applied_generation')} ({drift[0]}"
                    f"{f'; and {len(drift) - 1} more' if len(drift) > 1 else ''}); run 'pulumi refresh' to take "
                    "the live sets, then 'pulumi up' again",
                    live=preview.live.generation if preview.live else 0,
                )
            result = _apply(applier, plan, news)
        return dyn.UpdateResult(self._outputs(news, plan, result))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the owner's live sets at the plan's names (the zone gone: empty id)."""
        eng = self.engine()
        plan = _applied_plan(props, eng.owner)
        preview = eng.applier("pulumi-refresh").preview(plan, force=True, adopt=True)
        live = {r.key: r for r in plan.records}
        for r in preview.diff.creates:  # planned but not live
            live.pop(r.key, None)
        for observed, _desired in preview.diff.updates:
            live[observed.key] = observed
        for observed in preview.diff.deletes:  # live at a name of the owner, not planned
            live[observed.key] = observed
        if not live:
            return dyn.ReadResult("", {})  # nothing of the plan is live: gone
        minimum = {k: int(dict(v).get("min_values", 1)) for k, v in (props.get("records") or {}).items()}
        kept = {r.key: minimum[record_key(r)] for r in live.values() if minimum.get(record_key(r), 1) > 1}
        records = record_documents(Plan(plan.zone, 1, tuple(sorted(live.values())), min_values=kept))
        return dyn.ReadResult(id_, {**{k: v for k, v in props.items() if not k.startswith("__")}, "records": records})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Retire every name of the plan: only with `retire_on_delete=True` (the names' records
        go, which the never-empty guard otherwise forbids)."""
        if not props.get("retire_on_delete"):
            raise GuardRefused(
                f"{props.get('zone')}: refusing to delete the plan's live records (never-empty): set "
                "retire_on_delete=True on the GuardedPlan and run 'pulumi up' first, or list the names under "
                "'retire' in the plan file",
                guard="never-empty",
            )
        eng = self.engine()
        zone = str(props["zone"])
        names = sorted({r.name for r in _records_of(props, eng.owner).values()} | set(props.get("retire") or []))
        with self._lease(eng, zone) as holder:
            applier = eng.applier(holder)
            generation = eng.store.allocate_generation(store_key(zone, eng.owner))
            document = {"zone": zone, "generation": generation, "owner": eng.owner, "records": [], "retire": names}
            gone = parse_plan(document, source="GuardedPlan delete")
            if applier.preview(gone, force=True).diff.empty:
                return  # nothing of ours left (or no zone): deleting again changes nothing
            # Removing everything is the intent: blast radius yields, never-empty does not.
            applier.apply(gone, force=True)

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _lease(self, eng: Engine, zone: str) -> Iterator[str]:
        """Hold the zone's lease across preview and apply (the applier renews it as the same
        holder), so the compare against this stack's last apply is not stale when we write."""
        holder = f"{eng.owner}:{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + eng.options.lease_wait
        delay = 0.05
        while True:
            try:
                lease = eng.store.acquire_lease(store_key(zone, eng.owner), holder, eng.options.lease_ttl)
                break
            except FenceLost:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            yield holder
        finally:
            with contextlib.suppress(Exception):
                eng.store.release_lease(lease)

    def _outputs(self, props: Mapping[str, Any], plan: Plan, result: ApplyResult) -> dict[str, Any]:
        d = result.diff
        return {
            **_inputs_only(props),
            **plan_inputs(plan),
            "owner": plan.owner,
            "applied_generation": result.generation,
            "checksum": result.checksum,
            "outcome": result.outcome,
            "batches": result.batches,
            "change_ids": list(result.change_ids),
            "creates": len(d.creates) if d else 0,
            "updates": len(d.updates) if d else 0,
            "deletes": len(d.deletes) if d else 0,
        }


#: Outputs an apply produces (kept as they are when only flags change).
RESULT_OUTPUTS = (
    "owner",
    "applied_generation",
    "checksum",
    "outcome",
    "batches",
    "change_ids",
    "creates",
    "updates",
    "deletes",
)


def _apply(applier: Applier, plan: Plan, props: Mapping[str, Any]) -> ApplyResult:
    return applier.apply(plan, force=bool(props.get("force")), adopt=bool(props.get("adopt")))


def _inputs_only(props: Mapping[str, Any]) -> dict[str, Any]:
    """The resource's inputs without engine keys and without the (pre-apply) preview."""
    return {k: v for k, v in props.items() if not k.startswith("__") and k != "preview"}


# ---------------------------------------------------------------------- inputs and plans


def normalize_inputs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Our inputs with defaults; numbers as ints (the engine sends floats); records as a list or
    a mapping (the canonical form, after check, is the mapping by `record_key`)."""
    out: dict[str, Any] = {k: _plain(raw.get(k)) for k in CONTENT_INPUTS}
    for key in ("retire", "canary"):
        out[key] = [] if out[key] is None else out[key]
    for key in FLAG_INPUTS:
        out[key] = bool(raw.get(key))
    return out


def build_plan(props: Mapping[str, Any], owner: str, generation: Any) -> Plan:
    """The validated plan of the inputs (`PlanInvalid` lists every problem)."""
    records = _plain(props.get("records"))  # the engine hands numbers back as floats
    if isinstance(records, Mapping):
        records = list(records.values())
    document = {
        "zone": props.get("zone"),
        "generation": _plain(generation),
        "owner": owner,
        # Unset fields dropped; any other key goes to the library, which names what it does not know.
        "records": [{k: v for k, v in dict(r).items() if v is not None} for r in records or []]
        if isinstance(records, list)
        else records,
        "retire": list(props.get("retire") or []),
        "canary": list(props.get("canary") or []),
    }
    return parse_plan(document, source="GuardedPlan")


def drifted(applied: Mapping[tuple, RecordSet], diff: Any) -> list[str]:
    """Sets the new plan would change whose live content is not what this stack applied: a
    change made outside this stack since (one line each)."""
    problems = []
    for observed, _desired in diff.updates:
        if applied.get(observed.key) != observed:
            problems.append(_was(applied.get(observed.key), observed))
    for observed in diff.deletes:
        if applied.get(observed.key) != observed:
            problems.append(_was(applied.get(observed.key), observed))
    for desired in diff.creates:
        if desired.key in applied:
            problems.append(f"{_label(desired)}: deleted outside this stack")
    return problems


def preview_lines(preview: Any) -> list[str]:
    """The library's preview as lines: counts first, then one line per changed record set."""
    d = preview.diff
    live = preview.live.generation if preview.live else None
    lines = [
        f"{len(d.creates)} to create, {len(d.updates)} to update, {len(d.deletes)} to delete, "
        f"{d.unchanged} unchanged (live generation {live})"
    ]
    changes = [f"+ {_label(r)} {_show(r)}" for r in d.creates]
    changes += [f"~ {_label(new)} {_show(old)} => {_show(new)}" for old, new in d.updates]
    changes += [f"- {_label(r)} {_show(r)}" for r in d.deletes]
    if len(changes) > PREVIEW_LINES:
        changes = [*changes[:PREVIEW_LINES], f"... and {len(changes) - PREVIEW_LINES} more"]
    return lines + changes


def _applied_plan(props: Mapping[str, Any], owner: str) -> Plan:
    """The sets in a state's `records` as a plan, without their `min_values`: a refresh may have
    recorded a set below its minimum (that is what a later apply repairs), no reason to fail here."""
    records = props.get("records") or {}
    bare = [{k: v for k, v in dict(r).items() if k != "min_values"} for r in records.values()]
    return build_plan({**props, "records": bare, "canary": []}, owner, PREVIEW_GENERATION)


def _records_of(props: Mapping[str, Any], owner: str) -> dict[tuple, RecordSet]:
    return {r.key: r for r in _applied_plan(props, owner).records}


def record_documents(plan: Plan) -> dict[str, dict[str, Any]]:
    """The plan's record sets in the plan-file form (`plan_to_document`: aliases and every routing
    field as the library writes them), by `record_key`, with full names."""
    docs = plan_to_document(plan)["records"]
    return {record_key(r): {**doc, "name": r.name} for r, doc in zip(plan.records, docs, strict=True)}


def _label(r: RecordSet) -> str:
    return f"{r.name} {r.type}" + (f" (set {r.set_identifier})" if r.set_identifier else "")


def _show(r: RecordSet) -> str:
    target = getattr(r, "alias_target", None)
    if target is not None:
        return f"alias {target[1]} ({target[0]})"
    weight = f" weight {r.weight}" if r.weight is not None else ""
    return f"{list(r.values)} TTL {r.ttl}{weight}"


def _was(applied: RecordSet | None, live: RecordSet) -> str:
    if applied is None:
        return f"{_label(live)}: live {_show(live)}, not applied by this stack"
    return f"{_label(live)}: live {_show(live)}, this stack applied {_show(applied)}"


def _in_pulumi_terms(problem: str) -> str:
    """The library speaks CLI flags; here they are resource inputs (and the program's config)."""
    return problem.replace("--force", "force=True (dns-safeguards:force)").replace(
        "--adopt", "adopt=True (dns-safeguards:adopt)"
    )


def _property_of(problem: str) -> str:
    head = problem.split(":", 1)[0].split("[", 1)[0].strip()
    return head if head in ("zone", "generation", "records", "retire", "canary") else "records"


def _plain(value: Any) -> Any:
    """JSON-like value with integral floats as ints and tuples as lists (the engine's numbers
    are floats; comparisons and plans want the plan file's types)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _has_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return value == _UNKNOWN
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unknown(v) for v in value)
    return False


# ---------------------------------------------------------------------- the resource


class GuardedPlan(dyn.Resource, module="dns-safeguards", name="GuardedPlan"):
    """A whole plan, applied by dns-safeguards as one generation (see module doc).

    Outputs: `applied_generation`, `checksum`, `outcome`, `batches`, `change_ids`, `creates`,
    `updates`, `deletes`, `owner`, and `records` (canonical; refreshed from the live zone)."""

    applied_generation: pulumi.Output[int]
    checksum: pulumi.Output[str]
    batches: pulumi.Output[int]
    records: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        resource_name: str,
        *,
        zone: pulumi.Input[str],
        records: pulumi.Input[Sequence[Any] | Mapping[str, Any]],
        retire: pulumi.Input[Sequence[str]] | None = None,
        canary: pulumi.Input[Sequence[str]] | None = None,
        force: pulumi.Input[bool] = False,
        adopt: pulumi.Input[bool] = False,
        retire_on_delete: pulumi.Input[bool] = False,
        generation: pulumi.Input[int] | None = None,
        provider: GuardedPlanProvider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "zone": zone,
            "records": records,
            "retire": retire or [],
            "canary": canary or [],
            "force": force,
            "adopt": adopt,
            "retire_on_delete": retire_on_delete,
            "generation": generation,
            "preview": None,
            **{k: None for k in RESULT_OUTPUTS},  # declared so the engine exposes them
        }
        super().__init__(provider or GuardedPlanProvider(), resource_name, props, opts)
