"""The naive enactor: what the 2025 enactor did, kept here only to prove the harness has teeth.

One round: pick the newest plan; check once that it is newer than the last applied generation
(the freshness check); write every endpoint's records unconditionally (UPSERT), one batch per
endpoint, with a checkpoint between endpoints; record the generation as applied; then clean up
plans more than `keep` generations older than the one it applied. Deleting a plan deletes the
records of every endpoint whose live plan pointer is that plan.

Each endpoint carries a "live plan" pointer, a TXT record beside it (`_naive-plan.<endpoint>`),
written in the same batch as the endpoint's records. The pointer is never removed: after the
race it names a plan that no longer exists, which is the inconsistent state of step 7.

Never use this outside tests; nothing in the applier depends on it.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ..backend import Route53Backend
from ..checkpoints import NO_CHECKPOINTS, Checkpoint
from ..clock import Clock, SystemClock
from ..plan import Plan
from ..planstore import PlanStore
from ..records import Change, RecordSet
from ..retry import Backoff, call_with_retries

T = TypeVar("T")

POINTER_LABEL = "_naive-plan"
POINTER_TTL = 60


def pointer_name(endpoint: str) -> str:
    """FQDN of the live-plan pointer of `endpoint`."""
    return f"{POINTER_LABEL}.{endpoint}"


def pointer_rrset(endpoint: str, generation: int) -> RecordSet:
    """The pointer record set saying `generation` is live on `endpoint`."""
    return RecordSet(pointer_name(endpoint), "TXT", POINTER_TTL, (f'"gen={generation}"',))


def read_pointers(sets: Iterable[RecordSet], endpoints: Iterable[str]) -> dict[str, int | None]:
    """Endpoint → the generation its pointer names (None: no pointer)."""
    wanted = {pointer_name(e): e for e in endpoints}
    found: dict[str, int | None] = dict.fromkeys(wanted.values())
    for r in sets:
        endpoint = wanted.get(r.name)
        if endpoint is not None and r.type == "TXT" and len(r.values) == 1:
            text = r.values[0].strip('"')
            if text.startswith("gen="):
                try:
                    found[endpoint] = int(text[4:])
                except ValueError:
                    found[endpoint] = None
    return found


@dataclass
class NaiveRound:
    """What one round did."""

    generation: int | None = None
    applied: bool = False
    written: list[str] = field(default_factory=list)
    deleted_plans: list[int] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.generation is None:
            return "no plan"
        head = f"applied g{self.generation}" if self.applied else f"g{self.generation} not newer: skipped"
        if self.deleted_plans:
            head += f"; deleted plans {', '.join(f'g{g}' for g in self.deleted_plans)}"
        if self.emptied:
            head += f"; emptied {', '.join(self.emptied)}"
        return head


class NaiveEnactor:
    """The 2025 enactor (see module doc). `endpoints` are the FQDNs it manages, in write order."""

    def __init__(
        self,
        backend: Route53Backend,
        store: PlanStore,
        zone: str,
        endpoints: Sequence[str],
        *,
        enactor_id: str = "naive",
        keep: int = 2,
        checkpoint: Checkpoint = NO_CHECKPOINTS,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.zone = zone
        self.endpoints = list(endpoints)
        self.enactor_id = enactor_id
        self.keep = keep
        self.checkpoint = checkpoint
        self.clock = clock or SystemClock()
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random(enactor_id)
        self._zone_id: str | None = None

    # ------------------------------------------------------------------ one round

    def run_round(self) -> NaiveRound:
        """Pick the newest plan, apply it if newer than the last applied one, clean up."""
        out = NaiveRound()
        gens = self.store.generations(self.zone)
        if not gens:
            return out
        plan = self.store.get_plan(self.zone, gens[-1])
        assert plan is not None
        out.generation = plan.generation
        self.checkpoint("plan.loaded", enactor=self.enactor_id, zone=self.zone, generation=plan.generation)
        last = self.store.state(self.zone).applied_generation
        fresh = last is None or plan.generation > last
        # The one and only freshness check: never repeated before a write.
        self.checkpoint("fence.checked", enactor=self.enactor_id, zone=self.zone, generation=plan.generation, live=last)
        if fresh:
            out.written = self.write(plan)
            out.applied = True
            reference = plan.generation
        else:
            reference = last if last is not None else plan.generation
        out.deleted_plans, out.emptied = self.cleanup(reference)
        return out

    def write(self, plan: Plan) -> list[str]:
        """UPSERT each endpoint's sets and pointer, one batch per endpoint; no condition at all."""
        by_name: dict[str, list[RecordSet]] = {}
        for r in plan.records:
            by_name.setdefault(r.name, []).append(r)
        todo = [e for e in self.endpoints if e in by_name]
        written = []
        for index, endpoint in enumerate(todo, 1):
            ctx = {
                "enactor": self.enactor_id,
                "zone": self.zone,
                "generation": plan.generation,
                "index": index,
                "total": len(todo),
                "endpoint": endpoint,
            }
            self.checkpoint("batch.before", **ctx)
            changes = [Change("UPSERT", r) for r in by_name[endpoint]]
            changes.append(Change("UPSERT", pointer_rrset(endpoint, plan.generation)))
            self._call(
                functools.partial(self.backend.change_record_sets, self.zone_id, changes, f"naive g{plan.generation}")
            )
            written.append(endpoint)
            self.checkpoint("batch.after", **ctx)
        self._record_applied(plan)
        self.checkpoint("store.recorded", enactor=self.enactor_id, zone=self.zone, generation=plan.generation)
        return written

    def cleanup(self, reference: int) -> tuple[list[int], list[str]]:
        """Delete plans older than `reference - keep` and, with each, the records of every
        endpoint whose pointer names it. The list is taken once, at the start."""
        old = [g for g in self.store.generations(self.zone) if g < reference - self.keep]
        deleted: list[int] = []
        emptied: list[str] = []
        for g in old:
            self.checkpoint("cleanup.before", enactor=self.enactor_id, zone=self.zone, generation=g)
            sets = self._call(lambda: self.backend.list_record_sets(self.zone_id))
            pointers = read_pointers(sets, self.endpoints)
            victims = [e for e, p in pointers.items() if p == g]
            doomed = [r for r in sets if r.name in victims]
            if doomed:
                deletes = [Change("DELETE", r) for r in doomed]
                self._call(
                    functools.partial(self.backend.change_record_sets, self.zone_id, deletes, f"naive cleanup g{g}")
                )
                emptied += sorted({r.name for r in doomed})
            self._delete_plan(g)
            deleted.append(g)
            self.checkpoint(
                "cleanup.after", enactor=self.enactor_id, zone=self.zone, generation=g, emptied=sorted(victims)
            )
        return deleted, emptied

    # ------------------------------------------------------------------ helpers

    @property
    def zone_id(self) -> str:
        if self._zone_id is None:
            self._zone_id = self._call(lambda: self.backend.resolve_zone(self.zone))
        return self._zone_id

    def _call(self, fn: Callable[[], T]) -> T:
        # Retries of throttling are not what went wrong in 2025: the naive enactor has them too.
        return call_with_retries(fn, backoff=self.backoff, clock=self.clock, rng=self.rng)

    # The store's writes are fenced by its lease; the naive enactor takes the lease only for the
    # single statement (no checkpoint in between), so it gets no protection from it: these are
    # the unconditional writes of 2025 expressed through the PlanStore protocol.

    def _record_applied(self, plan: Plan) -> None:
        lease = self.store.acquire_lease(self.zone, self.enactor_id, 60.0)
        try:
            self.store.record_applied(self.zone, plan.generation, plan.checksum, lease, known_good=False)
        finally:
            self.store.release_lease(lease)

    def _delete_plan(self, generation: int) -> None:
        lease = self.store.acquire_lease(self.zone, self.enactor_id, 60.0)
        try:
            self.store.delete_plan(self.zone, generation, lease)
        finally:
            self.store.release_lease(lease)


def endpoint_values(sets: Iterable[RecordSet], endpoints: Iterable[str]) -> Mapping[str, tuple[str, ...]]:
    """Endpoint → every value at that name (all its record sets), sorted."""
    wanted = set(endpoints)
    out: dict[str, list[str]] = {e: [] for e in wanted}
    for r in sets:
        if r.name in wanted:
            out[r.name].extend(r.values)
    return {e: tuple(sorted(v)) for e, v in out.items()}
