"""Desired plan vs observed zone → compare-and-set change groups → batches. Pure, no I/O.

A changed set becomes `DELETE(exactly what was observed) + CREATE(new)`, never UPSERT: Route 53
rejects the whole batch when the DELETE no longer matches, so each batch is a compare-and-set on
everything it touches. All changes to one name form a group that is never split across batches
(a name replaced by a CNAME, or losing one set while gaining another, must never be seen half
done). Batches respect Route 53's per-request limits, keeping room for the fence record.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import types
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput
from .planfile import gc_paused
from .records import (
    MAX_RECORDS_PER_BATCH,
    MAX_VALUE_CHARS_PER_BATCH,
    Change,
    RecordKey,
    RecordSet,
    is_reserved,
    record_key,
)

#: Stands for "not observed": unequal to every set (its class is not RecordSet).
_ABSENT: Any = types.SimpleNamespace(**{f.name: None for f in dataclasses.fields(RecordSet)})


@dataclass(frozen=True, slots=True)
class ChangeGroup:
    """Every change to one name, DELETEs first: applied in one batch or not at all."""

    name: str
    changes: tuple[Change, ...]

    @property
    def record_count(self) -> int:
        return sum(c.record_count() for c in self.changes)

    @property
    def value_chars(self) -> int:
        return sum(c.value_chars() for c in self.changes)


@dataclass(frozen=True, slots=True)
class Diff:
    """What it takes to turn the observed managed sets into the desired ones."""

    groups: tuple[ChangeGroup, ...]
    creates: tuple[RecordSet, ...]
    updates: tuple[tuple[RecordSet, RecordSet], ...]  # (observed, desired)
    deletes: tuple[RecordSet, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not self.groups

    def changed_names(self) -> frozenset[str]:
        return frozenset(g.name for g in self.groups)


def managed_observed(observed: Iterable[RecordSet], names: Iterable[str]) -> dict[RecordKey, RecordSet]:
    """The observed sets at `names`, by key. Our own guard records are never part of a plan, nor
    are the apex SOA and NS (Route 53 owns them; the apex is where the SOA is)."""
    wanted = frozenset(names)
    sets = list(observed)
    apex = {r.name for r in sets if r.type == "SOA"}
    return {
        r.key: r
        for r in sets
        if r.name in wanted and not is_reserved(r.name) and not (r.name in apex and r.type in ("SOA", "NS"))
    }


def compute_diff(
    desired: Sequence[RecordSet], observed: dict[RecordKey, RecordSet], retire: Iterable[str] = ()
) -> Diff:
    """Changes from `observed` to `desired`.

    `observed` must already be restricted to the names the plan governs (see
    `managed_observed`): every observed set that is not desired is deleted. Whether a deletion
    that leaves a name empty is allowed is the never-empty guard's call, not the diff's.
    `retire`, the names the plan retires (no desired set is at one), only spares work: the sets
    observed there are deletions, and usually the only ones.
    """
    with gc_paused():  # 100,000s of acyclic objects: no collection needs to walk them meanwhile
        return _compute_diff(desired, observed, retire)


def _compute_diff(
    desired: Sequence[RecordSet], observed: dict[RecordKey, RecordSet], retire: Iterable[str] = ()
) -> Diff:
    news = list(desired)
    # When no two desired sets share a name (a plan's usual shape: its sets sorted by name, each
    # name after the one before), their keys are distinct and nothing is keyed by them: each is
    # looked up once (its key tuple freed at once). Otherwise by key, as a dict keeps them (a later
    # set of the same key in the first one's place).
    names = list(map(_NAME, news))
    distinct = all(map(operator.lt, names, itertools.islice(names, 1, None))) or len(set(names)) == len(names)
    del names
    want = None if distinct else dict(zip(map(record_key, news), news, strict=True))
    if want is not None:
        news = list(want.values())
    per_name: dict[str, tuple[list[Change], list[Change]]] = {}
    creates: list[RecordSet] = []
    updates: list[tuple[RecordSet, RecordSet]] = []
    deletes: list[RecordSet] = []

    def slot(name: str) -> tuple[list[Change], list[Change]]:
        return per_name.setdefault(name, ([], []))

    # Which desired sets differ from what was observed, decided in C for all of them at once
    # (record sets compare in C: same class, every field), a missing set never equal.
    keys = want if want is not None else map(record_key, news)
    olds: list[Any] = list(map(observed.get, keys, itertools.repeat(_ABSENT)))
    differs = list(map(operator.ne, olds, news))
    for i in itertools.compress(range(len(news)), differs):
        old, new = olds[i], news[i]
        if old is _ABSENT:
            slot(new.name)[1].append(Change("CREATE", new))
            creates.append(new)
        else:
            dels, adds = slot(new.name)
            dels.append(Change("DELETE", old))
            adds.append(Change("CREATE", new))
            updates.append((old, new))
    unchanged = len(news) - sum(differs)
    for old in _not_desired(observed, news, olds, want, retire):
        slot(old.name)[0].append(Change("DELETE", old))
        deletes.append(old)

    groups = tuple(
        ChangeGroup(name, _ordered(dels) + _ordered(adds)) for name, (dels, adds) in sorted(per_name.items())
    )
    return Diff(groups, tuple(creates), tuple(updates), tuple(deletes), unchanged)


def _not_desired(
    observed: dict[RecordKey, RecordSet],
    news: list[RecordSet],
    olds: list[Any],
    want: dict[RecordKey, RecordSet] | None,
    retire: Iterable[str],
) -> Iterable[RecordSet]:
    """The observed sets no desired set has the key of, in the order observed.

    With distinct desired keys (`want` None), `olds` holds each observed set found for one; the
    rest are the deletions. The sets observed at retired names (where no set was found) are such
    sets, and they are all of them when, with the sets found, they account for every observed
    set: then no set of desired names or keys is built (4-10 MB for 100,000 sets)."""
    if want is None:
        retired = frozenset(retire)
        found = list(itertools.compress(olds, map(operator.is_not, olds, itertools.repeat(_ABSENT))))
        if not any(map(retired.__contains__, map(_NAME, found))):
            sets = list(observed.values())
            there = list(map(retired.__contains__, map(_NAME, sets))) if retired else []
            if len(found) + sum(there) == len(sets):
                return itertools.compress(sets, there)
    keyed: Collection[RecordKey] = want if want is not None else set(map(record_key, news))
    return itertools.compress(observed.values(), map(operator.not_, map(keyed.__contains__, observed)))


_NAME = operator.attrgetter("name")


def _ordered(changes: list[Change]) -> tuple[Change, ...]:
    return tuple(changes) if len(changes) < 2 else tuple(sorted(changes, key=_order))


def _order(change: Change) -> tuple[str, str, str]:
    r = change.rrset
    return (r.type, r.set_identifier or "", ",".join(r.values))


def apply_diff(observed: dict[RecordKey, RecordSet], groups: Iterable[ChangeGroup]) -> dict[RecordKey, RecordSet]:
    """The zone (by key) after `groups` are applied to `observed`: what Route 53 would hold.

    Raises ValueError where Route 53 would reject the change (for tests and dry runs)."""
    state = dict(observed)
    for group in groups:
        for change in group.changes:
            key = change.rrset.key
            if change.action == "DELETE":
                current = state.get(key)
                if current is not change.rrset and current != change.rrset:
                    raise ValueError(f"DELETE of {key} does not match the current set")
                del state[key]
            elif change.action == "CREATE":
                if key in state:
                    raise ValueError(f"CREATE of {key}: set already exists")
                state[key] = change.rrset
            else:
                state[key] = change.rrset
    return state


def batch_groups(
    groups: Sequence[ChangeGroup],
    *,
    max_records: int = MAX_RECORDS_PER_BATCH,
    max_chars: int = MAX_VALUE_CHARS_PER_BATCH,
    reserve_records: int = 0,
    reserve_chars: int = 0,
) -> list[list[ChangeGroup]]:
    """Pack groups, in order, into as few batches as the limits allow (first fit in order keeps
    canary-first ordering and is optimal when groups are small relative to the limits).

    `reserve_*` keeps room in every batch for the fence record's DELETE + CREATE.
    Raises InvalidInput for a group that cannot fit in any batch on its own.
    """
    room_records = max_records - reserve_records
    room_chars = max_chars - reserve_chars
    batches: list[list[ChangeGroup]] = []
    current: list[ChangeGroup] = []
    n_records = n_chars = 0
    for group in groups:
        gr, gc = group.record_count, group.value_chars
        if gr > room_records or gc > room_chars:
            raise InvalidInput(
                f"change to {group.name} is too large for one Route 53 request: "
                f"{gr} records / {gc} value characters (limits {room_records} / {room_chars} after guard records)"
            )
        if current and (n_records + gr > room_records or n_chars + gc > room_chars):
            batches.append(current)
            current, n_records, n_chars = [], 0, 0
        current.append(group)
        n_records += gr
        n_chars += gc
    if current:
        batches.append(current)
    return batches
