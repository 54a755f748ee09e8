"""The safeguarded enactor: applies plans to Route 53 so that the 2025 race cannot happen.

Every write path reads top to bottom the same way:

    read the zone → decide (pure: `decisions`) → guard → stage → write → verify → record

and every decision carries the read it rests on into its first batch: the batch DELETEs the fence
record exactly as that read saw it, so Route 53 itself rejects a batch whose decision went stale
while the enactor waited (for the lease, a backoff, a stall). A rejected batch is re-read and
judged: our own batch already there (a lost response) → go on; the fence and every set the batch
deletes unchanged → the batch itself is invalid (stop, Route 53's message); anything else → the
zone moved: decide again from the fresh read (a repair may find nothing left to repair; a rollback
decided on a generation that is no longer live is stale).

Repairs and rollbacks write under the live generation at revision + 1 (see `decisions`): they never
take a generation the planner will use. A failed gate restores the previous content only with a
batch chained on the fence this enactor last wrote: if anyone wrote after us, they own the zone.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from . import decisions as d
from .backend import Route53Backend
from .checkpoints import NO_CHECKPOINTS, Checkpoint
from .clock import Clock, SystemClock
from .diff import ChangeGroup, Diff, batch_groups, compute_diff
from .errors import (
    BackendError,
    BatchInvalid,
    BatchRejected,
    CircuitOpen,
    GuardRefused,
    InvalidInput,
    LeaseLost,
    OutcomeUnknown,
    PlanIntegrityError,
    RestoreIncomplete,
    SafeguardsError,
    StaleGeneration,
    Superseded,
    VerificationFailed,
    ZoneNotFound,
)
from .fence import Fence, ZoneView, cas_batch, check_token, fence_reserve
from .guards import GuardOptions, check_all
from .plan import Plan, ensure_valid
from .planstore import Lease, PlanStore, ZoneState
from .records import Change, ChangeInfo, RecordSet, is_reserved
from .retry import Backoff, call_with_retries
from .signing import Signer, verify_plan
from .staging import plan_stages
from .verify import Verifier

log = logging.getLogger("safeguards")

Outcome = Literal["applied", "noop", "dry-run", "resumed", "rolled-back", "repaired"]
T = TypeVar("T")


@dataclass(frozen=True)
class ApplyOptions:
    """How the applier behaves; the defaults are the safe ones."""

    guards: GuardOptions = field(default_factory=GuardOptions)
    backoff: Backoff = field(default_factory=Backoff)
    max_cas_attempts: int = 5
    use_lease: bool = True
    lease_ttl: float = 30.0  # renewed before every batch and while waiting for INSYNC
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
    signer: Signer | None = None  # set: only plans signed with this key are applied, rolled back to or repaired from


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
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = self.diff
        return {
            "zone": self.zone,
            "generation": self.generation,
            "revision": self.revision,
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
        f = self.fence
        return {
            "zone": self.zone,
            "generation": self.generation,
            "revision": f.rev if f else None,
            "content_generation": f.content if f else None,
            "checksum": f.checksum if f else None,
            "complete": f.done if f else None,
            "records": [r.to_dict() for r in self.records],
            "circuit": {
                "open": s.circuit_open,
                "reason": s.circuit_reason,
                "consecutive_failures": s.consecutive_failures,
            },
            "applied_generation": s.applied_generation,
            "last_known_good": s.last_known_good,
        }


class _Moved(Exception):
    """The zone moved after the decision (our batch lost its compare-and-set): decide again."""


@dataclass
class _Run:
    """One decision being carried out: what it rests on, what the next batch DELETEs, what was
    written so far (a restore puts exactly that back)."""

    decision: d.Decision
    zone_id: str
    lease: Lease
    expected: RecordSet | None  # the fence the next batch DELETEs
    last: Fence | None = None  # the fence our last accepted batch wrote
    written: list[Change] = field(default_factory=list)
    result: ApplyResult | None = None

    @property
    def zone(self) -> str:
        return self.decision.rules.zone


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
        self.enactor_id = check_token("enactor id", enactor_id)
        self.options = options or ApplyOptions()
        self.clock = clock or SystemClock()
        self.checkpoint = checkpoint
        self.rng = rng or random.Random()

    # ------------------------------------------------------------------ public operations

    def apply(self, plan: Plan, *, dry_run: bool = False, force: bool = False, adopt: bool = False) -> ApplyResult:
        """Apply `plan`. Raises StaleGeneration, GuardRefused, VerificationFailed (after a verified
        restore), CircuitOpen, InvalidInput or a BackendError; on every one of them Route 53 holds
        what it held before (or, for a failure between batches, a prefix of whole names that any
        enactor's next apply or `repair` completes)."""
        self._event("apply.start", plan.zone, plan.generation, plan.checksum, dry_run=dry_run, force=force)
        self._admit(plan)
        self._check_circuit(plan.zone)
        if dry_run:
            preview = self.preview(plan, force=force, adopt=adopt)
            if preview.error:
                raise preview.error
            return ApplyResult(plan.zone, plan.generation, plan.checksum, "dry-run", preview.diff)
        self._prepare_gates()

        def decide(view: ZoneView) -> d.Decision:
            return self._decide_apply(plan, view, force=force, adopt=adopt)

        def fenced() -> ApplyResult:
            zone_id = self._zone_id(plan.zone, create=self.options.create_zone)
            self.checkpoint("plan.loaded", enactor=self.enactor_id, zone=plan.zone, generation=plan.generation)
            return self._leased(
                plan.zone, lambda lease: self._settle(zone_id, lease, decide, self._read(zone_id, plan.zone))
            )

        return self._counted(plan.zone, fenced)

    def preview(self, plan: Plan, *, force: bool = False, adopt: bool = False) -> Preview:
        """What `apply` would do, without writing anything anywhere: the diff, the live
        generation and every guard refusal (none raised). A zone not created yet reads empty."""
        try:
            view = self._read(self._zone_id(plan.zone), plan.zone)
        except ZoneNotFound:
            view = ZoneView.empty(plan.zone)
        observed, diff = d.plan_diff(plan, view)
        stale = refusal = None
        try:
            d.check_fresh(plan, view.fence)
        except StaleGeneration as exc:
            stale = exc
        try:
            check_all(plan, observed, view.owners, diff, self.options.guards, force=force, adopt=adopt)
        except GuardRefused as exc:
            refusal = exc
        return Preview(plan, diff, view.fence, stale, refusal)

    def rollback(self, zone: str, *, to: int | None = None, force: bool = False) -> ApplyResult:
        """Make an earlier plan's content live again, under the live generation one revision up.
        Decided on one read: if the live generation changes before the write lands, nothing is
        written and StaleGeneration says what is live now."""
        self._check_circuit(zone)
        zone_id = self._zone_id(zone)
        first = self._read(zone_id, zone)
        target = d.rollback_target(first, self.store.generations(zone), to)
        decided = first.fence
        assert decided is not None  # rollback_target refuses a zone without one

        def decide(view: ZoneView) -> d.Decision:
            live = view.fence
            if live is None or (live.generation, live.content) != (decided.generation, decided.content):
                now = live.label() if live else "nothing of ours"
                raise StaleGeneration(
                    f"{zone}: rollback to generation {target} was decided while {decided.label()} was live; "
                    f"{now} is live now; nothing rolled back",
                    ours=decided.generation,
                    live=live.generation if live else 0,
                )
            return self._decide_rollback(view, target, force=force)

        decision = decide(first)
        result = self._counted(
            zone, lambda: self._leased(zone, lambda lease: self._settle(zone_id, lease, decide, first, decision))
        )
        result.rolled_back_to = target
        return result

    def repair(self, zone: str, *, force: bool = False) -> ApplyResult:
        """Restore the live plan's content on every name below its minimum, and finish a
        generation left half-applied (the self-repair that failed in 2025). Nothing to do (or
        nothing left once a newer write landed): outcome "noop"."""
        zone_id = self._zone_id(zone)
        first = self._read(zone_id, zone)

        def decide(view: ZoneView) -> d.Decision:
            return self._decide_repair(zone, view, force=force)

        decision = decide(first)
        if decision.empty:
            return self._noop(decision)
        # Repair overrides the circuit: restoring an empty endpoint is what a person would do.
        return self._counted(
            zone, lambda: self._leased(zone, lambda lease: self._settle(zone_id, lease, decide, first, decision))
        )

    def cleanup(self, zone: str, *, keep: int | None = None) -> list[int]:
        """Delete old plans: older than the live generation minus `keep`, never the live one, the
        live content's plan or the last known good; each delete conditioned in the store on our
        lease and on the plan not having been pinned by a rollback since this decision."""
        keep = self.options.keep_plans if keep is None else keep
        if keep < 1:
            raise InvalidInput(f"{zone}: keep must be at least 1 (got {keep}); the live plan is always kept")
        view = self._read(self._zone_id(zone), zone)
        if view.fence is None:
            return []
        live = view.fence
        state = self.store.state(zone)
        protected = {live.generation, live.content, state.last_known_good, state.applied_generation}
        floor = live.generation - keep
        deleted: list[int] = []
        self.checkpoint("decided", enactor=self.enactor_id, zone=zone, action="cleanup", generation=live.generation)

        def run(lease: Lease) -> None:
            for g in self.store.generations(zone):
                if g >= floor or g in protected:
                    continue
                self.checkpoint(
                    "cleanup.before", enactor=self.enactor_id, zone=zone, generation=g, live=live.generation
                )
                if self.store.delete_plan(zone, g, lease, pinned_below=floor):
                    deleted.append(g)
                    self._event("cleanup.deleted", zone, g, "", live=live.generation)
                self.checkpoint("cleanup.after", enactor=self.enactor_id, zone=zone, generation=g)

        self._leased(zone, run)
        return deleted

    def status(self, zone: str) -> ZoneStatus:
        """The zone's live generation, record sets and circuit state."""
        view = self._read(self._zone_id(zone), zone)
        return ZoneStatus(zone, view.fence, view.records(), self.store.state(zone))

    def reset_circuit(self, zone: str) -> None:
        """Close an open circuit (a person looked at the failures)."""
        self.store.reset_circuit(zone)
        self._event("circuit.reset", zone, 0, "")

    # ------------------------------------------------------------------ decisions

    def _decide_apply(self, plan: Plan, view: ZoneView, *, force: bool, adopt: bool) -> d.Decision:
        resumed = d.check_fresh(plan, view.fence)
        self.checkpoint(
            "fence.checked",
            enactor=self.enactor_id,
            zone=plan.zone,
            generation=plan.generation,
            live=view.fence.generation if view.fence else None,
        )
        observed, diff = d.plan_diff(plan, view)
        check_all(plan, observed, view.owners, diff, self.options.guards, force=force, adopt=adopt)
        live = view.fence
        fence = Fence(
            plan.generation,
            plan.checksum,
            plan.owner,
            self.enactor_id,
            live.seq if live else 0,
            False,
            live.rev if resumed and live else 0,
        )
        groups = d.with_markers(plan, view, diff.groups)
        return d.Decision("apply", view, plan, fence, groups, diff, resumed=resumed)

    def _decide_repair(self, zone: str, view: ZoneView, *, force: bool) -> d.Decision:
        live = view.fence
        if live is not None:
            source = self._stored(zone, live.content, checksum=live.checksum)
        else:
            state = self.store.state(zone)
            source = next(
                (p for g in (state.last_known_good, state.applied_generation) if g and (p := self._stored(zone, g))),
                None,
            )
        if source is None:
            raise InvalidInput(f"{zone}: no live or last known good plan in the store to repair from")
        broken = d.repair_targets(source, view)
        part = d.restrict(source, broken)
        diff = compute_diff(part.records, view.governed(part.managed_names()), ())
        fence = (
            d.next_revision(live, source, self.enactor_id)
            if live is not None
            else Fence(source.generation, source.checksum, source.owner, self.enactor_id, 0, False)
        )
        decision = d.Decision("repair", view, part, fence, [], diff)
        if broken:
            # Judged on everything the live plan governs, under the live plan's own rules.
            check_all(source, d.governed(source, view), view.owners, diff, self.options.guards, force=force)
            decision = replace(decision, groups=d.with_markers(part, view, diff.groups))
        self._event("repair", zone, fence.generation, source.checksum, broken=[f"{r.name} {r.type}" for r in broken])
        self.checkpoint(
            "decided",
            enactor=self.enactor_id,
            zone=zone,
            action="repair",
            broken=len(broken),
            generation=live.generation if live else None,
            seq=live.seq if live else None,
        )
        return decision

    def _decide_rollback(self, view: ZoneView, to: int, *, force: bool) -> d.Decision:
        live = view.fence
        assert live is not None
        zone = view.zone
        target = self._stored(zone, to)
        if target is None:
            raise InvalidInput(f"{zone}: generation {to} is not in the plan store")
        now = self._stored(zone, live.content, checksum=live.checksum) if live.content else None
        gone = (now.managed_names() if now else frozenset(view.owned_by(target.owner))) - target.managed_names()
        content = d.as_content(target, live.generation, gone)
        observed, diff = d.plan_diff(content, view)
        check_all(content, observed, view.owners, diff, self.options.guards, force=force, adopt=False)
        # Pinned before the write: clean-up (decided on an older read) can no longer delete it.
        if not self.store.pin_plan(zone, to, live.generation):
            raise InvalidInput(f"{zone}: generation {to} is no longer in the plan store (cleaned up)")
        self._event("rollback", zone, live.generation, target.checksum, to=to, live=live.label())
        self.checkpoint(
            "decided",
            enactor=self.enactor_id,
            zone=zone,
            action="rollback",
            to=to,
            generation=live.generation,
            seq=live.seq,
        )
        fence = d.next_revision(live, target, self.enactor_id)
        return d.Decision("rollback", view, content, fence, d.with_markers(content, view, diff.groups), diff)

    # ------------------------------------------------------------------ carrying a decision out

    def _settle(
        self,
        zone_id: str,
        lease: Lease,
        decide: Callable[[ZoneView], d.Decision],
        view: ZoneView,
        decision: d.Decision | None = None,
    ) -> ApplyResult:
        """Carry out the decision made on `view`; when the zone moved under it, read again and
        decide again (bounded). Never writes a decision on a read other than its own."""
        for attempt in range(self.options.max_cas_attempts):
            if decision is None:
                self.checkpoint("zone.read", enactor=self.enactor_id, zone=view.zone, attempt=attempt)
                decision = decide(view)
            if decision.action == "apply":
                # Renewed first: a paused enactor must not put back a plan clean-up already removed.
                self._renew(lease, decision.rules, "before storing its plan")
                self._store_plan(decision.rules)
            live = view.fence
            if decision.empty and (
                decision.action != "apply" or (live and live.rank == decision.fence.rank and live.done)
            ):
                return self._noop(decision, lease)
            try:
                return self._carry_out(decision, zone_id, lease)
            except _Moved:
                self._event(
                    "cas.conflict",
                    view.zone,
                    decision.fence.generation,
                    decision.fence.checksum,
                    attempt=attempt,
                    action=decision.action,
                )
            view, decision = self._read(zone_id, view.zone), None
        raise BackendError(
            f"{view.zone}: gave up after {self.options.max_cas_attempts} compare-and-set conflicts with other "
            "writers (each time the zone moved after our read); nothing more was applied"
        )

    def _carry_out(self, decision: d.Decision, zone_id: str, lease: Lease) -> ApplyResult:
        plan = decision.rules
        fence = decision.fence
        run = _Run(decision, zone_id, lease, decision.basis.fence_rrset)
        outcome: Outcome = {"apply": "applied", "repair": "repaired", "rollback": "rolled-back"}.get(
            decision.action, "applied"
        )
        if decision.resumed:
            outcome = "resumed"
        run.result = ApplyResult(
            plan.zone, fence.generation, fence.checksum, outcome, decision.diff, revision=fence.rev
        )
        stages = plan_stages(
            decision.groups, set(plan.canary), d.governed(plan, decision.basis), self.options.weight_step
        ) or [("fence", [])]
        batches = [self._batches(groups, run.expected) for _, groups in stages]
        total = sum(len(b) for b in batches)
        index = 0
        for (label, groups), stage_batches in zip(stages, batches, strict=True):
            ids: list[str] = []
            for batch in stage_batches:
                index += 1
                info = self._submit(run, [c for g in batch for c in g.changes], index, total)
                if info is not None:
                    ids.append(info.id)
            if groups:
                self._verify(run, label, groups, ids)
        if decision.action == "apply":
            self._record(plan, lease)
        return run.result

    def _batches(self, groups: list[ChangeGroup], expected: RecordSet | None) -> list[list[ChangeGroup]]:
        # The fence's DELETE (as read) and CREATE ride in every batch: reserve their records.
        return batch_groups(groups, reserve_records=fence_reserve(expected), reserve_chars=2 * 600) or [[]]

    def _submit(self, run: _Run, changes: list[Change], index: int, total: int) -> ChangeInfo | None:
        """One compare-and-set batch of the chain that carries `run`'s decision out."""
        decision = run.decision
        zone = run.zone
        last = index == total
        fence = (run.last or decision.fence).successor(self.enactor_id, done=last and decision.complete)
        new = fence.render(zone)
        batch = cas_batch(run.expected, new, changes)
        ctx = {"enactor": self.enactor_id, "zone": zone, "generation": fence.generation, "index": index}
        self._renew(run.lease, decision.rules, f"before batch {index}/{total}")
        # A pause here (after the renewal, before the write) is the 2025 stall: only Route 53's
        # check of the fence inside the batch can catch it.
        self.checkpoint("batch.before", **ctx, total=total, action=decision.action)
        comment = f"dns-safeguards gen={fence.generation}.{fence.rev} batch={index}/{total} by={self.enactor_id}"
        try:
            info: ChangeInfo | None = self._call(
                lambda: self.backend.change_record_sets(run.zone_id, batch, comment), fence
            )
        except (BatchRejected, OutcomeUnknown) as exc:
            self._judge_rejection(run, batch, new, exc)
            info = None
            self._event("batch.already-applied", zone, fence.generation, fence.checksum, index=index)
        run.expected, run.last = new, fence
        run.written += changes
        assert run.result is not None
        run.result.batches += 1
        if info is not None:
            run.result.change_ids.append(info.id)
            self._event(
                "batch.applied",
                zone,
                fence.generation,
                fence.checksum,
                index=index,
                total=total,
                changes=len(changes),
                change_id=info.id,
            )
        self.checkpoint("batch.after", **ctx, total=total)
        return info

    def _judge_rejection(self, run: _Run, batch: list[Change], new: RecordSet, exc: SafeguardsError) -> None:
        """Route 53 decided, or we do not know what it decided: only a fresh read tells. Returns
        when our batch is there (a lost response); raises otherwise."""
        zone = run.zone
        now = self._read(run.zone_id, zone)
        if now.fence_rrset == new:
            return
        unchanged = now.fence_rrset == run.expected and all(
            now.by_key.get(c.rrset.key) == c.rrset for c in batch if c.action == "DELETE"
        )
        if isinstance(exc, BatchRejected) and unchanged:
            # Nobody wrote in between, so the batch itself is what Route 53 refused.
            raise BatchInvalid(
                f"{zone}: Route 53 rejected a batch of generation {run.decision.fence.generation} "
                f"that no other writer caused; nothing of it was applied: {exc}"
            ) from exc
        if run.decision.action == "apply":
            d.check_fresh(run.decision.rules, now.fence)  # a newer generation live: stale, stop
        self._event(
            "batch.rejected",
            zone,
            run.decision.fence.generation,
            run.decision.fence.checksum,
            reason=str(exc),
            action=run.decision.action,
        )
        raise _Moved(str(exc)) from exc

    # ------------------------------------------------------------------ verification and restore

    def _verify(self, run: _Run, label: str, groups: list[ChangeGroup], ids: list[str]) -> None:
        decision = run.decision
        plan = decision.rules
        try:
            if self.options.wait_insync and ids:
                self._wait_insync(run, ids[-1])
            after = self._read_settled(run)
            problems = _read_back(groups, after)
            if decision.action == "apply":
                expected = [
                    c.rrset for g in groups for c in g.changes if c.action == "CREATE" and not is_reserved(c.rrset.name)
                ]
                for verifier in self.options.verifiers:
                    problems += [f"{verifier.name}: {p}" for p in verifier.verify(plan.zone, expected)]
        except Superseded:
            raise
        except BackendError as exc:
            problems = [f"could not verify: {exc}"]
        if not problems:
            self.checkpoint(
                "stage.verified",
                enactor=self.enactor_id,
                zone=plan.zone,
                generation=decision.fence.generation,
                stage=label,
            )
            return
        self._event(
            "stage.failed",
            plan.zone,
            decision.fence.generation,
            decision.fence.checksum,
            stage=label,
            problems=problems,
        )
        what = (
            f"{plan.zone} generation {decision.fence.generation}: stage '{label}' failed verification "
            f"({problems[0]}{f' and {len(problems) - 1} more' if len(problems) > 1 else ''})"
        )
        if decision.action != "apply":
            raise VerificationFailed(f"{what}; this {decision.action} was not undone", problems=problems)
        restored = self._restore(run, what)
        raise VerificationFailed(
            f"{what}; restored the previous content (verified), live as {restored.label()}", problems=problems
        )

    def _read_settled(self, run: _Run) -> ZoneView:
        """A read that shows at least the fence we last wrote. One lagging read (a replica behind
        our own accepted batch) is not evidence that the batch failed: read again, bounded. A
        fence that is not ours at or past our sequence means a newer writer owns the zone."""
        ours = run.last
        after = self._read(run.zone_id, run.zone)
        for attempt in range(self.options.settle_reads + 1):
            seen = after.fence
            if ours is None or (seen is not None and seen.seq >= ours.seq):
                break
            if attempt == self.options.settle_reads:
                break
            self._event("read.lagging", run.zone, ours.generation, ours.checksum, seen_seq=seen.seq if seen else None)
            self.clock.sleep(self.options.backoff.delay(attempt, self.rng))
            after = self._read(run.zone_id, run.zone)
        if (
            ours is not None
            and after.fence is not None
            and after.fence.seq >= ours.seq
            and after.fence_rrset != run.expected
        ):
            live = after.fence
            raise Superseded(
                f"{run.zone}: while generation {ours.label()} was being verified, {live.label()} was written by "
                f"{live.writer}; it owns the zone now, nothing of ours is restored or written",
                ours=ours.generation,
                live=live.generation,
            )
        return after

    def _restore(self, run: _Run, what: str) -> Fence:
        """Put back exactly what the failed decision's stages changed, as the basis read held it,
        chained on the fence we last wrote: if anyone wrote after us, they own the zone (stop)."""
        failed = run.decision
        assert run.last is not None
        touched = [c.rrset.key for c in run.written]
        try:
            now = self._read_settled(run)
            groups = d.restore_groups(failed.basis, now, touched)
            fence = d.restored_fence(run.last, failed.basis.fence, self.enactor_id)
            done = failed.basis.fence.done if failed.basis.fence else False
            decision = d.Decision("restore", now, failed.rules, replace(fence, seq=run.last.seq), groups, complete=done)
            self._event("rollback.start", run.zone, fence.generation, fence.checksum, failed=failed.fence.generation)
            self.checkpoint("restore.before", enactor=self.enactor_id, zone=run.zone, generation=fence.generation)
            restore = _Run(decision, run.zone_id, run.lease, run.expected)
            restore.result = ApplyResult(run.zone, fence.generation, fence.checksum, "rolled-back")
            batches = self._batches(groups, restore.expected)
            for i, batch in enumerate(batches, start=1):
                self._submit(restore, [c for g in batch for c in g.changes], i, len(batches))
            after = self._read_settled(restore)
            wrong = [
                k
                for k in touched
                if k in {c.rrset.key for g in groups for c in g.changes}
                and after.by_key.get(k) != failed.basis.by_key.get(k)
            ]
            if wrong:
                raise RestoreIncomplete(
                    f"{what}; the restore did not read back ({len(wrong)} set(s) differ, first {wrong[0][0]} "
                    f"{wrong[0][1]}); live: {after.fence.label() if after.fence else 'no fence'}"
                )
            assert restore.last is not None
            return restore.last
        except (Superseded, RestoreIncomplete):
            raise
        except _Moved as exc:
            raise self._superseded(run, what, str(exc)) from None
        except SafeguardsError as exc:
            live = self._live_label(run)
            raise RestoreIncomplete(f"{what}; the restore failed ({exc}); live: {live}") from exc

    def _superseded(self, run: _Run, what: str, reason: str) -> SafeguardsError:
        view = self._read(run.zone_id, run.zone)
        live = view.fence
        if live is None:
            return RestoreIncomplete(f"{what}; the restore lost its compare-and-set ({reason}) and no fence is live")
        return Superseded(
            f"{what}; {live.label()} was written by {live.writer} meanwhile: it owns the zone, nothing restored",
            ours=run.decision.fence.generation,
            live=live.generation,
        )

    def _live_label(self, run: _Run) -> str:
        try:
            view = self._read(run.zone_id, run.zone)
        except SafeguardsError as exc:
            return f"unknown (cannot read the zone: {exc})"
        return view.fence.label() if view.fence else "no fence"

    def _wait_insync(self, run: _Run, change_id: str) -> None:
        deadline = self.clock.now() + self.options.insync_timeout
        attempt = 0
        while True:
            info = self._call(lambda: self.backend.get_change(change_id), run.decision.fence)
            if info.status == "INSYNC":
                return
            if self.clock.now() >= deadline:
                raise BackendError(
                    f"{run.zone}: change {change_id} still {info.status} after {self.options.insync_timeout:.0f} s"
                )
            # The lease stays short: renewed while we wait, so a crash is taken over quickly.
            self._renew(run.lease, run.decision.rules, "while waiting for INSYNC")
            # Full jitter, with a floor so a PENDING change is not polled in a tight loop.
            self.clock.sleep(max(0.5, self.options.insync_backoff.delay(attempt, self.rng)))
            attempt += 1

    # ------------------------------------------------------------------ leases, store, circuit

    def _counted(self, zone: str, body: Callable[[], T]) -> T:
        """Run `body`; count guard refusals, failed gates and backend failures toward the circuit."""
        try:
            result = body()
        except StaleGeneration:
            raise
        except (GuardRefused, VerificationFailed, RestoreIncomplete, BackendError) as exc:
            try:
                st = self.store.record_failure(zone, str(exc), threshold=self.options.circuit_threshold)
            except SafeguardsError as store_exc:
                # The store may be down with everything else: the original error is the one to report.
                self._event("circuit.unrecorded", zone, 0, "", reason=str(store_exc))
                raise exc from None
            if st.circuit_open:
                self._event("circuit.open", zone, 0, "", reason=str(exc))
            raise
        self.store.record_success(zone)
        return result

    def _leased(self, zone: str, body: Callable[[Lease], T]) -> T:
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
            except LeaseLost:
                if self.clock.now() >= deadline:
                    raise
                self.clock.sleep(self.options.backoff.delay(min(attempt, 6), self.rng) + 0.05)
                attempt += 1

    def _renew(self, lease: Lease, plan: Plan, where: str) -> None:
        """Extend our lease; if another enactor held it in between, stop (and give back the one
        the renewal just took, so nobody waits out its TTL)."""
        if not self.options.use_lease:
            return
        renewed = self.store.acquire_lease(lease.zone, self.enactor_id, self.options.lease_ttl)
        if renewed.epoch != lease.epoch:
            with contextlib.suppress(SafeguardsError):
                self.store.release_lease(renewed)
            raise LeaseLost(
                f"{lease.zone}: lease lost while applying generation {plan.generation} (epoch {lease.epoch} "
                f"became {renewed.epoch}); stopping {where}"
            )

    def _store_plan(self, plan: Plan) -> None:
        # Stored only once the guards passed, so a refused plan does not burn its generation.
        try:
            self.store.put_plan(plan)
        except InvalidInput as exc:
            # Another writer holds this generation number with other content: ours lost the race.
            raise StaleGeneration(str(exc), ours=plan.generation, live=plan.generation) from exc

    def _stored(self, zone: str, generation: int, *, checksum: str | None = None) -> Plan | None:
        """A stored plan, verified: its content must match the checksum stored with it (and the
        fence's, when given) and obey every rule a plan file must. Altered plans are refused."""
        plan = self.store.get_plan(zone, generation)
        if plan is None:
            return None
        if plan.declared_checksum and plan.declared_checksum != plan.checksum:
            raise PlanIntegrityError(
                f"{zone}: stored generation {generation} does not match its checksum (stored "
                f"{plan.declared_checksum[:12]}…, content {plan.checksum[:12]}…): it was altered; refusing to use it"
            )
        if checksum is not None and checksum != plan.checksum:
            raise PlanIntegrityError(
                f"{zone}: stored generation {generation} is not the content the fence names (fence "
                f"{checksum[:12]}…, stored {plan.checksum[:12]}…); refusing to use it"
            )
        ensure_valid(plan)
        if self.options.signer is not None:
            verify_plan(plan, self.options.signer, where="plan store")
        return plan

    def _record(self, plan: Plan, lease: Lease) -> None:
        if self.options.use_lease:
            self.store.record_applied(plan.zone, plan.generation, plan.checksum, lease, known_good=True)
        self.checkpoint("store.recorded", enactor=self.enactor_id, zone=plan.zone, generation=plan.generation)

    def _noop(self, decision: d.Decision, lease: Lease | None = None) -> ApplyResult:
        plan, fence = decision.rules, decision.fence
        self._event(f"{decision.action}.noop", plan.zone, fence.generation, fence.checksum)
        if decision.action == "apply" and lease is not None:
            self._record(plan, lease)
        live = decision.basis.fence
        return ApplyResult(
            plan.zone,
            live.generation if live else fence.generation,
            live.checksum if live else fence.checksum,
            "noop",
            decision.diff,
            revision=live.rev if live else 0,
        )

    def _check_circuit(self, zone: str) -> None:
        st = self.store.state(zone)
        if st.circuit_open:
            raise CircuitOpen(
                f"{zone}: circuit open after {st.consecutive_failures} consecutive failures "
                f"(last: {st.circuit_reason}); run 'dns-safeguards reset --zone {zone}' once resolved"
            )

    def _admit(self, plan: Plan) -> None:
        """A plan built in code obeys every rule a plan file must, and its owner can be fenced."""
        ensure_valid(plan)
        check_token("owner", plan.owner)
        if self.options.signer is not None:
            verify_plan(plan, self.options.signer)

    def _prepare_gates(self) -> None:
        """Gates are checked before the first write: a gate that cannot run is bad input."""
        for verifier in self.options.verifiers:
            prepare = getattr(verifier, "prepare", None)
            if prepare is not None:
                prepare()

    # ------------------------------------------------------------------ I/O helpers

    def _read(self, zone_id: str, zone: str) -> ZoneView:
        return ZoneView.of(zone, self._call(lambda: self.backend.list_record_sets(zone_id), None))

    def _zone_id(self, zone: str, *, create: bool = False) -> str:
        return self._call(lambda: self.backend.resolve_zone(zone, create=create), None)

    def _call(self, fn: Callable[[], T], fence: Fence | None) -> T:
        return call_with_retries(
            fn,
            backoff=self.options.backoff,
            clock=self.clock,
            rng=self.rng,
            on_retry=lambda n, exc, wait: self._event(
                "retry",
                "",
                fence.generation if fence else 0,
                fence.checksum if fence else "",
                attempt=n,
                error=type(exc).__name__,
                wait=wait,
            ),
        )

    def _event(self, event: str, zone: str, generation: int, checksum: str, **fields: Any) -> None:
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


def _read_back(groups: list[ChangeGroup], after: ZoneView) -> list[str]:
    problems = []
    for g in groups:
        for c in g.changes:
            got = after.by_key.get(c.rrset.key)
            if c.action == "CREATE" and got != c.rrset:
                seen = list(got.values) if got else "missing"
                problems.append(f"read-back: {c.rrset.name} {c.rrset.type} is {seen}, expected {list(c.rrset.values)}")
            elif (
                c.action == "DELETE"
                and got == c.rrset
                and not any(x.action == "CREATE" and x.rrset.key == c.rrset.key for x in g.changes)
            ):
                problems.append(f"read-back: {c.rrset.name} {c.rrset.type} is still there, expected it deleted")
    return problems
