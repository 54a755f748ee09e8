"""Safety guards as data: each guard is a small value with a `name`, whether `--force` may
override it, and a pure `check(context)` that returns the problems it found (one line each, naming
the name and the numbers), so a refusal lists every reason at once.

`judge` runs a list of guards (`DEFAULT_GUARDS`, plus any of your own: adding a guard is one class)
and returns a `Verdict` that travels with the plan: `plan` and `Preview` show it, `apply` calls
`verdict.raise_if_refused(force=...)`. Only the blast-radius guard yields to `force`; nothing ever
overrides never-empty.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import math
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .diff import Diff, apply_diff
from .errors import GuardRefused
from .plan import Plan
from .planfile import gc_paused
from .records import ALIAS_PREFIX, RecordKey, RecordSet, record_key

# C-level getters: the guards look at every governed set (100,000s) and should not pay a Python
# call for each.
_NAME = operator.attrgetter("name")
_VALUES = operator.attrgetter("values")
_FAILOVER = operator.attrgetter("failover")
_WEIGHT = operator.attrgetter("weight")
_GEO = operator.attrgetter("geo")


@dataclass(frozen=True)
class GuardOptions:
    """Tunable limits. Defaults follow the 2025 lessons: small steps, never empty."""

    max_change_fraction: float = 0.30  # blast radius: share of managed sets updated or deleted
    change_floor: int = 2  # ... but always allow this many, so small zones can still move
    max_drop_fraction: float = 0.5  # capacity: share of a set's live values removable at once


def check_checksum(plan: Plan) -> list[str]:
    """The plan's declared checksum (if any) must match its content."""
    if plan.declared_checksum and plan.declared_checksum != plan.checksum:
        return [
            f"{plan.zone} generation {plan.generation}: checksum mismatch "
            f"(declared {plan.declared_checksum[:12]}…, computed {plan.checksum[:12]}…)"
        ]
    return []


#: The context `judge` is judging, while it runs: the guards' rules share what it computed once
#: (the zone after the change, the names observed) when they are asked about that same context.
#: Rules keep their signatures (tests swap them for lambdas of the same arguments).
_JUDGING: contextvars.ContextVar[GuardContext | None] = contextvars.ContextVar("dnssg_judging", default=None)


def _shared(observed: Mapping[RecordKey, RecordSet], diff: Diff) -> GuardContext | None:
    """The context being judged, when it is about exactly `observed` and `diff`."""
    ctx = _JUDGING.get()
    return ctx if ctx is not None and ctx.observed is observed and ctx.diff is diff else None


def _after(observed: Mapping[RecordKey, RecordSet], diff: Diff) -> Mapping[RecordKey, RecordSet]:
    """The zone after the change: the judged context's (not built unless a rule reads it by key)."""
    ctx = _shared(observed, diff)
    return ctx.after_view if ctx is not None else apply_diff(dict(observed), diff.groups)


def check_never_empty(plan: Plan, observed: Mapping[RecordKey, RecordSet], diff: Diff) -> list[str]:
    """After the change, every managed name not retired keeps at least one set, and every
    set keeps at least its `min_values` values."""
    ctx = _shared(observed, diff)
    overlay = ctx.overlay if ctx is not None else None
    after = _after(observed, diff)
    problems: list[str] = []
    sets = _after_sets(observed, diff, after)
    minimums = plan.min_values
    if minimums or not all(map(len, map(_VALUES, sets))):  # else every set keeps its 1 value or more
        for r, key in zip(sets, map(record_key, sets), strict=True):
            minimum = minimums.get(key, 1)
            if len(r.values) < minimum:
                problems.append(
                    f"{r.name} {r.type}: would have {len(r.values)} value(s), fewer than its minimum {minimum}"
                )
    # Only a name that loses a set can be left with none (the sets `after` lacks were DELETEd):
    # the names of DELETEs, less retired ones and those where a set the diff writes is still
    # there; the few left (if any) are looked up among every name before and after.
    lost = {c.rrset.name for g in diff.groups for c in g.changes if c.action == "DELETE"}
    lost.difference_update(plan.retire)
    if lost and overlay is not None:
        lost.difference_update(map(_NAME, overlay[1]))
    elif lost:
        lost.difference_update(
            [c.rrset.name for g in diff.groups for c in g.changes if c.action != "DELETE" and c.rrset.key in after]
        )
    if lost:
        lost.difference_update(map(_NAME, sets))
    emptied = lost.intersection(map(_NAME, observed.values())) if lost else lost
    for name in sorted(emptied):
        problems.append(f"{name}: would be left with no records (list it under 'retire' to remove it)")
    return problems


def check_capacity(diff: Diff, options: GuardOptions) -> list[str]:
    """An update may not shrink a set by more than `max_drop_fraction` of its live values."""
    problems = []
    for old, new in diff.updates:
        lost = len(old.values) - len(new.values)
        if lost > 0 and lost / len(old.values) > options.max_drop_fraction:
            problems.append(
                f"{new.name} {new.type}: would drop {lost} of {len(old.values)} live values at once "
                f"(max {options.max_drop_fraction:.0%}); shrink it in steps"
            )
    return problems


def check_blast_radius(managed_sets: int, diff: Diff, options: GuardOptions) -> list[str]:
    """Refuse when more than max(floor, fraction * managed sets) sets would be updated or deleted."""
    changed = len(diff.updates) + len(diff.deletes)
    allowed = max(options.change_floor, math.floor(options.max_change_fraction * managed_sets))
    if changed > allowed:
        return [
            f"blast radius: {changed} of {managed_sets} managed record sets would be updated or deleted, "
            f"more than the {allowed} allowed ({options.max_change_fraction:.0%}, floor {options.change_floor}); "
            "use --force if this is intended"
        ]
    return []


def check_ownership(
    plan: Plan, observed: Mapping[RecordKey, RecordSet], owners: Mapping[str, str], *, adopt: bool
) -> list[str]:
    """Names that hold records but no marker of ours are never touched unless adopted; names
    marked by another owner are refused unless adopted."""
    if adopt:
        return []
    # Only names not marked as ours can be a problem: the names holding records whose marker names
    # someone else or no one (picked out in C, in the order held: the owners are keyed by the
    # zone's own spelling of each name), of those the plan's, sorted.
    present = list(map(_NAME, observed.values()))
    others = map(operator.ne, itertools.repeat(plan.owner), map(owners.get, present))
    unmarked = set(itertools.compress(present, others))
    foreign = unmarked.intersection(plan.managed_names()) if unmarked else ()
    problems = []
    for name in sorted(foreign):
        owner = owners.get(name)
        if owner is None:
            problems.append(f"{name}: has records not managed by dns-safeguards (use --adopt to take it over)")
        else:
            problems.append(f"{name}: is owned by '{owner}', not '{plan.owner}' (use --adopt to take it over)")
    return problems


@dataclass(frozen=True)
class GuardContext:
    """What every guard judges: the plan, the observed sets it governs, the ownership markers,
    the diff, the limits, and whether names may be adopted."""

    plan: Plan
    observed: Mapping[RecordKey, RecordSet]
    owners: Mapping[str, str]
    diff: Diff
    options: GuardOptions
    adopt: bool = False

    @functools.cached_property
    def after(self) -> dict[RecordKey, RecordSet]:
        """The governed sets once the diff is applied: computed once for every guard that needs it."""
        return self.after_view.built()

    @functools.cached_property
    def after_sets(self) -> list[RecordSet]:
        """`after`'s sets, listed once for the rules that scan them all (in `after`'s order)."""
        overlay = self.overlay
        return overlay[0] if overlay is not None else list(self.after.values())

    @functools.cached_property
    def after_view(self) -> _AfterView:
        """`after`, built only when read by key: the rules scan `after_sets`, which needs no copy
        of the observed zone (a 100,000-entry dict)."""
        return _AfterView(self.observed, self.diff)

    @functools.cached_property
    def overlay(self) -> tuple[list[RecordSet], list[RecordSet]] | None:
        """(`after`'s sets in its order, the sets the diff writes that are among them), applied as
        `apply_diff` applies the changes but over the observed sets in place: the deleted keys
        and the written sets on the side. None when a change is an UPSERT or one `apply_diff`
        refuses (then `after` decides, and raises as it does)."""
        observed = self.observed
        deleted: set[RecordKey] = set()
        gone: set[int] = set()  # ids of the deleted sets that are the observed objects themselves
        written: dict[RecordKey, RecordSet] = {}
        for group in self.diff.groups:
            for change in group.changes:
                rrset = change.rrset
                key = rrset.key
                if change.action == "DELETE":
                    current = written.get(key) if key in written or key in deleted else observed.get(key)
                    if current is not rrset and current != rrset:
                        return None
                    if written.pop(key, None) is None:
                        deleted.add(key)
                        if current is rrset:
                            gone.add(id(rrset))
                elif change.action == "CREATE" and key not in written and (key in deleted or key not in observed):
                    written[key] = rrset
                else:
                    return None
        sets = list(observed.values())
        keep: list[bool] = []
        if len(deleted) == len(gone):  # every deleted set as observed (the diff's own): known by identity
            keep = list(map(operator.not_, map(gone.__contains__, map(id, sets))))
        if len(keep) - sum(keep) != len(deleted):  # else by key (a key tuple hashed per set)
            keep = list(map(operator.not_, map(deleted.__contains__, observed)))
        return [*itertools.compress(sets, keep), *written.values()], list(written.values())


class _AfterView(Mapping[RecordKey, RecordSet]):
    """`GuardContext.after`, computed when first read (it refers to no context: a context holding
    it would be a cycle, freed only by a full collection, and a plan's worth of memory until then)."""

    __slots__ = ("_after", "_diff", "_observed")

    def __init__(self, observed: Mapping[RecordKey, RecordSet], diff: Diff) -> None:
        self._observed, self._diff = observed, diff
        self._after: dict[RecordKey, RecordSet] | None = None

    def built(self) -> dict[RecordKey, RecordSet]:
        if self._after is None:
            self._after = apply_diff(dict(self._observed), self._diff.groups)
        return self._after

    def __getitem__(self, key: RecordKey) -> RecordSet:
        return self.built()[key]

    def __iter__(self) -> Iterator[RecordKey]:
        return iter(self.built())

    def __len__(self) -> int:
        return len(self.built())


@runtime_checkable
class Guard(Protocol):
    """One safety guard."""

    name: str
    forceable: bool  # may `--force` override it?

    def check(self, ctx: GuardContext) -> list[str]: ...


# The guards call the module's functions at call time, so a test can swap one out.


class ChecksumGuard:
    name, forceable = "checksum", False

    def check(self, ctx: GuardContext) -> list[str]:
        return check_checksum(ctx.plan)


class OwnershipGuard:
    name, forceable = "ownership", False

    def check(self, ctx: GuardContext) -> list[str]:
        return check_ownership(ctx.plan, ctx.observed, ctx.owners, adopt=ctx.adopt)


class NeverEmptyGuard:
    name, forceable = "never-empty", False

    def check(self, ctx: GuardContext) -> list[str]:
        return check_never_empty(ctx.plan, ctx.observed, ctx.diff)


class CapacityGuard:
    name, forceable = "capacity", False

    def check(self, ctx: GuardContext) -> list[str]:
        return check_capacity(ctx.diff, ctx.options)


class BlastRadiusGuard:
    name, forceable = "blast-radius", True

    def check(self, ctx: GuardContext) -> list[str]:
        return check_blast_radius(len(ctx.observed), ctx.diff, ctx.options)


def _after_sets(
    observed: Mapping[RecordKey, RecordSet], diff: Diff, after: Mapping[RecordKey, RecordSet]
) -> list[RecordSet]:
    ctx = _shared(observed, diff)
    if ctx is not None and (after is ctx.__dict__.get("after_view") or after is ctx.__dict__.get("after")):
        return ctx.after_sets
    return list(after.values())


def check_failover_pairs(
    observed: Mapping[RecordKey, RecordSet], diff: Diff, after: Mapping[RecordKey, RecordSet] | None = None
) -> list[str]:
    """A name that answers by failover keeps its PRIMARY: a plan that leaves only SECONDARY sets
    sends every query to the standby, healthy primary or not."""
    after = _after(observed, diff) if after is None else after
    roles: dict[tuple[str, str], set[str]] = {}
    sets = _after_sets(observed, diff, after)
    for r in itertools.compress(sets, map(_FAILOVER, sets)):
        if r.failover:
            roles.setdefault((r.name, r.type), set()).add(r.failover)
    return [
        f"{name} {rtype}: failover sets would be left without a PRIMARY (only {', '.join(sorted(have))})"
        for (name, rtype), have in sorted(roles.items())
        if "PRIMARY" not in have
    ]


def check_alias_targets(
    observed: Mapping[RecordKey, RecordSet], diff: Diff, after: Mapping[RecordKey, RecordSet] | None = None
) -> list[str]:
    """An alias to a name this plan governs must not outlive its target: a plan that deletes the
    target and keeps the alias publishes a name that answers nothing."""
    after = _after(observed, diff) if after is None else after
    sets = _after_sets(observed, diff, after)
    # Only a set whose one value starts like an alias can be one: none when no value holds the
    # prefix anywhere (one search over all of them), else picked out before sorting.
    values = itertools.chain.from_iterable(map(_VALUES, sets))
    if not any(map(str.startswith, values, itertools.repeat(ALIAS_PREFIX))):
        return []
    aliases = [r for r in sets if len(r.values) == 1 and r.values[0].startswith(ALIAS_PREFIX)]
    if not aliases:
        return []
    before = set(map(_NAME, observed.values()))
    present = set(map(_NAME, sets))
    problems = []
    for r in sorted(aliases):
        target = r.alias_target
        if target is not None and target[1] in before and target[1] not in present:
            problems.append(f"{r.name} {r.type}: alias to {target[1]}, which this change would delete")
    return problems


def check_weights(
    observed: Mapping[RecordKey, RecordSet], diff: Diff, after: Mapping[RecordKey, RecordSet] | None = None
) -> list[str]:
    """A weighted name touched by this change keeps a member with weight above 0: all at 0
    makes Route 53 answer with every member alike, whatever the weights meant."""
    after = _after(observed, diff) if after is None else after
    weights: dict[tuple[str, str], list[int]] = {}
    sets = _after_sets(observed, diff, after)
    weighted = list(itertools.compress(sets, map(operator.is_not, map(_WEIGHT, sets), itertools.repeat(None))))
    if not weighted:
        return []
    touched = {(c.rrset.name, c.rrset.type) for g in diff.groups for c in g.changes}
    for r in weighted:
        if r.weight is not None and (r.name, r.type) in touched:
            weights.setdefault((r.name, r.type), []).append(r.weight)
    return [
        f"{name} {rtype}: all {len(ws)} weighted sets would be at weight 0 (Route 53 then ignores the weights)"
        for (name, rtype), ws in sorted(weights.items())
        if not any(ws)
    ]


def check_geo_default(
    observed: Mapping[RecordKey, RecordSet], diff: Diff, after: Mapping[RecordKey, RecordSet] | None = None
) -> list[str]:
    """A geolocation name keeps its default location (CountryCode `*`) once it has one: without
    it, every query from a place no set names gets no answer."""

    def defaults(listed: list[RecordSet]) -> set[tuple[str, str]]:
        with_geo = itertools.compress(listed, map(_GEO, listed))
        return {(r.name, r.type) for r in with_geo if ("CountryCode", "*") in (r.geo or ())}

    before = defaults(list(observed.values()))
    if not before:  # nothing to lose
        return []
    after = _after(observed, diff) if after is None else after
    lost = before - defaults(_after_sets(observed, diff, after))
    return [
        f"{name} {rtype}: geolocation would lose its default location (CountryCode *)" for name, rtype in sorted(lost)
    ]


@dataclass
class RoutingGuard:
    """A routing-aware guard: one of this module's `check_*(observed, diff, after)` rules, named
    here and looked up at call time (so a test can swap the rule out, as for the others)."""

    name: str
    rule: str
    forceable: bool = False

    def check(self, ctx: GuardContext) -> list[str]:
        rule = globals()[self.rule]
        return rule(ctx.observed, ctx.diff, ctx.after_view)


DEFAULT_GUARDS: tuple[Guard, ...] = (
    ChecksumGuard(),
    OwnershipGuard(),
    NeverEmptyGuard(),
    CapacityGuard(),
    BlastRadiusGuard(),
    RoutingGuard("failover", "check_failover_pairs"),
    RoutingGuard("alias-target", "check_alias_targets"),
    RoutingGuard("weights", "check_weights"),
    RoutingGuard("geo-default", "check_geo_default"),
)


@dataclass(frozen=True)
class Finding:
    """One guard's verdict."""

    guard: str
    forceable: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """Every guard's findings on one change: travels with the plan (`plan`, `Preview`, `apply`)."""

    findings: tuple[Finding, ...]

    def refusals(self, *, force: bool = False) -> list[Finding]:
        """The findings that refuse the change (with `force`, the forceable ones do not)."""
        return [f for f in self.findings if f.problems and not (force and f.forceable)]

    def refusal(self, *, force: bool = False) -> GuardRefused | None:
        """The GuardRefused `apply` raises, or None: first refusing guard named, every problem listed."""
        refusing = self.refusals(force=force)
        if not refusing:
            return None
        problems = [p for f in refusing for p in f.problems]
        summary = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        return GuardRefused(
            f"refused by {refusing[0].guard} guard: {summary}", guard=refusing[0].guard, problems=problems
        )

    def raise_if_refused(self, *, force: bool = False) -> None:
        refusal = self.refusal(force=force)
        if refusal is not None:
            raise refusal

    def to_dict(self) -> dict[str, Any]:
        return {
            f.guard: {"ok": not f.problems, "forceable": f.forceable, "problems": list(f.problems)}
            for f in self.findings
        }


def judge(ctx: GuardContext, guards: Sequence[Guard] = DEFAULT_GUARDS) -> Verdict:
    """Run every guard on `ctx` (the cyclic collector paused meanwhile: see `planfile.gc_paused`)."""
    token = _JUDGING.set(ctx)
    try:
        with gc_paused():
            return Verdict(tuple(Finding(g.name, g.forceable, tuple(g.check(ctx))) for g in guards))
    finally:
        _JUDGING.reset(token)


def check_all(
    plan: Plan,
    observed: Mapping[RecordKey, RecordSet],
    owners: Mapping[str, str],
    diff: Diff,
    options: GuardOptions,
    *,
    force: bool = False,
    adopt: bool = False,
    guards: Sequence[Guard] = DEFAULT_GUARDS,
) -> None:
    """Run every guard; raise GuardRefused listing every problem (first refusing guard named)."""
    judge(GuardContext(plan, observed, owners, diff, options, adopt), guards).raise_if_refused(force=force)
