"""Carrying a decision out: stages → batches → compare-and-set writes → verification, and the
restore after a failed gate.

The first batch DELETEs the fence the decision read (`Decision.basis`), every later batch the fence
the previous one wrote, so the whole chain rests on the decision's read. A rejected batch is judged
from a fresh read: our own batch there (a lost response) → go on; nothing moved → the batch itself
is invalid (`BatchInvalid`); anything else → `Moved`, and the caller decides again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import decisions as d
from .diff import ChangeGroup, batch_groups
from .errors import (
    BackendError,
    BatchInvalid,
    BatchRejected,
    OutcomeUnknown,
    RestoreIncomplete,
    SafeguardsError,
    Superseded,
    VerificationFailed,
)
from .fence import Fence, ZoneView, cas_batch, fence_record_name, fence_reserve
from .leases import LeaseKeeper
from .planstore import Lease
from .ports import Ports
from .records import Change, ChangeInfo, RecordSet, is_reserved
from .results import ApplyResult, Outcome
from .retry import FullJitter, RetryPolicy, stop_after_attempt, stop_after_delay
from .staging import plan_stages

if TYPE_CHECKING:
    from .applier import ApplyOptions

_OUTCOMES: dict[str, Outcome] = {"apply": "applied", "repair": "repaired", "rollback": "rolled-back"}


class Moved(Exception):
    """The zone moved after the decision (our batch lost its compare-and-set): decide again."""


@dataclass
class Run:
    """One decision being carried out: what it rests on, what the next batch DELETEs, what was
    written so far (a restore puts exactly that back)."""

    decision: d.Decision
    zone_id: str
    lease: Lease
    expected: RecordSet | None  # the fence the next batch DELETEs
    result: ApplyResult
    last: Fence | None = None  # the fence our last accepted batch wrote
    written: list[Change] = field(default_factory=list)

    @property
    def zone(self) -> str:
        return self.decision.rules.zone

    @property
    def owner(self) -> str:
        return self.decision.basis.owner


class ChainWriter:
    """Writes decisions as chains of compare-and-set batches, verifies them, restores on failure."""

    def __init__(self, ports: Ports, leases: LeaseKeeper) -> None:
        self.ports = ports
        self.leases = leases
        # The read-back and INSYNC policies and the options they were built from: immutable and
        # stateless, so built once per options object rather than once per stage.
        self._policies: tuple[ApplyOptions, RetryPolicy, RetryPolicy] | None = None

    def _policy(self, insync: bool) -> RetryPolicy:
        """The policy of the read-back (`insync` False: a lagging read is read again, bounded) or
        of the INSYNC wait, for the options in force now."""
        opts = self.ports.options
        cached = self._policies
        if cached is None or cached[0] is not opts:
            b, i = opts.backoff, opts.insync_backoff
            settle = RetryPolicy(stop=stop_after_attempt(opts.settle_reads + 1), wait=FullJitter(b.base, b.cap))
            # Full jitter, with a floor so a PENDING change is not polled in a tight loop.
            wait = RetryPolicy(stop=stop_after_delay(opts.insync_timeout), wait=FullJitter(i.base, i.cap, floor=0.5))
            cached = self._policies = (opts, settle, wait)
        return cached[2] if insync else cached[1]

    def carry_out(self, decision: d.Decision, zone_id: str, lease: Lease) -> ApplyResult:
        """Write `decision` stage by stage, verifying each; raises `Moved` if the zone moved
        under it, VerificationFailed (after a verified restore), Superseded or RestoreIncomplete."""
        plan, fence = decision.rules, decision.fence
        outcome = "resumed" if decision.resumed else _OUTCOMES.get(decision.action, "applied")
        result = ApplyResult(plan.zone, fence.generation, fence.checksum, outcome, decision.diff, revision=fence.rev)
        run = Run(decision, zone_id, lease, decision.basis.fence_rrset, result)
        governed = d.governed(plan, decision.basis)
        stages = plan_stages(decision.groups, set(plan.canary), governed, self.ports.options.weight_step)
        stages = stages or [("fence", [])]
        batches = [self._batches(groups, run.expected, decision.basis.displaced) for _, groups in stages]
        total, index = sum(len(b) for b in batches), 0
        for (label, groups), stage_batches in zip(stages, batches, strict=True):
            ids: list[str] = []
            for batch in stage_batches:
                index += 1
                info = self._submit(run, [c for g in batch for c in g.changes], index, total)
                if info is not None:
                    ids.append(info.id)
            if groups:
                self._verify(run, label, groups, ids)
        return result

    # ------------------------------------------------------------------ writing

    @staticmethod
    def _batches(
        groups: list[ChangeGroup], expected: RecordSet | None, displaced: RecordSet | None = None
    ) -> list[list[ChangeGroup]]:
        # The fence's DELETE (as read) and CREATE ride in every batch: reserve their records (and
        # room to move another owner's first-version fence, when one sits at our name).
        extra = 2 * len(displaced.values) if displaced is not None else 0
        return batch_groups(groups, reserve_records=fence_reserve(expected) + extra, reserve_chars=4 * 600) or [[]]

    def _submit(self, run: Run, changes: list[Change], index: int, total: int) -> ChangeInfo | None:
        """One compare-and-set batch of the chain that carries `run`'s decision out."""
        p, decision = self.ports, run.decision
        fence = (run.last or decision.fence).successor(p.enactor, done=index == total and decision.complete)
        new = fence.render(run.zone)
        # Only the chain's first batch can meet another owner's first-version fence at our name.
        displaced = decision.basis.displaced if run.last is None else None
        batch = cas_batch(run.expected, new, changes, displaced)
        self.leases.renew(run.lease, fence.generation, f"before batch {index}/{total}")
        # A pause here (after the renewal, before the write) is the 2025 stall: only Route 53's
        # check of the fence inside the batch can catch it.
        p.events("batch.before", run.zone, fence.generation, index=index, total=total, action=decision.action)
        comment = f"dns-safeguards gen={fence.generation}.{fence.rev} batch={index}/{total} by={p.enactor}"
        info: ChangeInfo | None = None
        try:
            info = p.call(lambda: p.backend.change_record_sets(run.zone_id, batch, comment), run.zone)
        except (BatchRejected, OutcomeUnknown) as exc:
            self._judge_rejection(run, batch, new, exc)
            p.events("batch.already-applied", run.zone, fence.generation, fence.checksum, index=index)
        run.expected, run.last = new, fence
        run.written += changes
        run.result.batches += 1
        if info is not None:
            run.result.change_ids.append(info.id)
            p.events("batch.applied", run.zone, fence.generation, fence.checksum, index=index, total=total,
                     changes=len(changes), change_id=info.id)  # fmt: skip
        p.events("batch.after", run.zone, fence.generation, index=index, total=total)
        return info

    def _judge_rejection(self, run: Run, batch: list[Change], new: RecordSet, exc: SafeguardsError) -> None:
        """Route 53 decided, or we do not know what it decided: only a fresh read tells. Returns
        when our batch is there (a lost response); raises otherwise."""
        now = self.ports.read(run.zone_id, run.zone, run.owner)
        if now.fence_rrset == new:
            return
        untouched = now.fence_rrset == run.expected and all(
            now.by_key.get(c.rrset.key) == c.rrset for c in batch if c.action == "DELETE"
        )
        if isinstance(exc, BatchRejected) and untouched and self._unmoved(run, batch):
            # Nobody wrote in between, so the batch itself is what Route 53 refused.
            raise BatchInvalid(
                f"{run.zone}: Route 53 rejected a batch of generation {run.decision.fence.generation} that no other "
                f"writer caused; nothing of it was applied: {exc}"
            ) from exc
        if run.decision.action == "apply":
            d.check_fresh(run.decision.rules, now.fence)  # a newer generation live: stale, stop
        self.ports.events("batch.rejected", run.zone, run.decision.fence.generation, reason=str(exc))
        raise Moved(str(exc)) from exc

    def _unmoved(self, run: Run, batch: list[Change]) -> bool:
        """Whether the fence and every set our rejected batch DELETEs are still as it expected,
        asked of Route 53 itself: a read may lag (a stale replica shows the old fence, or a set an
        outside writer already changed), a compare-and-set cannot. The probe DELETEs each of them
        exactly and CREATEs it again unchanged: accepted, nobody wrote and the zone is
        byte-identical, so the rejected batch was invalid on its own; rejected, the zone moved."""
        p = self.ports
        if run.expected is None:  # no fence (or not ours) to compare: a read must agree
            return p.read(run.zone_id, run.zone, run.owner).fence_rrset is None
        deleted = [c.rrset for c in batch if c.action == "DELETE"]
        probe = [Change("DELETE", r) for r in deleted] + [Change("CREATE", r) for r in deleted]
        try:
            p.call(lambda: p.backend.change_record_sets(run.zone_id, probe, "dns-safeguards probe"), run.zone)
        except BatchRejected:
            return False
        except OutcomeUnknown:
            now = p.read(run.zone_id, run.zone, run.owner)
            return all(now.by_key.get(r.key) == r for r in deleted)
        return True

    # ------------------------------------------------------------------ verifying

    def _verify(self, run: Run, label: str, groups: list[ChangeGroup], ids: list[str]) -> None:
        p, decision = self.ports, run.decision
        zone, gen = run.zone, decision.fence.generation
        try:
            # Read back only the stage's names (and their markers, listed beside them), as soon as
            # the batches are accepted: Route 53's API shows an accepted change at once, INSYNC is
            # its propagation to the name servers, which only the gates below need.
            problems = _read_back(groups, self._read_settled(run, _names(groups)), run.owner, decision.basis)
            if p.options.wait_insync and ids:
                self._wait_insync(run, ids[-1])
            if decision.action == "apply":
                expected = [
                    c.rrset for g in groups for c in g.changes if c.action == "CREATE" and not is_reserved(c.rrset.name)
                ]
                for verifier in p.options.verifiers:
                    problems += [f"{verifier.name}: {x}" for x in verifier.verify(zone, expected)]
        except Superseded:
            raise
        except BackendError as exc:
            problems = [f"could not verify: {exc}"]
        if not problems:
            p.events("stage.verified", zone, gen, stage=label)
            return
        p.events("stage.failed", zone, gen, decision.fence.checksum, stage=label, problems=problems)
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        what = f"{zone} generation {gen}: stage '{label}' failed verification ({problems[0]}{more})"
        if decision.action != "apply":
            raise VerificationFailed(f"{what}; this {decision.action} was not undone", problems=problems)
        restored = self._restore(run, what)
        raise VerificationFailed(
            f"{what}; restored the previous content (verified), live as {restored.label()}", problems=problems
        )

    def _read_settled(self, run: Run, names: set[str]) -> ZoneView:
        """A read of our fence and of `names` (ranged: `Ports.read_names`) that shows at least the
        fence we last wrote. One lagging read (a replica behind our own accepted batch) is not
        evidence that the batch failed: read again, bounded. A fence that is not ours at or past
        our sequence means a newer writer owns the zone."""
        p, ours = self.ports, run.last
        names = names | {fence_record_name(run.zone, run.owner)}
        policy = self._policy(insync=False)

        def settled(view: ZoneView) -> bool:
            seen = view.fence
            if ours is None or (seen is not None and seen.seq >= ours.seq):
                return True
            p.events("read.lagging", run.zone, ours.generation, ours.checksum, seen_seq=seen.seq if seen else None)
            return False

        after, _ = policy.poll(lambda: p.read_names(run.zone_id, run.zone, names, run.owner), settled, clock=p.clock,
                               rng=p.rng)  # fmt: skip
        live = after.fence
        if ours is not None and live is not None and live.seq >= ours.seq and after.fence_rrset != run.expected:
            raise Superseded(
                f"{run.zone}: while generation {ours.label()} was being verified, {live.label()} was written by "
                f"{live.writer}; it owns the zone now, nothing of ours is restored or written",
                ours=ours.generation,
                live=live.generation,
            )
        return after

    def _wait_insync(self, run: Run, change_id: str) -> None:
        p = self.ports
        policy = self._policy(insync=True)

        def insync(info: ChangeInfo) -> bool:
            if info.status == "INSYNC":
                return True
            # The lease stays short: renewed while we wait, so a crash is taken over quickly.
            self.leases.renew(run.lease, run.decision.fence.generation, "while waiting for INSYNC")
            return False

        info, done = policy.poll(lambda: p.call(lambda: p.backend.get_change(change_id)), insync, clock=p.clock,
                                 rng=p.rng)  # fmt: skip
        if not done:
            raise BackendError(
                f"{run.zone}: change {change_id} still {info.status} after {p.options.insync_timeout:.0f} s"
            )

    # ------------------------------------------------------------------ restoring

    def _restore(self, run: Run, what: str) -> Fence:
        """Put back exactly what the failed decision's stages changed, as the basis read held it,
        chained on the fence we last wrote: if anyone wrote after us, they own the zone (stop)."""
        p, failed = self.ports, run.decision
        assert run.last is not None
        touched = [c.rrset.key for c in run.written]
        try:
            now = self._read_settled(run, {k[0] for k in touched})
            groups = d.restore_groups(failed.basis, now, touched)
            fence = d.restored_fence(run.last, failed.basis.fence, p.enactor)
            complete = failed.basis.fence.done if failed.basis.fence else False
            decision = d.Decision("restore", now, failed.rules, fence, groups, complete=complete)
            p.events("restore.before", run.zone, fence.generation, fence.checksum, failed=failed.fence.generation)
            result = ApplyResult(run.zone, fence.generation, fence.checksum, "rolled-back")
            restore = Run(decision, run.zone_id, run.lease, run.expected, result)
            batches = self._batches(groups, restore.expected)
            for i, batch in enumerate(batches, start=1):
                self._submit(restore, [c for g in batch for c in g.changes], i, len(batches))
            restored = {c.rrset.key for g in groups for c in g.changes}
            after = self._read_settled(restore, {k[0] for k in restored})
            wrong = [k for k in restored if after.by_key.get(k) != failed.basis.by_key.get(k)]
            if wrong:
                live = after.fence.label() if after.fence else "no fence"
                raise RestoreIncomplete(
                    f"{what}; the restore did not read back ({len(wrong)} set(s) differ, first {wrong[0][0]} "
                    f"{wrong[0][1]}); live: {live}"
                )
            assert restore.last is not None
            return restore.last
        except (Superseded, RestoreIncomplete):
            raise
        except Moved as exc:
            raise self._superseded(run, what, str(exc)) from None
        except SafeguardsError as exc:
            raise RestoreIncomplete(f"{what}; the restore failed ({exc}); live: {self._live_label(run)}") from exc

    def _superseded(self, run: Run, what: str, reason: str) -> SafeguardsError:
        live = self.ports.read(run.zone_id, run.zone, run.owner).fence
        if live is None:
            return RestoreIncomplete(f"{what}; the restore lost its compare-and-set ({reason}) and no fence is live")
        return Superseded(
            f"{what}; {live.label()} was written by {live.writer} meanwhile: it owns the zone, nothing restored",
            ours=run.decision.fence.generation,
            live=live.generation,
        )

    def _live_label(self, run: Run) -> str:
        try:
            view = self.ports.read(run.zone_id, run.zone, run.owner)
        except SafeguardsError as exc:
            return f"unknown (cannot read the zone: {exc})"
        return view.fence.label() if view.fence else "no fence"


def _names(groups: list[ChangeGroup]) -> set[str]:
    """The names a stage changed (markers are read with their names)."""
    return {c.rrset.name for g in groups for c in g.changes}


def _read_back(groups: list[ChangeGroup], after: ZoneView, owner: str, basis: ZoneView) -> list[str]:
    """What the read-back shows that the stage did not write: a set not as created, a set not
    deleted, and a name we wrote, ours by the decision's basis or by a marker this stage
    CREATEd, whose ownership marker does not name us now (another owner or a person took it, or
    released it, around our write: the restore puts the name back)."""
    problems = []
    for g in groups:
        created = {c.rrset.key for c in g.changes if c.action == "CREATE"}
        ours = basis.owners.get(g.name) == owner or any(is_reserved(c.rrset.name) for c in g.changes
                                                         if c.action == "CREATE")  # fmt: skip
        if ours and any(c.action == "CREATE" and not is_reserved(c.rrset.name) for c in g.changes):
            marked = after.owners.get(g.name)
            if marked != owner:
                problems.append(f"read-back: {g.name} is marked as {marked or 'nobody'}'s, not {owner}'s")
        for c in g.changes:
            got = after.by_key.get(c.rrset.key)
            if c.action == "CREATE" and got != c.rrset:
                seen = list(got.values) if got else "missing"
                problems.append(f"read-back: {c.rrset.name} {c.rrset.type} is {seen}, expected {list(c.rrset.values)}")
            elif c.action == "DELETE" and got == c.rrset and c.rrset.key not in created:
                problems.append(f"read-back: {c.rrset.name} {c.rrset.type} is still there, expected it deleted")
    return problems
