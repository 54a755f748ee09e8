"""Deciding what to write: each operation's decision from one read of the zone, the guards'
verdict on it, and the admission of plans and gates before anything is written.

The pure parts (fences, diffs, restores) live in `decisions`; this module adds what a decision
needs from the plan store (verified stored plans, pins) and the guards configured for the enactor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from . import decisions as d
from .bookkeeping import Bookkeeping
from .diff import Diff, compute_diff
from .errors import GuardRefused, InvalidInput, SafeguardsError
from .fence import Fence, ZoneView, check_token, fence_record_name, marker, parse_fence
from .guards import DEFAULT_GUARDS, Guard, GuardContext, Verdict, judge
from .plan import Plan, ensure_valid
from .planstore import scope
from .ports import Ports, view_of
from .records import RecordKey, RecordSet, owner_name
from .signing import verify_plan


class Deciders:
    """Turns reads into decisions for one enactor."""

    def __init__(self, ports: Ports, books: Bookkeeping) -> None:
        self.ports = ports
        self.books = books

    def apply(self, plan: Plan, view: ZoneView, *, force: bool, adopt: bool) -> d.Decision:
        p = self.ports
        resumed = d.check_fresh(plan, view.fence)
        live = view.fence
        p.events("fence.checked", plan.zone, plan.generation, live=live.generation if live else None)
        observed, diff = d.plan_diff(plan, view)
        self.judge(plan, observed, view, diff, force=force, adopt=adopt)
        rev = live.rev if resumed and live else 0
        fence = Fence(plan.generation, plan.checksum, plan.owner, p.enactor, live.seq if live else 0, False, rev)
        return d.Decision("apply", view, plan, fence, d.with_markers(plan, view, diff.groups), diff, resumed=resumed)

    def apply_basis(self, zone_id: str, plan: Plan, *, adopt: bool) -> ZoneView:
        """The read an apply decides on. When this owner's fence, read now, is the finished write
        of an earlier generation of ours (done, revision 0, its own content) and the plan store
        holds that plan under the fence's checksum, the names that plan holds and this plan changes
        or retires are ours with its content, as our verified write left them: they are not read.
        The fence, the names the plan adds (their sets and markers: the ownership guard decides on
        them) and the names it keeps unchanged (drift there is seen and converged) are read.
        Every write then rests on this basis: the fence's compare-and-set, and each changed set
        DELETEd exactly as the basis holds it, so content moved since fails the batch and the
        apply decides again on a whole read. Anything else (no fence, a resume, a repair or
        rollback live, an adoption): the whole zone is read, as before."""
        p = self.ports
        if not adopt:
            basis = self._fenced_basis(zone_id, plan)
            if basis is not None:
                p.events("basis.read", plan.zone, plan.generation, basis="fence+new-names", sets=len(basis.sets))
                return basis
        return p.read(zone_id, plan.zone, plan.owner)

    def _fenced_basis(self, zone_id: str, plan: Plan) -> ZoneView | None:
        p, zone, owner = self.ports, plan.zone, plan.owner
        name = fence_record_name(zone, owner)
        at_fence = p.read_names(zone_id, zone, [name], owner)
        rrset = at_fence.by_key.get((name, "TXT", None))
        # The view parsed its own fence set already: the same object parses to the same fence.
        live = at_fence.fence if rrset is not None and rrset is at_fence.fence_rrset else parse_fence(rrset)
        if rrset is None or live is None or live.owner != owner or not live.done or live.rev or live.source:
            return None
        if live.generation >= plan.generation:
            return None  # stale or a resume: decided on a whole read
        try:
            known = self.books.stored(scope(zone, owner), live.generation, checksum=live.checksum)
        except SafeguardsError:
            return None  # the whole read's decision raises it, as before
        if known is None or known.owner != owner:
            return None
        held = {r.name for r in known.records}
        # Names the plan keeps exactly as the live plan holds them are read too: no write of
        # theirs would notice drift (a set a person emptied or changed), and an apply converges
        # the zone to its plan (never-empty needs their live state, as `repair` does).
        unchanged = _same_sets(known.records, plan.records) & held
        to_read = sorted((plan.managed_names() - held) | unchanged)
        read = p.read_names(zone_id, zone, to_read, owner) if to_read else ZoneView.empty(zone, owner)
        wanted = set(to_read) | {owner_name(n) for n in to_read}
        ours = held - unchanged
        sets = [rrset, *(r for r in known.records if r.name in ours), *(marker(n, owner) for n in sorted(ours))]
        sets += [r for r in read.sets if r.name in wanted]
        return view_of(zone, sets, owner)

    def repair(self, zone: str, view: ZoneView, *, force: bool, drift: bool = False) -> d.Decision:
        p, live, key = self.ports, view.fence, scope(zone, view.owner)
        if live is not None:
            source = self.books.stored(key, live.content, checksum=live.checksum)
        else:
            st = p.store.state(key)
            gens = (g for g in (st.last_known_good, st.applied_generation) if g)
            source = next((plan for g in gens if (plan := self.books.stored(key, g)) is not None), None)
        if source is None:
            raise InvalidInput(f"{zone}: no live or last known good plan in the store to repair from")
        broken = d.repair_targets(source, view, drift=drift)
        part = d.restrict(source, broken)
        diff = compute_diff(part.records, view.governed(part.managed_names()), ())
        if live is not None:
            fence = d.next_revision(live, source, p.enactor)
        else:
            fence = Fence(source.generation, source.checksum, source.owner, p.enactor, 0, False)
        decision = d.Decision("repair", view, part, fence, [], diff)
        if broken:
            # Judged on everything the live plan governs, under the live plan's own rules.
            self.judge(source, d.governed(source, view), view, diff, force=force, adopt=False)
            decision = replace(decision, groups=d.with_markers(part, view, diff.groups))
        p.events("decided", zone, fence.generation, source.checksum, action="repair", broken=len(broken),
                 seq=live.seq if live else None)  # fmt: skip
        return decision

    def rollback_target(self, view: ZoneView, to: int | None) -> int:
        """The plan a rollback restores: `to`, or the newest earlier stored plan that holds every
        name the owner has live. A target lacking a live name (a plan the guards refused, say)
        would leave that name as it is under a fence claiming the target's content: refused."""
        key = scope(view.zone, view.owner)
        first = d.rollback_target(view, self.ports.store.generations(key), to)
        live_names = {n for n in view.owned_by(view.owner) if view.governed([n])}
        if to is not None:
            target = self.books.stored(key, first)
            missing = sorted(live_names - (target.managed_names() if target else frozenset()))
            if target is not None and missing:
                problems = [f"{n}: live, but generation {to} neither holds nor retires it" for n in missing]
                raise GuardRefused(
                    f"refused by never-empty guard: {problems[0]}"
                    + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                    guard="never-empty",
                    problems=problems,
                )
            return first
        assert view.fence is not None
        for g in sorted((g for g in self.ports.store.generations(key) if g < view.fence.content), reverse=True):
            plan = self.books.stored(key, g)
            if plan is not None and live_names <= plan.managed_names():
                return g
        raise InvalidInput(f"{view.zone}: no earlier plan holds every live name; nothing to roll back to")

    def rollback(self, view: ZoneView, to: int, *, force: bool) -> d.Decision:
        p, live, zone = self.ports, view.fence, view.zone
        assert live is not None
        key = scope(zone, view.owner)
        target = self.books.stored(key, to)
        if target is None:
            raise InvalidInput(f"{zone}: generation {to} is not in the plan store")
        # The target's own names only: a name the target neither holds nor retires is left as it
        # is (a rollback never empties a name; a plan the guards refused may lack names it never
        # meant to remove). Retire such names with a new plan.
        content = d.as_content(target, live.generation, ())
        observed = view.governed(content.managed_names())
        diff = compute_diff(content.records, observed, content.retire)
        self.judge(content, observed, view, diff, force=force, adopt=False)
        # Pinned before the write: a clean-up decided on an older read can no longer delete it.
        if not p.store.pin_plan(key, to, live.generation):
            raise InvalidInput(f"{zone}: generation {to} is no longer in the plan store (cleaned up)")
        p.events("decided", zone, live.generation, target.checksum, action="rollback", to=to, seq=live.seq)
        fence = d.next_revision(live, target, p.enactor)
        return d.Decision("rollback", view, content, fence, d.with_markers(content, view, diff.groups), diff)

    def guards(self) -> tuple[Guard, ...]:
        return (*DEFAULT_GUARDS, *self.ports.options.extra_guards)

    def judge(
        self,
        plan: Plan,
        observed: Mapping[RecordKey, RecordSet],
        view: ZoneView,
        diff: Diff,
        *,
        force: bool,
        adopt: bool,
    ) -> None:
        self.verdict(plan, observed, view, diff, adopt=adopt).raise_if_refused(force=force)

    def admit(self, plan: Plan) -> None:
        """A plan built in code obeys every rule a plan file must, its owner can be fenced, and
        it is signed when this enactor requires signatures."""
        ensure_valid(plan)
        check_token("owner", plan.owner)
        if self.ports.options.signer is not None:
            verify_plan(plan, self.ports.options.signer)

    def prepare_gates(self) -> None:
        """Gates are checked before the first write: a gate that cannot run is bad input."""
        for verifier in self.ports.options.verifiers:
            prepare = getattr(verifier, "prepare", None)
            if prepare is not None:
                prepare()

    def verdict(
        self, plan: Plan, observed: Mapping[RecordKey, RecordSet], view: ZoneView, diff: Diff, *, adopt: bool
    ) -> Verdict:
        """Every guard's findings, none raised (what `plan` and `Preview` show)."""
        return judge(GuardContext(plan, observed, view.owners, diff, self.ports.options.guards, adopt), self.guards())


def _same_sets(old: Iterable[RecordSet], new: Iterable[RecordSet]) -> set[str]:
    """Names whose sets are exactly the same in both (every type and identifier, every field)."""
    by_name: dict[str, set[RecordSet]] = {}
    for r in old:
        by_name.setdefault(r.name, set()).add(r)
    wanted: dict[str, set[RecordSet]] = {}
    for r in new:
        wanted.setdefault(r.name, set()).add(r)
    return {n for n, sets in wanted.items() if by_name.get(n) == sets}
