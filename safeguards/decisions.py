"""Decisions: what to write, and the read each rests on. Pure functions, no I/O.

Every operation that writes (apply, repair, rollback, the automatic restore after a failed gate)
first turns one read of the zone (a `ZoneView`) into a `Decision`. The decision carries that read
as its `basis`; the writer DELETEs `basis.fence_rrset` in the decision's first batch, so if the zone
moved after the read (a wait for the lease, a backoff, a stall), Route 53 rejects the batch and the
operation decides again from a fresh read. A write never rests on a fence read after its decision.

Numbering: an apply writes its planner generation at revision 0. A repair or rollback writes under
the live generation at revision + 1; it never takes a generation the planner will use, and the
planner's next generation outranks it. The fence's `src` names the plan whose content is live.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .diff import ChangeGroup, Diff, compute_diff
from .errors import GuardRefused, InvalidInput, StaleGeneration
from .fence import Fence, ZoneView, marker
from .plan import Plan
from .records import Change, RecordKey, RecordSet, fence_name, owner_name


@dataclass(frozen=True)
class Decision:
    """What one operation will write and the read it rests on."""

    action: str  # "apply", "repair", "rollback" or "restore"
    basis: ZoneView  # the read the decision rests on: its fence is what the first batch DELETEs
    rules: Plan  # the plan whose names, canary and minimums govern the write
    fence: Fence  # the fence the write leaves (seq and done are filled in per batch)
    groups: list[ChangeGroup]  # every change, ownership markers included
    diff: Diff | None = None
    resumed: bool = False
    complete: bool = True  # whether the last batch's fence says the content is whole
    note: dict[str, object] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.groups


def check_fresh(plan: Plan, live: Fence | None) -> bool:
    """Raise StaleGeneration unless `plan` may be written over `live`; True when resuming the same
    generation with the same content (any enactor may finish what another left half-applied)."""
    if live is None or live.generation < plan.generation:
        return False
    if live.generation == plan.generation and live.content == plan.generation and live.checksum == plan.checksum:
        return True
    if live.generation > plan.generation:
        what = "newer"
    elif live.content != plan.generation:
        what = f"rolled back to the content of g{live.content}; publish a new generation"
    else:
        what = "the same number with other content"
    raise StaleGeneration(
        f"{plan.zone}: generation {live.generation}{f' revision {live.rev}' if live.rev else ''} is live "
        f"({what}, written by {live.writer}); "
        f"refusing to apply generation {plan.generation}",
        ours=plan.generation,
        live=live.generation,
    )


def check_adoption(plan: Plan, decided: Mapping[str, str | None], now: Mapping[str, str | None]) -> None:
    """GuardRefused if a name this plan adopts changed owner since the adoption was decided
    (to anyone but this plan's owner)."""
    taken = sorted(n for n, o in now.items() if o != decided.get(n) and o != plan.owner)
    if taken:
        problems = [f"{n}: was owned by '{decided.get(n)}' when adopted, '{now[n]}' owns it now" for n in taken]
        raise GuardRefused(f"refused by ownership guard: {problems[0]}", guard="ownership", problems=problems)


def governed(plan: Plan, view: ZoneView) -> dict[RecordKey, RecordSet]:
    """The observed sets `plan` governs: at its own names and at every name its owner holds (by
    marker). A live owned name missing from the plan is therefore a deletion, which the
    never-empty guard refuses unless the plan retires it."""
    return view.governed(plan.managed_names() | view.owned_by(plan.owner))


def with_markers(
    plan: Plan, view: ZoneView, groups: Sequence[ChangeGroup], names: Collection[str] | None = None
) -> list[ChangeGroup]:
    """Add ownership-marker changes to each name's group: CREATE for names the plan starts to
    manage (or adopts), DELETE for names retired. `names` limits it to those names."""
    by_name = {g.name: list(g.changes) for g in groups}
    retired = set(plan.retire)
    for name in sorted({r.name for r in plan.records} | retired):
        if names is not None and name not in names:
            continue
        current = view.by_key.get((owner_name(name), "TXT", None))
        if name in retired:
            if current is not None:
                by_name.setdefault(name, []).append(Change("DELETE", current))
            continue
        if view.owners.get(name) == plan.owner:
            continue
        changes = by_name.setdefault(name, [])
        if current is not None:
            changes.insert(0, Change("DELETE", current))
        changes.append(Change("CREATE", marker(name, plan.owner)))
    return [ChangeGroup(name, tuple(changes)) for name, changes in sorted(by_name.items())]


def next_revision(live: Fence, content: Plan, writer: str) -> Fence:
    """The fence a repair or rollback leaves: the live generation, one revision up, naming the
    plan whose content it writes."""
    return Fence(
        live.generation,
        content.checksum,
        content.owner,
        writer,
        live.seq,
        False,
        live.rev + 1,
        None if content.generation == live.generation else content.generation,
    )


def repair_targets(source: Plan, view: ZoneView, *, drift: bool = False) -> list[RecordSet]:
    """The sets of `source` that need restoring: below their minimum, or (when the fence says the
    live generation is only half applied, or with `drift`) any set that differs from the plan."""
    observed = governed(source, view)
    mixed = drift or (view.fence is not None and not view.fence.done)
    out = []
    for r in source.records:
        got = observed.get(r.key)
        if len(got.values if got else ()) < source.min_for(r.key) or (mixed and got != r):
            out.append(r)
    return out


def restrict(plan: Plan, records: Iterable[RecordSet]) -> Plan:
    """`plan` narrowed to `records` (its rules kept): what a repair writes."""
    keep = tuple(sorted(records))
    names = {r.name for r in keep}
    return Plan(
        plan.zone,
        plan.generation,
        keep,
        retire=(),
        min_values={k: v for k, v in plan.min_values.items() if k[0] in names},
        canary=tuple(n for n in plan.canary if n in names),
        owner=plan.owner,
    )


def rollback_target(view: ZoneView, stored: Sequence[int], to: int | None) -> int:
    """The generation a rollback restores: `to`, or the newest stored plan older than the content
    that is live now."""
    live = view.fence
    if live is None:
        raise InvalidInput(f"{view.zone}: nothing of ours is live (no fence record); nothing to roll back")
    if to is None:
        earlier = [g for g in stored if g < live.content and g != live.content]
        if not earlier:
            raise InvalidInput(f"{view.zone}: no earlier plan to roll back to (live {live.label()})")
        return earlier[-1]
    if to >= live.generation:
        raise InvalidInput(
            f"{view.zone}: cannot roll back to generation {to}: it is not older than the live {live.label()}"
        )
    return to


def as_content(target: Plan, generation: int, retire: Iterable[str]) -> Plan:
    """`target`'s content and rules, numbered `generation`, retiring `retire` (names the live
    content holds that `target` does not): what a rollback diffs against the zone."""
    keep = set(retire) - target.managed_names()
    return Plan(
        target.zone,
        generation,
        target.records,
        retire=tuple(sorted(keep | set(target.retire))),
        min_values=target.min_values,
        canary=target.canary,
        owner=target.owner,
    )


def restore_groups(before: ZoneView, now: ZoneView, touched: Iterable[RecordKey]) -> list[ChangeGroup]:
    """The changes that put every touched set back as `before` held it (markers included; never
    the fence, never the apex NS/SOA): what a failed gate's restore writes."""
    fence_key = (fence_name(before.zone), "TXT", None)
    per_name: dict[str, list[Change]] = {}
    for key in sorted(set(touched)):
        if key == fence_key or (key[0] == before.zone and key[1] in ("NS", "SOA")):
            continue
        want, cur = before.by_key.get(key), now.by_key.get(key)
        if want == cur:
            continue
        changes = per_name.setdefault(key[0], [])
        if cur is not None:
            changes.insert(0, Change("DELETE", cur))
        if want is not None:
            changes.append(Change("CREATE", want))
    return [ChangeGroup(name, tuple(changes)) for name, changes in sorted(per_name.items())]


def restored_fence(failed: Fence, before: Fence | None, writer: str) -> Fence:
    """The fence a restore leaves: the failed generation one revision up (so the failed plan is
    never re-applied and the planner's next generation outranks it), naming the content that was
    live before it."""
    if before is None:
        return Fence(failed.generation, "-", failed.owner, writer, failed.seq, False, failed.rev + 1, 0)
    return Fence(
        failed.generation,
        before.checksum,
        before.owner,
        writer,
        failed.seq,
        False,
        failed.rev + 1,
        before.content,
    )


def plan_diff(plan: Plan, view: ZoneView) -> tuple[dict[RecordKey, RecordSet], Diff]:
    """The sets `plan` governs in `view`, and the diff that makes them the plan's."""
    observed = governed(plan, view)
    return observed, compute_diff(plan.records, observed, plan.retire)
