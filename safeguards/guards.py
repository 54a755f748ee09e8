"""Safety guards: pure functions from (plan, observed zone, diff, options) to refusals.

Each check returns the problems it found, one line each naming the name and the numbers, so a
refusal can list every reason at once. `check_all` raises `GuardRefused` with all of them.
Only the blast-radius guard yields to `force`; nothing ever overrides never-empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .diff import Diff, apply_diff
from .errors import GuardRefused
from .plan import Plan
from .records import RecordKey, RecordSet


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


def check_never_empty(plan: Plan, observed: Mapping[RecordKey, RecordSet], diff: Diff) -> list[str]:
    """After the change, every managed name not retired keeps at least one set, and every
    set keeps at least its `min_values` values."""
    after = apply_diff(dict(observed), diff.groups)
    problems: list[str] = []
    names_after: dict[str, int] = {}
    for r in after.values():
        names_after[r.name] = names_after.get(r.name, 0) + 1
        minimum = plan.min_for(r.key)
        if len(r.values) < minimum:
            problems.append(
                f"{r.name} {r.type}: would have {len(r.values)} value(s), fewer than its minimum {minimum}"
            )
    retired = set(plan.retire)
    for name in sorted({r.name for r in observed.values()} - retired):
        if names_after.get(name, 0) == 0:
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
    problems = []
    present = {r.name for r in observed.values()}
    for name in sorted(plan.managed_names() & present):
        owner = owners.get(name)
        if owner == plan.owner or adopt:
            continue
        if owner is None:
            problems.append(f"{name}: has records not managed by dns-safeguards (use --adopt to take it over)")
        else:
            problems.append(f"{name}: is owned by '{owner}', not '{plan.owner}' (use --adopt to take it over)")
    return problems


def check_all(
    plan: Plan,
    observed: Mapping[RecordKey, RecordSet],
    owners: Mapping[str, str],
    diff: Diff,
    options: GuardOptions,
    *,
    force: bool = False,
    adopt: bool = False,
) -> None:
    """Run every guard; raise GuardRefused listing every problem (first guard named)."""
    found: list[tuple[str, list[str]]] = [
        ("checksum", check_checksum(plan)),
        ("ownership", check_ownership(plan, observed, owners, adopt=adopt)),
        ("never-empty", check_never_empty(plan, observed, diff)),
        ("capacity", check_capacity(diff, options)),
    ]
    if not force:
        found.append(("blast-radius", check_blast_radius(len(observed), diff, options)))
    problems = [p for _, ps in found for p in ps]
    if problems:
        guard = next(name for name, ps in found if ps)
        summary = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        raise GuardRefused(f"refused by {guard} guard: {summary}", guard=guard, problems=problems)
