"""The comparison point: an applier with no safeguards at all.

It is handed the changes to make and writes them blindly: UPSERT for every set to create or
update, DELETE for every set to remove, packed first-fit into batches as full as Route 53's
limits allow (an UPSERT counts twice against both limits). No read, no fence, no markers, no
wait for INSYNC, no verification. This is what most DNS automation does, and the cheapest a
correct-looking writer can be in API calls; it is also exactly the writer the 2025 race needs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from safeguards.backend import Route53Backend
from safeguards.clock import Clock
from safeguards.diff import ChangeGroup, batch_groups
from safeguards.records import MAX_RECORDS_PER_BATCH, MAX_VALUE_CHARS_PER_BATCH, Change, RecordSet
from safeguards.retry import Backoff, call_with_retries


@dataclass
class UnguardedResult:
    """Batches written and their change ids."""

    batches: int
    change_ids: list[str]


def pack(changes: Sequence[Change]) -> list[list[Change]]:
    """First-fit in order into batches within both limits: the library's own batching, each
    change on its own (a blind writer has no per-name groups to keep together)."""
    groups = [ChangeGroup(c.rrset.name, (c,)) for c in changes]
    return [[c for g in batch for c in g.changes] for batch in batch_groups(groups)]


def unguarded_changes(upserts: Sequence[RecordSet], deletes: Sequence[RecordSet] = ()) -> list[Change]:
    """The blind writer's change list."""
    return [Change("UPSERT", r) for r in upserts] + [Change("DELETE", r) for r in deletes]


def apply_unguarded(
    backend: Route53Backend,
    zone: str,
    changes: Sequence[Change],
    *,
    clock: Clock,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    create_zone: bool = False,
) -> UnguardedResult:
    """Write `changes` to `zone` in full batches; throttling is retried with the same backoff our
    applier uses (so a rate-limited comparison is fair), nothing else is."""
    backoff = backoff or Backoff()
    rng = rng or random.Random(0)
    zone_id = call_with_retries(
        lambda: backend.resolve_zone(zone, create=create_zone), backoff=backoff, clock=clock, rng=rng
    )
    ids = []
    for batch in pack(changes):
        info = call_with_retries(
            lambda b=batch: backend.change_record_sets(zone_id, b, "unguarded"),  # type: ignore[misc]
            backoff=backoff,
            clock=clock,
            rng=rng,
        )
        ids.append(info.id)
    return UnguardedResult(len(ids), ids)


def minimum_batches(
    creates: Sequence[RecordSet], updates: Sequence[tuple[RecordSet, RecordSet]], deletes: Sequence[RecordSet]
) -> int:
    """The fewest change calls Route 53's per-request limits allow for these changes, each made
    with its cheapest action: CREATE (counts once), DELETE (once), and for an update the cheaper
    of UPSERT (twice the new set) or DELETE old + CREATE new."""
    records = sum(len(r.values) for r in creates) + sum(len(r.values) for r in deletes)
    chars = sum(r.value_chars() for r in creates) + sum(r.value_chars() for r in deletes)
    for old, new in updates:
        records += min(2 * len(new.values), len(old.values) + len(new.values))
        chars += min(2 * new.value_chars(), old.value_chars() + new.value_chars())
    if records == 0:
        return 0
    return max(math.ceil(records / MAX_RECORDS_PER_BATCH), math.ceil(chars / MAX_VALUE_CHARS_PER_BATCH))
