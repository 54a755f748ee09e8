"""Benchmark 1, API economy: Route 53 calls our Applier makes vs the fewest the limits allow and
vs an unguarded blind writer, for zones with 10, 1,000 and 100,000 changed record sets.

Two scenarios per size, on the strict model with call counting:
- create: the first apply of N new single-value names (ours also writes each name's ownership
  marker and the fence);
- update: every one of N owned sets gets a new value (`force`: the blast-radius guard would
  rightly refuse a 100% change; force only lifts that guard, every other one still runs).

The goal is that the guard adds no change calls: ours / minimum = 1.00. When it does not hold,
`explain` breaks the records of our batches down (payload, ownership markers, fence) and
computes what the batching leaves unused, so the cause is a number, not a guess.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from safeguards.backend import PageStart, RangedListing, Route53Backend
from safeguards.backends.strict import PAGE_SIZE
from safeguards.clock import VirtualClock
from safeguards.records import (
    FENCE_LABEL,
    MAX_RECORDS_PER_BATCH,
    OWNER_LABEL,
    Change,
    ChangeInfo,
    RecordSet,
)
from safeguards.route53_rules.batch import Quotas

from .harness import INSYNC_AFTER, BenchRoute53, calls_summary, make_rig, plan_of
from .report import BenchResult, Figure
from .unguarded import apply_unguarded, minimum_batches, unguarded_changes
from .zones import ZONE, simple_records

#: 100,000 names and their markers: past the default 10,000-set account quota (raised on request).
BIG_ZONE = Quotas(sets_per_zone=1_000_000)

SIZES = (10, 1_000, 100_000)
QUICK_SIZES = (10, 1_000)


@dataclass
class Tally:
    """Records per batch our applier submitted, by what they are."""

    batches: int = 0
    payload: int = 0
    markers: int = 0
    fence: int = 0
    sizes: list[int] = field(default_factory=list)  # records per batch, all kinds
    group_sizes: list[int] = field(default_factory=list)  # records per batch, fence excluded


class TallyingBackend:
    """Forwards to a backend and tallies the records of every change batch by kind."""

    def __init__(self, inner: Route53Backend) -> None:
        self.inner = inner
        self.tally = Tally()

    def resolve_zone(self, zone_name: str, *, create: bool = False) -> str:
        return self.inner.resolve_zone(zone_name, create=create)

    def list_record_sets(self, zone_id: str) -> list[RecordSet]:
        return self.inner.list_record_sets(zone_id)

    def list_record_sets_page(
        self, zone_id: str, start: PageStart | None = None, max_items: int = PAGE_SIZE
    ) -> tuple[list[RecordSet], PageStart | None]:
        ranged = self.inner
        assert isinstance(ranged, RangedListing)
        return ranged.list_record_sets_page(zone_id, start, max_items)

    def change_record_sets(self, zone_id: str, changes: Sequence[Change], comment: str = "") -> ChangeInfo:
        info = self.inner.change_record_sets(zone_id, changes, comment)
        t = self.tally
        t.batches += 1
        t.sizes.append(sum(c.record_count() for c in changes))
        fence_before = t.fence
        for c in changes:
            label = c.rrset.name.split(".", 1)[0]
            if label == FENCE_LABEL:
                t.fence += c.record_count()
            elif label == OWNER_LABEL:
                t.markers += c.record_count()
            else:
                t.payload += c.record_count()
        t.group_sizes.append(t.sizes[-1] - (t.fence - fence_before))
        return info

    def get_change(self, change_id: str) -> ChangeInfo:
        return self.inner.get_change(change_id)


@dataclass
class Run:
    """One scenario at one size: our counts, the unguarded writer's, the floor."""

    scenario: str
    n: int
    ours: dict[str, int]
    unguarded: dict[str, int]
    minimum: int
    tally: Tally
    wall_ours: float
    wall_unguarded: float

    @property
    def ours_changes(self) -> int:
        return self.ours.get("ChangeResourceRecordSets", 0)

    @property
    def unguarded_changes(self) -> int:
        return self.unguarded.get("ChangeResourceRecordSets", 0)


def _unguarded_counts(n: int) -> tuple[dict[str, int], dict[str, int], float, float]:
    """Calls of the blind writer for the create and the update of `n` sets."""
    clock = VirtualClock()
    model = BenchRoute53(clock=clock, insync_after=INSYNC_AFTER, quotas=BIG_ZONE)
    t0 = time.perf_counter()
    apply_unguarded(model, ZONE, unguarded_changes(simple_records(n)), clock=clock, create_zone=True)
    create = calls_summary(model.calls)
    t1 = time.perf_counter()
    model.calls.clear()
    apply_unguarded(model, ZONE, unguarded_changes(simple_records(n, salt=1)), clock=clock)
    update = calls_summary(model.calls)
    return create, update, t1 - t0, time.perf_counter() - t1


def measure(n: int) -> list[Run]:
    """Both scenarios at size `n`, ours and unguarded."""
    rig = make_rig()
    rig.model.quotas = BIG_ZONE
    tallying = TallyingBackend(rig.model)
    rig.applier.ports.backend = tallying
    old, new = simple_records(n), simple_records(n, salt=1)
    runs = []
    try:
        g_create, g_update, w_gc, w_gu = _unguarded_counts(n)
        t0 = time.perf_counter()
        rig.applier.apply(plan_of(old, 1))
        runs.append(
            Run(
                "create",
                n,
                calls_summary(rig.model.calls),
                g_create,
                minimum_batches(old, [], []),
                tallying.tally,
                time.perf_counter() - t0,
                w_gc,
            )
        )
        rig.model.calls.clear()
        tallying.tally = Tally()
        t0 = time.perf_counter()
        rig.applier.apply(plan_of(new, 2), force=True)
        runs.append(
            Run(
                "update",
                n,
                calls_summary(rig.model.calls),
                g_update,
                minimum_batches([], list(zip(old, new, strict=True)), []),
                tallying.tally,
                time.perf_counter() - t0,
                w_gu,
            )
        )
    finally:
        rig.close()
    return runs


def explain(run: Run) -> str:
    """Why our change calls exceed the floor, from the records our batches actually carried."""
    t = run.tally
    if run.ours_changes <= run.minimum:
        return ""
    groups = t.payload + t.markers
    parts = [
        f"our {t.batches} batches carried {t.payload:,} payload + {t.markers:,} ownership-marker + {t.fence:,} "
        f"fence records (fullest batch {max(t.sizes)} records, at most {max(t.group_sizes)} of them not the fence)"
    ]
    if t.markers:
        parts.append(
            f"markers: the applier's _with_markers CREATEs _dnssg.<name> beside every new name, "
            f"+{t.markers / max(1, t.payload):.0%} records; payload+markers alone need "
            f"{math.ceil(groups / MAX_RECORDS_PER_BATCH)} batches at 1,000 per batch"
        )
    best_fenced = math.ceil(groups / (MAX_RECORDS_PER_BATCH - 2))
    parts.append(
        f"fence: DELETE+CREATE of the fence costs 2 records in every batch (the applier's _write reserves "
        f"2 + the live fence's value count: 3 once a fence exists, one more than it uses), so even perfectly "
        f"packed these records need "
        f"{best_fenced} batches with a 2-record fence vs {run.minimum} at the floor"
    )
    return "; ".join(parts)


def run(quick: bool = False) -> BenchResult:
    """The API-economy benchmark."""
    res = BenchResult("api", "1. API economy: Route 53 calls, ours vs minimum vs unguarded (strict model)")
    t0 = time.perf_counter()
    runs: list[Run] = []
    for n in QUICK_SIZES if quick else SIZES:
        runs.extend(measure(n))
    for r in runs:
        label = f"{r.scenario} {r.n:,}"
        res.figures.append(
            Figure(
                f"{label}: change calls vs minimum",
                r.ours_changes,
                "calls",
                "ours/minimum = 1.00",
                r.ours_changes / r.minimum,
                "ours/minimum",
                r.ours_changes <= r.minimum,
                note=f"minimum {r.minimum} (1,000 records / 32,000 chars per batch)",
            )
        )
        res.figures.append(
            Figure(
                f"{label}: change calls vs unguarded",
                r.ours_changes,
                "calls",
                "ours/unguarded ≤ 1.00",
                r.ours_changes / r.unguarded_changes,
                "ours/unguarded",
                r.ours_changes <= r.unguarded_changes,
                note=f"unguarded UPSERT writer: {r.unguarded_changes}",
            )
        )
        pages = r.ours.get("ListResourceRecordSets", 0)
        res.figures.append(
            Figure(
                f"{label}: all calls vs unguarded",
                r.ours["total"],
                "calls",
                "(info)",
                r.ours["total"] / r.unguarded["total"],
                "ours/unguarded",
                note=f"{r.ours_changes} change + {pages} list pages ({PAGE_SIZE}/page) + {r.ours.get('GetChange', 0)} "
                f"GetChange + {r.ours.get('ListHostedZonesByName', 0)} zone lookup; unguarded {r.unguarded['total']}",
            )
        )
        why = explain(r)
        if why:
            res.notes.append(f"{label}: ours {r.ours_changes} vs minimum {r.minimum}: {why}")
        res.details[f"{r.scenario}-{r.n}"] = {
            "ours": r.ours,
            "unguarded": r.unguarded,
            "minimum_change_calls": r.minimum,
            "records": {"payload": r.tally.payload, "markers": r.tally.markers, "fence": r.tally.fence},
            "largest_batch_records": max(r.tally.sizes) if r.tally.sizes else 0,
            "wall_seconds": {"ours": round(r.wall_ours, 3), "unguarded": round(r.wall_unguarded, 3)},
        }
    res.seconds = time.perf_counter() - t0
    return res
