"""Staging: the order in which a change reaches Route 53.

Canary names first; then, for weighted sets whose weight moves by more than `weight_step`,
intermediate stages that shift the weight in steps; then the rest. Each stage is verified before
the next one starts, so a bad change is caught while it reaches only part of the traffic.
Pure functions: change groups in, labelled stages out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from .diff import ChangeGroup
from .records import Change, RecordKey, RecordSet

Stage = tuple[str, list[ChangeGroup]]


def plan_stages(
    groups: list[ChangeGroup], canary: Collection[str], governed: Mapping[RecordKey, RecordSet], weight_step: int | None
) -> list[Stage]:
    """Canary names first; weight shifts of at most `weight_step` per stage; then the rest."""
    first = [g for g in groups if g.name in canary]
    rest = [g for g in groups if g.name not in canary]
    stages: list[Stage] = [("canary", first)] if first else []
    if weight_step:
        shifts = _weight_shifts(rest, weight_step)
        if shifts:
            stages += _weight_stages(shifts, governed)
            last = {new.key: mid for (_old, new, mid) in _final_intermediates(shifts)}
            rest = [
                ChangeGroup(
                    g.name,
                    tuple(
                        Change("DELETE", last[c.rrset.key]) if c.action == "DELETE" and c.rrset.key in last else c
                        for c in g.changes
                    ),
                )
                for g in rest
            ]
    if rest:
        stages.append(("main", rest))
    return stages


def _weight_shifts(groups: list[ChangeGroup], step: int) -> list[tuple[RecordSet, RecordSet, int]]:
    """(old, new, steps) for weighted sets updated with a weight change larger than `step`."""
    shifts = []
    for g in groups:
        dels = {c.rrset.key: c.rrset for c in g.changes if c.action == "DELETE"}
        for c in g.changes:
            old = dels.get(c.rrset.key)
            new = c.rrset
            if c.action == "CREATE" and old is not None and new.weight is not None and old.weight is not None:
                delta = abs(new.weight - old.weight)
                if delta > step:
                    shifts.append((old, new, -(-delta // step)))
    return shifts


def _intermediate(old: RecordSet, new: RecordSet, i: int, n: int) -> RecordSet:
    assert old.weight is not None and new.weight is not None
    weight = round(old.weight + (new.weight - old.weight) * i / n)
    # Only the weight moves: every other field (health check, routing) stays as it is live.
    return dataclasses.replace(old, weight=weight)


def _weight_stages(
    shifts: list[tuple[RecordSet, RecordSet, int]], governed: Mapping[RecordKey, RecordSet]
) -> list[Stage]:
    """Intermediate stages: values stay, weights move toward their targets one step a stage."""
    n = max(steps for _, _, steps in shifts)
    current = {old.key: governed.get(old.key, old) for old, _, _ in shifts}
    stages = []
    for i in range(1, n):
        per_name: dict[str, list[Change]] = {}
        for old, new, _ in shifts:
            mid = _intermediate(old, new, i, n)
            if mid != current[old.key]:
                per_name.setdefault(old.name, []).extend([Change("DELETE", current[old.key]), Change("CREATE", mid)])
                current[old.key] = mid
        if per_name:
            stages.append((f"weights {i}/{n}", [ChangeGroup(k, tuple(v)) for k, v in sorted(per_name.items())]))
    return stages


def _final_intermediates(
    shifts: list[tuple[RecordSet, RecordSet, int]],
) -> list[tuple[RecordSet, RecordSet, RecordSet]]:
    """(old, new, the last intermediate set) so the final stage DELETEs what will be live."""
    n = max(steps for _, _, steps in shifts)
    return [(old, new, _intermediate(old, new, n - 1, n)) if n > 1 else (old, new, old) for old, new, _ in shifts]
