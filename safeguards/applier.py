"""The safeguarded enactor: applies plans to Route 53 so that the 2025 race cannot happen.

The sequence of one apply, each step a named checkpoint:
  read the zone → check the fence (freshness) → diff → guards → for each stage: batches, each a
  compare-and-set on the zone's fence record, then INSYNC + read-back + verifiers → record the
  applied generation in the plan store (fenced by the lease epoch).

Safety never rests on the freshness check: it is re-done by Route 53 at write time, because every
batch DELETEs the fence exactly as read. A rejected batch is re-read and judged: a newer
generation live → stale (stop); our own batch already there (a lost response) → success; anything
else → retry from a fresh read, bounded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .backend import Route53Backend
from .checkpoints import NO_CHECKPOINTS, Checkpoint
from .clock import Clock, SystemClock
from .diff import ChangeGroup, Diff, batch_groups, compute_diff, managed_observed
from .errors import (
    BackendError,
    BatchRejected,
    CircuitOpen,
    FenceLost,
    GuardRefused,
    InvalidInput,
    OutcomeUnknown,
    SafeguardsError,
    StaleGeneration,
    VerificationFailed,
    ZoneNotFound,
)
from .fence import Fence, find_fence, marker, marker_owners, parse_fence
from .guards import GuardOptions, check_all
from .plan import Plan, ensure_valid
from .planstore import Lease, PlanStore, ZoneState
from .records import Change, ChangeInfo, RecordKey, RecordSet, is_reserved, owner_name
from .retry import Backoff, call_with_retries
from .verify import Verifier

log = logging.getLogger("safeguards")

Outcome = Literal["applied", "noop", "dry-run", "resumed", "rolled-back"]


@dataclass(frozen=True)
class ApplyOptions:
    """How the applier behaves; the defaults are the safe ones."""

    guards: GuardOptions = field(default_factory=GuardOptions)
    backoff: Backoff = field(default_factory=Backoff)
    max_cas_attempts: int = 5
    use_lease: bool = True
    lease_ttl: float = 300.0
    lease_wait: float = 60.0
    wait_insync: bool = True
    insync_timeout: float = 900.0
    insync_backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=15.0, max_attempts=1_000_000))
    verifiers: tuple[Verifier, ...] = ()
    circuit_threshold: int = 3
    create_zone: bool = False
    keep_plans: int = 3
    weight_step: int | None = None  # shift weighted sets at most this much per stage
    settle_reads: int = 3  # extra reads when a read-back lags behind our own accepted batch


@dataclass
class ApplyResult:
    """What an apply (or rollback, or repair) did."""

    zone: str
    generation: int
    checksum: str
    outcome: Outcome
    diff: Diff | None = None
    batches: int = 0
    change_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rolled_back_to: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.diff
        return {
            "zone": self.zone,
            "generation": self.generation,
            "checksum": self.checksum,
            "outcome": self.outcome,
            "creates": [r.to_dict() for r in d.creates] if d else [],
            "updates": [{"from": o.to_dict(), "to": n.to_dict()} for o, n in d.updates] if d else [],
            "deletes": [r.to_dict() for r in d.deletes] if d else [],
            "batches": self.batches,
            "change_ids": self.change_ids,
            "warnings": self.warnings,
            "rolled_back_to": self.rolled_back_to,
        }


@dataclass(frozen=True)
class Preview:
    """A dry run: the diff and the verdicts, nothing written."""

    plan: Plan
    diff: Diff
    live: Fence | None
    stale: StaleGeneration | None
    refusal: GuardRefused | None

    @property
    def error(self) -> SafeguardsError | None:
        """The first reason `apply` would stop, if any."""
        return self.stale or self.refusal

    def to_dict(self) -> dict[str, Any]:
        d = self.diff
        return {
            "zone": self.plan.zone,
            "generation": self.plan.generation,
            "checksum": self.plan.checksum,
            "live_generation": self.live.generation if self.live else None,
            "creates": [r.to_dict() for r in d.creates],
            "updates": [{"from": o.to_dict(), "to": n.to_dict()} for o, n in d.updates],
            "deletes": [r.to_dict() for r in d.deletes],
            "unchanged": d.unchanged,
            "stale": str(self.stale) if self.stale else None,
            "refused": list(self.refusal.problems) if self.refusal else [],
        }


@dataclass(frozen=True)
class ZoneStatus:
    """The zone as Route 53 holds it (the truth) next to the plan store's bookkeeping."""

    zone: str
    fence: Fence | None
    records: tuple[RecordSet, ...]
    state: ZoneState

    @property
    def generation(self) -> int | None:
        return self.fence.generation if self.fence else None

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return {
            "zone": self.zone,
            "generation": self.generation,
            "checksum": self.fence.checksum if self.fence else None,
            "complete": self.fence.done if self.fence else None,
            "records": [r.to_dict() for r in self.records],
            "circuit": {
                "open": s.circuit_open,
                "reason": s.circuit_reason,
                "consecutive_failures": s.consecutive_failures,
            },
            "applied_generation": s.applied_generation,
            "last_known_good": s.last_known_good,
        }


@dataclass(frozen=True)
class _Snapshot:
    sets: tuple[RecordSet, ...]
    fence_rrset: RecordSet | None
    fence: Fence | None
    owners: dict[str, str]
    by_key: dict[RecordKey, RecordSet]


class _Conflict(Exception):
    """Our batch lost a compare-and-set to a writer that is not newer: re-read and retry."""


class Applier:
    """Applies plans through a `Route53Backend`, fenced by a `PlanStore`.

    One instance per enactor; safe to run many enactors (threads, processes, hosts) on one zone.
    """

    def __init__(
        self,
        backend: Route53Backend,
        store: PlanStore,
        *,
        enactor_id: str = "enactor",
        options: ApplyOptions | None = None,
        clock: Clock | None = None,
        checkpoint: Checkpoint = NO_CHECKPOINTS,
        rng: random.Random | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.enactor_id = enactor_id
        self.options = options or ApplyOptions()
        self.clock = clock or SystemClock()
        self.checkpoint = checkpoint
        self.rng = rng or random.Random()

    # ------------------------------------------------------------------ public operations

    def apply(self, plan: Plan, *, dry_run: bool = False, force: bool = False, adopt: bool = False) -> ApplyResult:
        """Apply `plan`. Raises StaleGeneration, GuardRefused, VerificationFailed (after rolling
        back), CircuitOpen, InvalidInput or a BackendError; on every one of them Route 53 holds
        what it held before (or, for a failure between batches, a prefix of whole names that the
        next apply resumes)."""
        self._log("apply.start", plan.zone, plan.generation, plan.checksum, dry_run=dry_run, force=force)
        ensure_valid(plan)
        self._check_circuit(plan.zone)
        if dry_run:
            preview = self.preview(plan, force=force, adopt=adopt)
            if preview.error:
                raise preview.error
            return ApplyResult(plan.zone, plan.generation, plan.checksum, "dry-run", preview.diff)
        return self._fenced(
            plan,
            lambda lease: self._enact(
                plan, self._zone_id(plan.zone, create=self.options.create_zone), lease, force=force, adopt=adopt
            ),
        )

    def preview(self, plan: Plan, *, force: bool = False, adopt: bool = False) -> Preview:
        """What `apply` would do, without writing anything anywhere: the diff, the live
        generation and every guard refusal (none raised). A zone not created yet reads empty."""
        try:
            zone_id = self._zone_id(plan.zone)
            snap = self._read(zone_id, plan.zone)
        except ZoneNotFound:
            snap = _Snapshot((), None, None, {}, {})
        observed = self._governed(plan, snap)
        diff = compute_diff(plan.records, observed, plan.retire)
        stale = refusal = None
        try:
            self._check_fresh(plan, snap.fence)
        except StaleGeneration as exc:
            stale = exc
        try:
            check_all(plan, observed, snap.owners, diff, self.options.guards, force=force, adopt=adopt)
        except GuardRefused as exc:
            refusal = exc
        return Preview(plan, diff, snap.fence, stale, refusal)

    def rollback(self, zone: str, *, to: int | None = None) -> ApplyResult:
        """Make an earlier plan's content live again, as a new generation above the live one."""
        self._check_circuit(zone)
        zone_id = self._zone_id(zone)
        snap = self._read(zone_id, zone)
        live = snap.fence.generation if snap.fence else None
        if to is None:
            earlier = [g for g in self.store.generations(zone) if live is None or g < live]
            if not earlier:
                raise InvalidInput(f"{zone}: no earlier plan to roll back to (live generation {live})")
            to = earlier[-1]
        target = self.store.get_plan(zone, to)
        if target is None:
            raise InvalidInput(f"{zone}: generation {to} is not in the plan store")
        live_plan = self.store.get_plan(zone, live) if live else None
        gone = (live_plan.managed_names() if live_plan else frozenset()) - target.managed_names()
        new = self._derive(target, self.store.allocate_generation(zone), retire=gone | set(target.retire))
        self._log("rollback", zone, new.generation, new.checksum, to=to, live=live)
        self.store.put_plan(new)
        result = self._fenced(new, lambda lease: self._enact(new, zone_id, lease, force=True, adopt=False))
        result.rolled_back_to = to
        return result

    def repair(self, zone: str) -> ApplyResult:
        """Restore the last known good content on every name found below its minimum
        (the self-repair that failed in 2025). Nothing to do: outcome "noop"."""
        zone_id = self._zone_id(zone)
        snap = self._read(zone_id, zone)
        state = self.store.state(zone)
        source = None
        for g in (snap.fence.generation if snap.fence else None, state.last_known_good, state.applied_generation):
            if g is not None and (source := self.store.get_plan(zone, g)) is not None:
                break
        if source is None:
            raise InvalidInput(f"{zone}: no live or last known good plan in the store to repair from")
        broken = [
            r
            for r in source.records
            if len((snap.by_key.get(r.key) or r.with_values(())).values) < source.min_for(r.key)
        ]
        gen = snap.fence.generation if snap.fence else source.generation
        if not broken:
            return ApplyResult(zone, gen, source.checksum, "noop")
        self._log("repair", zone, source.generation, source.checksum, broken=[f"{r.name} {r.type}" for r in broken])
        new = self._derive(source, self.store.allocate_generation(zone))
        self.store.put_plan(new)
        # Repair overrides the circuit: restoring an empty endpoint is what a person would do.
        return self._fenced(new, lambda lease: self._enact(new, zone_id, lease, force=True, adopt=False))

    def cleanup(self, zone: str, *, keep: int | None = None) -> list[int]:
        """Delete old plans: older than the live generation minus `keep`, not live (Route 53's
        fence is the truth), not the last known good; each delete fenced by our lease."""
        keep = self.options.keep_plans if keep is None else keep
        zone_id = self._zone_id(zone)
        snap = self._read(zone_id, zone)
        if snap.fence is None:
            return []
        live = snap.fence.generation
        state = self.store.state(zone)
        protected = {live, state.last_known_good, state.applied_generation}
        deleted: list[int] = []

        def run(lease: Lease) -> None:
            for g in self.store.generations(zone):
                if g >= live - keep or g in protected:
                    continue
                self.checkpoint("cleanup.before", enactor=self.enactor_id, zone=zone, generation=g, live=live)
                if self.store.delete_plan(zone, g, lease):
                    deleted.append(g)
                    self._log("cleanup.deleted", zone, g, "", live=live)
                self.checkpoint("cleanup.after", enactor=self.enactor_id, zone=zone, generation=g)

        self._with_lease(zone, run)
        return deleted

    def status(self, zone: str) -> ZoneStatus:
        """The zone's live generation, record sets and circuit state."""
        zone_id = self._zone_id(zone)
        snap = self._read(zone_id, zone)
        records = tuple(
            r for r in snap.sets if not is_reserved(r.name) and not (r.name == zone and r.type in ("SOA", "NS"))
        )
        return ZoneStatus(zone, snap.fence, records, self.store.state(zone))

    def reset_circuit(self, zone: str) -> None:
        """Close an open circuit (a person looked at the failures)."""
        self.store.reset_circuit(zone)
        self._log("circuit.reset", zone, 0, "")

    # ------------------------------------------------------------------ the fenced core

    def _fenced(self, plan: Plan, body: Any) -> ApplyResult:
        try:
            result: ApplyResult = self._with_lease(plan.zone, body)
        except StaleGeneration:
            raise
        except (GuardRefused, VerificationFailed, BackendError) as exc:
            try:
                st = self.store.record_failure(plan.zone, str(exc), threshold=self.options.circuit_threshold)
            except SafeguardsError as store_exc:
                # The store may be down with everything else: the original error is the one to report.
                self._log("circuit.unrecorded", plan.zone, plan.generation, plan.checksum, reason=str(store_exc))
                raise exc from None
            if st.circuit_open:
                self._log("circuit.open", plan.zone, plan.generation, plan.checksum, reason=str(exc))
            raise
        self.store.record_success(plan.zone)
        return result

    def _with_lease(self, zone: str, body: Any) -> Any:
        if not self.options.use_lease:
            return body(Lease(zone, self.enactor_id, 0, float("inf")))
        lease = self._acquire(zone)
        try:
            return body(lease)
        finally:
            # Lost already? Then the next holder's epoch fences us out anyway.
            with contextlib.suppress(SafeguardsError):
                self.store.release_lease(lease)

    def _acquire(self, zone: str) -> Lease:
        deadline = self.clock.now() + self.options.lease_wait
        attempt = 0
        while True:
            try:
                return self.store.acquire_lease(zone, self.enactor_id, self.options.lease_ttl)
            except FenceLost:
                if self.clock.now() >= deadline:
                    raise
                self.clock.sleep(self.options.backoff.delay(min(attempt, 6), self.rng) + 0.05)
                attempt += 1

    def _enact(self, plan: Plan, zone_id: str, lease: Lease, *, force: bool, adopt: bool) -> ApplyResult:
        cp = self.checkpoint
        cp("plan.loaded", enactor=self.enactor_id, zone=plan.zone, generation=plan.generation)
        for attempt in range(self.options.max_cas_attempts):
            snap = self._read(zone_id, plan.zone)
            cp("zone.read", enactor=self.enactor_id, zone=plan.zone, generation=plan.generation, attempt=attempt)
            resumed = self._check_fresh(plan, snap.fence)
            cp(
                "fence.checked",
                enactor=self.enactor_id,
                zone=plan.zone,
                generation=plan.generation,
                live=snap.fence.generation if snap.fence else None,
            )
            diff = self._diff_and_guard(plan, snap, force=force, adopt=adopt)
            # Renewed first: a paused enactor must not put back a plan clean-up already removed.
            self._renew(plan, lease, "before storing its plan")
            self._store_plan(plan)
            groups = self._with_markers(plan, snap, diff.groups)
            if not groups and snap.fence and snap.fence.generation == plan.generation and snap.fence.done:
                self._log("apply.noop", plan.zone, plan.generation, plan.checksum)
                self._record(plan, lease)
                return ApplyResult(plan.zone, plan.generation, plan.checksum, "noop", diff)
            try:
                result = self._write(plan, zone_id, snap, diff, groups, lease, attempt=attempt)
            except _Conflict:
                self._log("cas.conflict", plan.zone, plan.generation, plan.checksum, attempt=attempt)
                continue
            if resumed:
                result.outcome = "resumed"
            self._record(plan, lease)
            return result
        raise BackendError(
            f"{plan.zone}: gave up on generation {plan.generation} after {self.options.max_cas_attempts} "
            "compare-and-set conflicts with other writers; nothing more was applied"
        )

    def _renew(self, plan: Plan, lease: Lease, where: str) -> None:
        """Extend our lease; if another enactor held it in between, stop (and give back the one
        the renewal just took, so nobody waits out its TTL)."""
        if not self.options.use_lease:
            return
        renewed = self.store.acquire_lease(plan.zone, self.enactor_id, self.options.lease_ttl)
        if renewed.epoch != lease.epoch:
            with contextlib.suppress(SafeguardsError):
                self.store.release_lease(renewed)
            raise FenceLost(
                f"{plan.zone}: lease lost while applying generation {plan.generation} (epoch {lease.epoch} "
                f"became {renewed.epoch}); stopping {where}"
            )

    def _store_plan(self, plan: Plan) -> None:
        # Stored only once the guards passed, so a refused plan does not burn its generation.
        try:
            self.store.put_plan(plan)
        except InvalidInput as exc:
            # Another writer holds this generation number with other content: ours lost the race.
            raise StaleGeneration(str(exc), ours=plan.generation, live=plan.generation) from exc

    def _zone_id(self, zone: str, *, create: bool = False) -> str:
        return call_with_retries(
            lambda: self.backend.resolve_zone(zone, create=create),
            backoff=self.options.backoff,
            clock=self.clock,
            rng=self.rng,
        )

    def _record(self, plan: Plan, lease: Lease) -> None:
        if self.options.use_lease:
            self.store.record_applied(plan.zone, plan.generation, plan.checksum, lease, known_good=True)
        self.checkpoint("store.recorded", enactor=self.enactor_id, zone=plan.zone, generation=plan.generation)

    def _write(
        self,
        plan: Plan,
        zone_id: str,
        snap: _Snapshot,
        diff: Diff,
        groups: list[ChangeGroup],
        lease: Lease,
        *,
        attempt: int,
    ) -> ApplyResult:
        fence_rrset = snap.fence_rrset
        seq = snap.fence.seq if snap.fence else 0
        # The fence's DELETE (as read) and CREATE ride in every batch: reserve exactly their records.
        reserve = 1 + (len(fence_rrset.values) if fence_rrset else 0)
        reserve_chars = 2 * 400  # fence values are ~200 characters; keep room for old and new
        stages = self._stages(plan, groups, self._governed(plan, snap))
        result = ApplyResult(plan.zone, plan.generation, plan.checksum, "applied", diff)
        batches_per_stage = [
            batch_groups(stage, reserve_records=reserve, reserve_chars=reserve_chars) for _, stage in stages
        ] or [[[]]]
        total = sum(len(b) for b in batches_per_stage)
        index = 0
        for (label, stage_groups), batches in zip(stages or [("fence", [])], batches_per_stage, strict=True):
            stage_ids: list[str] = []
            for batch in batches:
                index += 1
                seq += 1
                new_fence = Fence(plan.generation, plan.checksum, plan.owner, self.enactor_id, seq, index == total)
                new_rrset = new_fence.render(plan.zone)
                changes = [c for g in batch for c in g.changes]
                info = self._submit(plan, zone_id, fence_rrset, new_rrset, changes, lease, index, total)
                fence_rrset = new_rrset
                result.batches += 1
                if info is not None:
                    result.change_ids.append(info.id)
                    stage_ids.append(info.id)
            if stage_groups:
                self._verify_stage(plan, zone_id, label, stage_groups, stage_ids, snap, lease, fence_rrset)
        return result

    def _submit(
        self,
        plan: Plan,
        zone_id: str,
        old_fence: RecordSet | None,
        new_fence: RecordSet,
        changes: list[Change],
        lease: Lease,
        index: int,
        total: int,
    ) -> ChangeInfo | None:
        batch = ([Change("DELETE", old_fence)] if old_fence else []) + [Change("CREATE", new_fence)] + changes
        ctx = {"enactor": self.enactor_id, "zone": plan.zone, "generation": plan.generation, "index": index}
        self._renew(plan, lease, f"before batch {index}/{total}")
        # A pause here (after the renewal, before the write) is the 2025 stall: only Route 53's
        # check of the fence inside the batch can catch it.
        self.checkpoint("batch.before", **ctx, total=total)
        comment = f"dns-safeguards gen={plan.generation} batch={index}/{total} by={self.enactor_id}"
        try:
            info = call_with_retries(
                lambda: self.backend.change_record_sets(zone_id, batch, comment),
                backoff=self.options.backoff,
                clock=self.clock,
                rng=self.rng,
                on_retry=lambda n, exc, wait: self._log(
                    "retry", plan.zone, plan.generation, plan.checksum, attempt=n, error=type(exc).__name__, wait=wait
                ),
            )
        except (BatchRejected, OutcomeUnknown) as exc:
            # Route 53 decided, or we do not know what it decided: only a fresh read tells.
            snap = self._read(zone_id, plan.zone)
            if snap.fence_rrset == new_fence:
                self._log("batch.already-applied", plan.zone, plan.generation, plan.checksum, index=index)
                self.checkpoint("batch.after", **ctx, total=total)
                return None
            self._check_fresh(plan, snap.fence)
            self._log("batch.rejected", plan.zone, plan.generation, plan.checksum, index=index, reason=str(exc))
            raise _Conflict(str(exc)) from exc
        self._log(
            "batch.applied",
            plan.zone,
            plan.generation,
            plan.checksum,
            index=index,
            total=total,
            changes=len(changes),
            change_id=info.id,
        )
        self.checkpoint("batch.after", **ctx, total=total)
        return info

    # ------------------------------------------------------------------ verification and rollback

    def _verify_stage(
        self,
        plan: Plan,
        zone_id: str,
        label: str,
        groups: list[ChangeGroup],
        ids: list[str],
        before: _Snapshot,
        lease: Lease,
        written: RecordSet | None = None,
    ) -> None:
        try:
            if self.options.wait_insync and ids:
                self._wait_insync(plan, ids[-1])
            after = self._read_settled(zone_id, plan.zone, written)
            problems = self._read_back(groups, after)
            expected = [
                c.rrset for g in groups for c in g.changes if c.action == "CREATE" and not is_reserved(c.rrset.name)
            ]
            for verifier in self.options.verifiers:
                problems += [f"{verifier.name}: {p}" for p in verifier.verify(plan.zone, expected)]
        except BackendError as exc:
            problems = [f"could not verify: {exc}"]
        if not problems:
            self.checkpoint(
                "stage.verified", enactor=self.enactor_id, zone=plan.zone, generation=plan.generation, stage=label
            )
            return
        self._log("stage.failed", plan.zone, plan.generation, plan.checksum, stage=label, problems=problems)
        rolled = self._rollback_to_snapshot(plan, zone_id, before, lease)
        raise VerificationFailed(
            f"{plan.zone} generation {plan.generation}: stage '{label}' failed verification ({problems[0]}"
            f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); rolled back to the previous "
            f"content as generation {rolled}",
            problems=problems,
        )

    def _read_settled(self, zone_id: str, zone: str, written: RecordSet | None) -> _Snapshot:
        """A read that shows at least the fence we last wrote. One lagging read (a replica behind
        our own accepted batch) is not evidence that the batch failed: read again, bounded."""
        after = self._read(zone_id, zone)
        ours = parse_fence(written)
        for attempt in range(self.options.settle_reads):
            seen = after.fence
            if ours is None or (seen is not None and seen.seq >= ours.seq):
                break
            self._log("read.lagging", zone, ours.generation, ours.checksum, seen_seq=seen.seq if seen else None)
            self.clock.sleep(self.options.backoff.delay(attempt, self.rng))
            after = self._read(zone_id, zone)
        return after

    def _wait_insync(self, plan: Plan, change_id: str) -> None:
        deadline = self.clock.now() + self.options.insync_timeout
        attempt = 0
        while True:
            info = call_with_retries(
                lambda: self.backend.get_change(change_id), backoff=self.options.backoff, clock=self.clock, rng=self.rng
            )
            if info.status == "INSYNC":
                return
            if self.clock.now() >= deadline:
                raise BackendError(
                    f"{plan.zone}: change {change_id} still {info.status} after {self.options.insync_timeout:.0f} s"
                )
            # Full jitter, with a floor so a PENDING change is not polled in a tight loop.
            self.clock.sleep(max(0.5, self.options.insync_backoff.delay(attempt, self.rng)))
            attempt += 1

    @staticmethod
    def _read_back(groups: list[ChangeGroup], after: _Snapshot) -> list[str]:
        problems = []
        for g in groups:
            for c in g.changes:
                got = after.by_key.get(c.rrset.key)
                if c.action == "CREATE" and got != c.rrset:
                    seen = list(got.values) if got else "missing"
                    problems.append(
                        f"read-back: {c.rrset.name} {c.rrset.type} is {seen}, expected {list(c.rrset.values)}"
                    )
        return problems

    def _rollback_to_snapshot(self, failed: Plan, zone_id: str, before: _Snapshot, lease: Lease) -> int:
        """Put back what was live before `failed` started, as a new higher generation through
        the same compare-and-set path. Names `failed` created are retired."""
        names = failed.managed_names()
        prior = tuple(sorted(r for r in before.sets if r.name in names and not is_reserved(r.name)))
        created = names - {r.name for r in prior}
        gen = self.store.allocate_generation(failed.zone)
        restore = Plan(
            failed.zone, gen, prior, retire=tuple(sorted(created)), min_values=failed.min_values, owner=failed.owner
        )
        self.store.put_plan(restore)
        self._log("rollback.start", failed.zone, gen, restore.checksum, failed=failed.generation)
        # Verification of the restore is read-back only: the gates just failed on new content.
        saved = self.options
        self.options = _replace(saved, verifiers=())
        try:
            self._enact(restore, zone_id, lease, force=True, adopt=True)
        finally:
            self.options = saved
        return gen

    # ------------------------------------------------------------------ helpers

    def _read(self, zone_id: str, zone: str) -> _Snapshot:
        sets = tuple(
            call_with_retries(
                lambda: self.backend.list_record_sets(zone_id),
                backoff=self.options.backoff,
                clock=self.clock,
                rng=self.rng,
            )
        )
        fence_rrset = find_fence(sets, zone)
        return _Snapshot(sets, fence_rrset, parse_fence(fence_rrset), marker_owners(sets), {r.key: r for r in sets})

    def _check_fresh(self, plan: Plan, fence: Fence | None) -> bool:
        """Raise StaleGeneration unless `plan` may be written; True when resuming our own
        generation (same checksum)."""
        if fence is None or fence.generation < plan.generation:
            return False
        if fence.generation == plan.generation and fence.checksum == plan.checksum:
            return True
        what = "newer" if fence.generation > plan.generation else "the same number with other content"
        self._log("stale", plan.zone, plan.generation, plan.checksum, live=fence.generation)
        raise StaleGeneration(
            f"{plan.zone}: generation {fence.generation} is live ({what}, written by {fence.writer}); "
            f"refusing to apply generation {plan.generation}",
            ours=plan.generation,
            live=fence.generation,
        )

    @staticmethod
    def _governed(plan: Plan, snap: _Snapshot) -> dict[RecordKey, RecordSet]:
        """The observed sets this plan governs: at its own names, and at every name its owner
        holds (by marker). A live owned name missing from the plan is therefore a deletion,
        which the never-empty guard refuses unless the plan retires it."""
        owned = {name for name, owner in snap.owners.items() if owner == plan.owner}
        return managed_observed(snap.sets, plan.managed_names() | owned)

    def _diff_and_guard(self, plan: Plan, snap: _Snapshot, *, force: bool, adopt: bool) -> Diff:
        observed = self._governed(plan, snap)
        diff = compute_diff(plan.records, observed, plan.retire)
        check_all(plan, observed, snap.owners, diff, self.options.guards, force=force, adopt=adopt)
        return diff

    def _with_markers(self, plan: Plan, snap: _Snapshot, groups: Sequence[ChangeGroup]) -> list[ChangeGroup]:
        """Add ownership-marker changes to each name's group: CREATE for names we start to
        manage (or adopt), DELETE for names retired."""
        by_name = {g.name: list(g.changes) for g in groups}
        retired = set(plan.retire)
        for name in sorted({r.name for r in plan.records} | retired):
            current = snap.by_key.get((owner_name(name), "TXT", None))
            owner = snap.owners.get(name)
            if name in retired:
                if current is not None:
                    by_name.setdefault(name, []).append(Change("DELETE", current))
                continue
            if owner == plan.owner:
                continue
            changes = by_name.setdefault(name, [])
            if current is not None:
                changes.insert(0, Change("DELETE", current))
            changes.append(Change("CREATE", marker(name, plan.owner)))
        return [ChangeGroup(name, tuple(changes)) for name, changes in sorted(by_name.items())]

    def _stages(
        self, plan: Plan, groups: list[ChangeGroup], governed: dict[RecordKey, RecordSet]
    ) -> list[tuple[str, list[ChangeGroup]]]:
        """Canary names first; then, for weighted sets whose weight moves by more than
        `weight_step`, intermediate stages that shift the weight in steps; then the rest."""
        canary = set(plan.canary)
        first = [g for g in groups if g.name in canary]
        rest = [g for g in groups if g.name not in canary]
        stages = [("canary", first)] if first else []
        step = self.options.weight_step
        if step:
            shifts = _weight_shifts(rest, step)
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

    @staticmethod
    def _derive(source: Plan, generation: int, retire: Sequence[str] | frozenset[str] = ()) -> Plan:
        keep = set(retire) - {r.name for r in source.records}
        return Plan(
            source.zone,
            generation,
            source.records,
            retire=tuple(sorted(keep)),
            min_values=source.min_values,
            canary=source.canary,
            owner=source.owner,
        )

    def _check_circuit(self, zone: str) -> None:
        st = self.store.state(zone)
        if st.circuit_open:
            raise CircuitOpen(
                f"{zone}: circuit open after {st.consecutive_failures} consecutive failures "
                f"(last: {st.circuit_reason}); run 'dns-safeguards reset --zone {zone}' once resolved"
            )

    def _log(self, event: str, zone: str, generation: int, checksum: str, **fields: Any) -> None:
        log.info(
            "%s zone=%s generation=%s checksum=%s %s",
            event,
            zone,
            generation,
            checksum[:12],
            " ".join(f"{k}={v}" for k, v in fields.items()),
            extra={
                "event": event,
                "zone": zone,
                "generation": generation,
                "checksum": checksum,
                "enactor": self.enactor_id,
                "fields": fields,
            },
        )


def _replace(options: ApplyOptions, **changes: Any) -> ApplyOptions:
    return dataclasses.replace(options, **changes)


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
    return RecordSet(old.name, old.type, old.ttl, old.values, old.set_identifier, weight)


def _weight_stages(
    shifts: list[tuple[RecordSet, RecordSet, int]], governed: dict[RecordKey, RecordSet]
) -> list[tuple[str, list[ChangeGroup]]]:
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
