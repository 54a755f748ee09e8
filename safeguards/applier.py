"""The safeguarded enactor: applies plans to Route 53 so that the 2025 race cannot happen.

Every write path reads top to bottom the same way (the stage's module in brackets):

    read the zone [ports] → decide [decisions] → guard [guards] → stage [staging]
      → write, a chain of compare-and-set batches [writer] → verify [writer] → record [bookkeeping]

and every decision carries the read it rests on into its first batch: the batch DELETEs the fence
record exactly as that read saw it, so Route 53 itself rejects a batch whose decision went stale
while the enactor waited (for the lease, a backoff, a stall). When the zone moved, the operation
reads again and decides again: an apply of an older generation is stale; a repair may find nothing
left to repair; a rollback decided while generation N was live, when N no longer is, is stale.

Repairs and rollbacks write under the live generation at revision + 1 (`decisions`): they never
take a generation the planner will use. A failed gate restores the previous content only with a
batch chained on the fence this enactor last wrote: if anyone wrote after us, they own the zone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from . import decisions as d
from .backend import Route53Backend
from .bookkeeping import Bookkeeping
from .checkpoints import NO_CHECKPOINTS, Checkpoint
from .clock import Clock, SystemClock
from .deciders import Deciders
from .errors import BackendError, InvalidInput, StaleGeneration, ZoneNotFound
from .events import Events
from .fence import ZoneView, check_token
from .guards import Guard, GuardOptions
from .leases import LeaseKeeper
from .plan import DEFAULT_OWNER, Plan
from .planstore import Lease, PlanStore, scope
from .ports import Ports
from .results import ApplyResult, Outcome, Preview, ZoneStatus
from .retry import Backoff
from .signing import Signer
from .verify import Verifier
from .writer import ChainWriter, Moved

__all__ = ["Applier", "ApplyOptions", "ApplyResult", "Outcome", "Preview", "ZoneStatus"]


@dataclass(frozen=True)
class ApplyOptions:
    """How the applier behaves; the defaults are the safe ones."""

    guards: GuardOptions = field(default_factory=GuardOptions)
    extra_guards: tuple[Guard, ...] = ()  # your own guards, judged after the default ones
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
    signer: Signer | None = None  # set: only plans signed with this key are applied or restored from


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
        events = Events(check_token("enactor id", enactor_id), checkpoint)
        opts, clock, rng = options or ApplyOptions(), clock or SystemClock(), rng or random.Random()
        self.ports = Ports(backend, store, opts, clock, rng, events)
        self.leases = LeaseKeeper(self.ports)
        self.books = Bookkeeping(self.ports)
        self.writer = ChainWriter(self.ports, self.leases)
        self.decide = Deciders(self.ports, self.books)

    # The seams, for callers that read or swap them (the CLI adds gates; benchmarks count calls).
    @property
    def options(self) -> ApplyOptions:
        return self.ports.options

    @options.setter
    def options(self, value: ApplyOptions) -> None:
        self.ports.options = value

    @property
    def store(self) -> PlanStore:
        return self.ports.store

    @property
    def backend(self) -> Route53Backend:
        return self.ports.backend

    @property
    def enactor_id(self) -> str:
        return self.ports.enactor

    # ------------------------------------------------------------------ public operations

    def apply(self, plan: Plan, *, dry_run: bool = False, force: bool = False, adopt: bool = False) -> ApplyResult:
        """Apply `plan`. Raises StaleGeneration, GuardRefused, VerificationFailed (after a verified
        restore), CircuitOpen, InvalidInput or a BackendError; on every one of them Route 53 holds
        what it held before (or, for a failure between batches, a prefix of whole names that any
        enactor's next apply or `repair` completes)."""
        p = self.ports
        p.events("apply.start", plan.zone, plan.generation, plan.checksum, dry_run=dry_run, force=force)
        self.decide.admit(plan)
        key = scope(plan.zone, plan.owner)
        self.books.check_circuit(key)
        if dry_run:
            preview = self.preview(plan, force=force, adopt=adopt)
            if preview.error:
                raise preview.error
            return ApplyResult(plan.zone, plan.generation, plan.checksum, "dry-run", preview.diff)
        self.decide.prepare_gates()

        adopted: dict[str, str | None] | None = None

        def decide(view: ZoneView) -> d.Decision:
            # An adoption is decided on who owned the names then: if another owner took one of
            # them since, this adoption is stale (two adoptions of one name: exactly one wins).
            nonlocal adopted
            if adopt:
                now = {n: view.owners.get(n) for n in plan.managed_names()}
                adopted = now if adopted is None else adopted
                d.check_adoption(plan, adopted, now)
            return self.decide.apply(plan, view, force=force, adopt=adopt)

        def fenced() -> ApplyResult:
            zone_id = p.zone_id(plan.zone, create=p.options.create_zone)
            with self.leases.held(key) as lease:
                p.events("plan.loaded", plan.zone, plan.generation)
                return self._settle(zone_id, lease, decide, self.decide.apply_basis(zone_id, plan, adopt=adopt))

        return self.books.counted(key, fenced)

    def preview(self, plan: Plan, *, force: bool = False, adopt: bool = False) -> Preview:
        """What `apply` would do, without writing anything anywhere: the diff, the live
        generation and every guard's verdict (none raised). A zone not created yet reads empty."""
        p = self.ports
        try:
            view = p.read(p.zone_id(plan.zone), plan.zone, plan.owner)
        except ZoneNotFound:
            view = ZoneView.empty(plan.zone, plan.owner)
        observed, diff = d.plan_diff(plan, view)
        stale = None
        try:
            d.check_fresh(plan, view.fence)
        except StaleGeneration as exc:
            stale = exc
        verdict = self.decide.verdict(plan, observed, view, diff, adopt=adopt)
        others = {n: o for n, o in sorted(view.owners.items()) if o != plan.owner}
        return Preview(plan, diff, view.fence, stale, verdict, force, others)

    def rollback(
        self, zone: str, *, to: int | None = None, owner: str = DEFAULT_OWNER, force: bool = False
    ) -> ApplyResult:
        """Make an earlier plan's content live again, under the live generation one revision up.
        Decided on one read: if the live generation changes before the write lands, nothing is
        written and StaleGeneration says what is live now."""
        p = self.ports
        key = scope(zone, owner)
        self.books.check_circuit(key)
        zone_id = p.zone_id(zone)
        first = p.read(zone_id, zone, owner)
        target = self.decide.rollback_target(first, to)
        decided = first.fence
        assert decided is not None  # rollback_target refuses a zone without one

        def decide(view: ZoneView) -> d.Decision:
            live = view.fence
            if live is None or (live.generation, live.content) != (decided.generation, decided.content):
                raise StaleGeneration(
                    f"{zone}: rollback to generation {target} was decided while {decided.label()} was live; "
                    f"{live.label() if live else 'nothing of ours'} is live now; nothing rolled back",
                    ours=decided.generation,
                    live=live.generation if live else 0,
                )
            return self.decide.rollback(view, target, force=force)

        decision = decide(first)
        result = self._leased_settle(key, zone_id, decide, first, decision)
        result.rolled_back_to = target
        return result

    def repair(
        self, zone: str, *, owner: str = DEFAULT_OWNER, force: bool = False, drift: bool = False
    ) -> ApplyResult:
        """Restore the live plan's content on every name below its minimum, and finish a
        generation left half-applied (the self-repair that failed in 2025); with `drift`, also on
        every set whose content is not the live plan's. Nothing to do (or nothing left once a
        newer write landed): outcome "noop". Repair overrides the circuit: restoring an empty
        endpoint is what a person would do."""
        p = self.ports
        zone_id = p.zone_id(zone)
        first = p.read(zone_id, zone, owner)

        def decide(view: ZoneView) -> d.Decision:
            return self.decide.repair(zone, view, force=force, drift=drift)

        decision = decide(first)
        if decision.empty:
            return _noop(decision)
        return self._leased_settle(scope(zone, owner), zone_id, decide, first, decision)

    def cleanup(self, zone: str, *, keep: int | None = None, owner: str = DEFAULT_OWNER) -> list[int]:
        """Delete old plans: older than the live generation minus `keep`, never the live one, the
        live content's plan or the last known good; each delete conditioned in the store on our
        lease and on the plan not having been pinned by a rollback since this decision."""
        p = self.ports
        keep = p.options.keep_plans if keep is None else keep
        if keep < 1:
            raise InvalidInput(f"{zone}: keep must be at least 1 (got {keep}); the live plan is always kept")
        live = p.read(p.zone_id(zone), zone, owner).fence
        if live is None:
            return []
        key = scope(zone, owner)
        state = p.store.state(key)
        protected = {live.generation, live.content, state.last_known_good, state.applied_generation}
        floor = live.generation - keep
        deleted: list[int] = []
        p.events("decided", zone, live.generation, action="cleanup")
        with self.leases.held(key) as lease:
            for g in p.store.generations(key):
                if g >= floor or g in protected:
                    continue
                p.events("cleanup.before", zone, g, live=live.generation)
                if p.store.delete_plan(key, g, lease, pinned_below=floor):
                    deleted.append(g)
                    p.events("cleanup.deleted", zone, g, live=live.generation)
                p.events("cleanup.after", zone, g)
        return deleted

    def status(self, zone: str, *, owner: str = DEFAULT_OWNER) -> ZoneStatus:
        """The zone's live generation (of `owner`), record sets, circuit state, and every owner's
        live generation and names."""
        p = self.ports
        view = p.read(p.zone_id(zone), zone, owner)
        return ZoneStatus(zone, view.fence, view.records(), p.store.state(scope(zone, owner)), owner, view.fences,
                          dict(view.owners))  # fmt: skip

    def reset_circuit(self, zone: str, *, owner: str = DEFAULT_OWNER) -> None:
        """Close an open circuit (a person looked at the failures)."""
        self.ports.store.reset_circuit(scope(zone, owner))
        self.ports.events("circuit.reset", zone, owner=owner)

    # ------------------------------------------------------------------ carrying decisions out

    def _leased_settle(
        self, zone: str, zone_id: str, decide: Callable[[ZoneView], d.Decision], view: ZoneView, decision: d.Decision
    ) -> ApplyResult:
        """A correction decided before taking the lease: the decision waits, its write does not
        trust the wait (its first batch DELETEs the fence the decision read)."""

        def fenced() -> ApplyResult:
            with self.leases.held(zone) as lease:
                return self._settle(zone_id, lease, decide, view, decision)

        return self.books.counted(zone, fenced)

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
        p = self.ports
        for attempt in range(p.options.max_cas_attempts):
            if decision is None:
                p.events("zone.read", view.zone, attempt=attempt)
                decision = decide(view)
            if decision.action == "apply":
                # Renewed first: a paused enactor must not put back a plan clean-up already removed.
                self.leases.renew(lease, decision.fence.generation, "before storing its plan")
                self.books.store(decision.rules)
            if decision.empty and _nothing_to_write(decision):
                p.events(f"{decision.action}.noop", view.zone, decision.fence.generation, decision.fence.checksum)
                if decision.action == "apply":
                    self.books.record(decision.rules, lease)
                return _noop(decision)
            try:
                result = self.writer.carry_out(decision, zone_id, lease)
            except Moved:
                p.events("cas.conflict", view.zone, decision.fence.generation, attempt=attempt, action=decision.action)
                view, decision = p.read(zone_id, view.zone, view.owner), None
                continue
            if decision.action == "apply":
                self.books.record(decision.rules, lease)
            return result
        raise BackendError(
            f"{view.zone}: gave up after {p.options.max_cas_attempts} compare-and-set conflicts with other "
            "writers (each time the zone moved after our read); nothing more was applied"
        )


def _nothing_to_write(decision: d.Decision) -> bool:
    """A correction with no changes writes nothing; an apply with no changes still records its
    generation in the fence, unless that generation is already live and complete."""
    live = decision.basis.fence
    return decision.action != "apply" or (live is not None and live.rank == decision.fence.rank and live.done)


def _noop(decision: d.Decision) -> ApplyResult:
    live, fence = decision.basis.fence, decision.fence
    shown = live or fence
    return ApplyResult(decision.rules.zone, shown.generation, shown.checksum, "noop", decision.diff, revision=shown.rev)
