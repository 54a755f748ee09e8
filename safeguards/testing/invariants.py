"""The race invariants (I1-I5 of the outage note), checked after every scheduler step and at
the end of a run.

- I1 never empty: every endpoint keeps at least its minimum number of values, from the moment
  it first had them (once the initial plan is live). Damage done outside the library (the
  world's vandal) lowers that endpoint's floor to what the vandal left until it is repaired:
  no library write may take it lower.
- I2 monotonic, and decisions bound to their read. Guarded worlds, on every step that changed
  the zone:
  - the fence's rank (generation, revision) never goes down, and the fence never disappears;
  - an endpoint's content generation (the plan its values come from) goes down only through a
    write whose new fence has the same generation as the fence it replaced and names that lower
    content as its content (a rollback or a failed gate's restore), never under a higher one;
  - a repair never changes the fence's generation or content;
  - a rollback writes only under the generation that was live when it decided (a rollback of
    "the previous of N" once N is no longer live is stale);
  - a repair's, rollback's or restore's write DELETEs the fence its decision read (the
    ``decided`` checkpoint's seq; for a restore, the fence its writer last wrote), or its own
    previous batch's fence: never a fence read after the decision.
  Naive worlds: each endpoint's live-plan pointer never goes down.
- I3 no live deletion: the plan store still holds the plans the live fence names (its
  generation and its content) and the last known good.
- I4 convergence: after the run, one round of a healthy enactor makes the newest (good) plan
  live on every endpoint; if that generation was rolled back or restored (the fence names
  older content under it), the content it names.
- I5 nothing lost on bad input: a rejected batch leaves the zone byte-identical (`snapshot()`),
  and a refused plan made no change at all.
- I6 bounded recovery, the cheap part: a fence that says its content is complete tells the
  truth (every endpoint holds the content it names), and an apply that ended with a failed gate
  (VerificationFailed) last wrote a restore naming the previous content.
- E: an actor died of an exception that is not one of the library's errors (a bug).

A `Violation` carries the step, the trace and the schedule up to it: print it, then replay the
schedule with `Scheduler(schedule=...)` to see it again. A condition that persists (an endpoint
empty for ten steps) is reported once, when it starts.
"""

from __future__ import annotations

import itertools
import operator
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..backends.strict import StrictRoute53
from ..errors import BatchRejected, SafeguardsError
from ..fence import Fence, find_fence, parse_fence
from ..plan import Plan
from ..records import Change, ChangeInfo, RecordSet
from ..stores.memory import MemoryPlanStore
from .scheduler import DONE, Aborted, Crash, Scheduler, TraceEntry

if TYPE_CHECKING:
    from .world import World

#: The plan-store objects the invariants read (see `world.STORE_ACCESS`); leases are not.
_STORE = frozenset({"plans", "state"})
_STORE_WRITTEN = frozenset((obj, "w") for obj in _STORE)
_ZONE_WRITTEN = ("zone", "w")

INVARIANTS: dict[str, str] = {
    "I1": "never empty",
    "I2": "monotonic",
    "I3": "no live deletion",
    "I4": "convergence",
    "I5": "nothing lost on bad input",
    "I6": "bounded recovery",
    "E": "unexpected error",
}


@dataclass(frozen=True)
class Violation:
    """One broken invariant, with what it takes to replay it."""

    invariant: str
    message: str
    step: int | None
    schedule: tuple[str, ...] = ()
    trace: tuple[TraceEntry, ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        return INVARIANTS.get(self.invariant, "")

    def __str__(self) -> str:
        where = "at the end" if self.step is None else "before the run" if self.step == 0 else f"at step {self.step}"
        return f"{self.invariant} ({self.name}) violated {where}: {self.message}"

    def replay_hint(self) -> str:
        """The schedule up to the violation, ready to paste into `Scheduler(schedule=...)`."""
        return f"schedule={list(self.schedule)!r}"

    def explain(self) -> str:
        """The violation, the trace that led to it and the schedule to replay it."""
        lines = [str(self), "trace:"]
        lines += [f"  {e}" for e in self.trace]
        lines.append(f"replay: {self.replay_hint()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "invariant": self.invariant,
            "name": self.name,
            "message": self.message,
            "step": self.step,
            "schedule": list(self.schedule),
            "trace": [e.to_dict() for e in self.trace],
        }


class InvariantChecker:
    """Checks I1-I5 on a `World`; attach it to a `Scheduler` to check after every step."""

    def __init__(self, world: World) -> None:
        self.world = world
        world.checker = self
        self.violations: list[Violation] = []
        self._scheduler: Scheduler | None = None
        self._changes: Counter[str] = Counter()
        self._active: set[str] = set()
        self._open: set[tuple[Any, ...]] = set()
        self._rank_max: tuple[int, int] | None = None
        self._fence: Fence | None = None  # the fence as last checked
        self._content: dict[str, int | None] = {}  # endpoint -> content generation, as last checked
        self._floor: dict[str, int] = {}  # endpoint -> what a vandal left (until repaired)
        self._basis: dict[str, int | None] = {}  # actor -> seq of the fence its next write must DELETE
        self._intent: dict[str, int] = {}  # rollbacker -> generation live when its rollback decided
        self._wrote: dict[str, Fence] = {}  # actor -> the last fence it wrote
        self._actor: str | None = None  # whose step is being checked
        self._rounds: dict[str, list[str]] = {}  # enactor -> outcomes of its rounds so far
        self._pointer_max: dict[str, int] = {}
        self._step: int | None = 0
        self._trust = False
        self._last_sets: Sequence[RecordSet] = ()  # the zone as last checked
        self._last_fence: Fence | None = None  # its fence, parsed (guarded worlds)
        self.finished = False

    # ------------------------------------------------------------------ wiring

    def attach(self, scheduler: Scheduler, *, trust_footprints: bool = False) -> InvariantChecker:
        """Check after every step of `scheduler` (and record the current state as the baseline).

        `trust_footprints`: every actor reaches the world only through `ActorContext.guard`
        with access tables (as `World`'s actors do), so a step whose footprint writes none of
        the zone, the plans, the zone state or the lease cannot have changed anything checked
        here, and is skipped."""
        self._scheduler = scheduler
        self._trust = trust_footprints
        scheduler.on_step(self._on_step)
        self.check(step=0)
        return self

    def _on_step(self, entry: TraceEntry) -> None:
        if entry.checkpoint == DONE and self._scheduler is not None:
            err = self._scheduler.error(entry.actor)
            if err is not None and not isinstance(err, Crash | Aborted | SafeguardsError):
                self._report("E", ("E", entry.actor), f"{entry.actor} died: {type(err).__name__}: {err}")
        self._actor = entry.actor
        if entry.fault == "crash" or entry.checkpoint in (DONE, "round.end"):
            # A new incarnation (or round) decides afresh.
            self._intent.pop(entry.actor, None)
            self._basis.pop(entry.actor, None)
        if entry.fault == "crash":
            self._rounds.pop(entry.actor, None)  # a restarted body starts its rounds again
        try:
            self._step_checks(entry)
        finally:
            self._actor = None
        self._note_decision(entry)

    def _note_decision(self, entry: TraceEntry) -> None:
        """Where the step's actor parked says what its next write must rest on."""
        actor, at, ctx = entry.actor, entry.checkpoint, entry.context
        if at in ("plan.loaded", "zone.read", "fence.checked") and self.world.roles.get(actor) == "enactor":
            # An apply deciding (judged by rank and content); a repair or rollback re-reading
            # after a conflict stays bound to its decision until it decides again.
            self._basis.pop(actor, None)
        elif at == "decided" and ctx.get("action") in ("repair", "rollback"):
            self._basis[actor] = ctx.get("seq")
            if ctx.get("action") == "rollback":
                self._intent.setdefault(actor, ctx.get("generation"))  # type: ignore[arg-type]
        elif at == "restore.before":
            last = self._wrote.get(actor)
            self._basis[actor] = last.seq if last else None
        if self.world.roles.get(actor) == "enactor" and at in (DONE, "round.end"):
            # The round that just ended (an enactor's outcome is its rounds' outcomes, "; "-joined).
            seen = self._rounds.setdefault(actor, [])
            if at == "round.end":
                outcome = str(ctx.get("outcome", ""))
                seen.append(outcome)
            else:
                done = str(entry.outcome or "")
                head = "; ".join(seen)
                outcome = done[len(head) + 2 :] if seen and done.startswith(head + "; ") else done
            if outcome.startswith("VerificationFailed"):
                self._check_restored(actor)

    def _step_checks(self, entry: TraceEntry) -> None:
        footprint = entry.footprint
        if self._trust and _ZONE_WRITTEN not in footprint:  # the zone is as last checked
            self._step = entry.step
            if not footprint.isdisjoint(_STORE_WRITTEN):  # only I3 can change
                self._check_store(self._last_sets)
            return
        self.check(step=entry.step)

    @property
    def ok(self) -> bool:
        return not self.violations

    def changes_by(self, actor: str) -> int:
        """How many of `actor`'s change batches changed the zone so far."""
        return self._changes[actor]

    # ------------------------------------------------------------------ checks

    def check(self, *, step: int | None = None) -> list[Violation]:
        """Check I1-I3 on the current state; returns the new violations."""
        if step is not None:
            self._step = step
        before = len(self.violations)
        w = self.world
        sets = w.sets()
        if sets is not self._last_sets:
            # The in-memory model replaces its list of sets on every change and never mutates
            # one, and this one is held (its id cannot be reused): the same list is the same
            # zone, checked already. I1 and I2 are idempotent on an unchanged zone (nothing new
            # to report, every condition reported stays open), so only the store is checked.
            self._last_sets = sets
            view = _view(w, sets)
            self._check_never_empty(view.values)
            if w.kind == "guarded":
                self._last_fence = view.fence
                self._check_guarded(view.fence, view.values, view.content)
            else:
                self._check_pointers(view.pointers)
        self._check_store(sets)
        return self.violations[before:]

    def _check_store(self, sets: Sequence[RecordSet]) -> None:
        """I3: every live generation and the last known good are still in the plan store."""
        w = self.world
        store = w.store
        if type(store) is MemoryPlanStore:
            stored, lkg = store.kept(w.zone)  # no list sorted, no ZoneState built (every store write)
        else:
            stored, lkg = set(store.generations(w.zone)), store.state(w.zone).last_known_good
        if w.kind == "guarded":
            fence = self._last_fence if sets is self._last_sets else _parsed(find_fence(sets, w.zone))
            live = fence.generation if fence else None
            if live is not None and live not in stored:
                self._report("I3", ("I3", "live", live), f"live generation g{live} was deleted from the plan store")
            if fence is not None and fence.content and fence.content not in stored:
                self._report(
                    "I3",
                    ("I3", "content", fence.content),
                    f"g{fence.content}, whose content is live (fence {fence.label()}), was deleted from the plan store",
                )
            if lkg is not None and lkg not in stored:
                self._report("I3", ("I3", "lkg", lkg), f"last known good g{lkg} was deleted from the plan store")
        else:
            pointers = _view(w, sets).pointers if sets is self._last_sets else w.pointers(sets)
            for e, g in pointers.items():
                if g is not None and g not in stored:
                    self._report(
                        "I3",
                        ("I3", e, g),
                        f"{_short(e)} points at plan g{g}, which was deleted from the plan store",
                    )

    def _check_never_empty(self, values: dict[str, tuple[str, ...]]) -> None:
        vandal = self.world.roles.get(self._actor or "") == "vandal"
        for e, vals in values.items():
            minimum = self.world.min_values.get(e, 1)
            key = ("I1", e)
            if len(vals) >= minimum:
                self._active.add(e)
                self._floor.pop(e, None)
                self._open.discard(key)
            elif vandal and e in self._active and vals:
                # Damage from outside the library: the floor is what it left, until repaired.
                self._floor[e] = min(self._floor.get(e, minimum), len(vals))
            elif e in self._active and len(vals) < self._floor.get(e, minimum):
                what = "EMPTY" if not vals else f"down to {len(vals)} value(s)"
                self._report("I1", key, f"{_short(e)} is {what} (minimum {minimum})")

    def _check_guarded(
        self, fence: Fence | None, values: dict[str, tuple[str, ...]], content: dict[str, int | None] | None = None
    ) -> None:
        """I2 on the step from the state as last checked to this one, and I6's fence truth.
        `content`: each endpoint's content generation, if known (read only, never changed)."""
        if content is None:
            content = _content(values)
        before, actor = self._fence, self._actor
        top = self._rank_max
        if top is not None and (fence is None or fence.rank < top):
            now = "gone" if fence is None else _rank(fence.rank)
            self._report(
                "I2",
                ("I2", "fence", top, fence.rank if fence else None),
                f"the zone's fence went from {_rank(top)} to {now}",
            )
        if fence is not None and (top is None or fence.rank > top):
            self._rank_max = fence.rank
        if before is not None:
            for e, now_gen in content.items():
                was = self._content.get(e)
                if was is None or now_gen is None or now_gen >= was:
                    continue
                if fence is not None and fence.generation == before.generation and fence.content == now_gen:
                    continue  # a rollback or restore inside the generation, naming this content
                under = f"under {fence.label()}" if fence is not None else "with no fence"
                self._report(
                    "I2",
                    ("I2", "content", e, was, now_gen),
                    f"{_short(e)} went from g{was}'s content back to g{now_gen}'s {under} (replacing {before.label()})",
                )
        if fence is not None and fence != before:
            self._check_write(actor, before, fence)
        if fence is not None and fence.done and fence.content:
            wrong = [f"{_short(e)}=g{g}" for e, g in content.items() if g is not None and g != fence.content]
            if wrong:
                self._report(
                    "I6",
                    ("I6", "truth", fence.rank, fence.seq),
                    f"the fence says {fence.label()} is complete but {', '.join(wrong)}",
                )
        self._fence, self._content = fence, content

    def _check_write(self, actor: str | None, before: Fence | None, fence: Fence) -> None:
        """I2 on one actor's fence write: bound to its decision's read, within its role."""
        writer = fence.writer
        if actor is None or writer != actor:
            return  # not this step's actor (a healthy round, a write seen late): rank and content only
        self._wrote[actor] = fence
        role = self.world.roles.get(actor)
        if (
            role == "repair"
            and before is not None
            and (fence.generation, fence.content)
            != (
                before.generation,
                before.content,
            )
        ):
            self._report(
                "I2",
                ("I2", "repair", actor, fence.rank),
                f"repair by {actor} replaced {before.label()} with {fence.label()}: a repair never changes "
                "the live generation or content",
            )
        intent = self._intent.get(actor)
        if role == "rollback" and intent is not None and fence.generation != intent:
            self._report(
                "I2",
                ("I2", "rollback", actor, fence.rank),
                f"rollback by {actor} decided while g{intent} was live wrote {fence.label()}"
                + (f" over {before.label()}" if before else ""),
            )
        if actor in self._basis:
            basis = self._basis[actor]
            seen = before.seq if before is not None else None
            if seen != basis:
                self._report(
                    "I2",
                    ("I2", "basis", actor, fence.rank, fence.seq),
                    f"{role or 'write'} by {actor} wrote {fence.label()} over the fence of seq {seen}, "
                    f"but decided on seq {basis}: a write resting on a read made after its decision",
                )
            self._basis[actor] = fence.seq  # its next batch continues its own chain

    def _check_restored(self, actor: str) -> None:
        """I6: an apply that ended with a failed gate last wrote a restore naming older content."""
        last = self._wrote.get(actor)
        if last is None or last.rev == 0 or last.content >= last.generation:
            what = last.label() if last else "nothing"
            self._report(
                "I6",
                ("I6", "restore", actor, len(self.violations)),
                f"{actor}'s gate failed but the last fence it wrote is {what}, not a restore of the previous content",
            )

    def _check_pointers(self, pointers: dict[str, int | None]) -> None:
        for e, g in pointers.items():
            top = self._pointer_max.get(e)
            if top is not None and (g is None or g < top):
                now = "gone" if g is None else f"g{g}"
                self._report("I2", ("I2", e, top, g), f"{_short(e)} went from g{top} back to {now}")
            if g is not None and (top is None or g > top):
                self._pointer_max[e] = g

    def refused_plan(self, actor: str, plan: Plan, changes_before: int) -> None:
        """I5: `actor`'s apply of `plan` was refused; none of its batches may have landed."""
        made = self._changes[actor] - changes_before
        if made:
            self._report(
                "I5",
                ("I5", actor, plan.generation),
                f"{actor}'s plan g{plan.generation} was refused after {made} of its batches changed the zone",
            )

    def rejected_batch(
        self, actor: str, before: Sequence[RecordSet] | bytes, after: Sequence[RecordSet] | bytes
    ) -> None:
        """I5: a batch Route 53 rejected must leave the zone byte-identical."""
        if before != after:
            self._report(
                "I5", ("I5", actor, len(self.violations)), f"a batch of {actor} was rejected yet the zone changed"
            )

    def finish(self) -> list[Violation]:
        """End of run: one healthy round, then I4 and a last I1-I3 check. Returns every violation.

        The closing round is deterministic: what it does, reports and leaves behind depends only
        on the world's state (`World.memo_state`), this checker's state and the code. Its result
        is kept per (world, checker) state and process (`_CLOSING`), and replayed: the same
        violations (bound to this run's schedule and trace), the same world and checker after it
        (tests/race/test_fast_paths.py compares both against running it)."""
        if self.finished:
            return self.violations
        self.finished = True
        self._step = None
        self.check()
        key = self._closing_key() if REUSE_CLOSING else None
        if key is None:
            self._close()
            return self.violations
        try:
            known = _CLOSING.get(key)
        except TypeError:  # something unhashable in the state: run it
            self._close()
            return self.violations
        if known is not None:
            self._reuse(known)
            return self.violations
        mark, before, changes = self.world.memo_mark(), len(self.violations), self._changes.copy()
        self._close()
        if len(_CLOSING) >= _CLOSING_LIMIT:
            _CLOSING.clear()
        _CLOSING[key] = _Closing(
            self.world.memo_delta(mark),
            tuple((v.invariant, v.message) for v in self.violations[before:]),
            frozenset(self._open),
            (self._rank_max, self._fence, dict(self._content), frozenset(self._active), dict(self._floor)),
            dict(self._pointer_max),
            self._changes - changes,
            self.healthy_outcome,
            self._last_fence,
        )
        return self.violations

    def _closing_key(self) -> tuple[Any, ...] | None:
        """What the closing round depends on, or None when it cannot be captured."""
        w = self.world
        state = w.memo_state() if w.checker is self else None
        if state is None:
            return None
        return (
            state,
            _code_stamp(),
            frozenset(self._open),
            len(self.violations),
            self._rank_max,
            self._fence,
            tuple(self._content.items()),
            tuple(self._floor.items()),
            frozenset(self._active),
            tuple(self._pointer_max.items()),
            self._changes.get("healthy", 0),
            self._actor,
            w.roles.get(self._actor or ""),
        )

    def _reuse(self, known: _Closing) -> None:
        """The closing round as `known` recorded it, on this run."""
        self.world.memo_apply(known.world)
        s = self._scheduler
        schedule, trace = (tuple(s.schedule), tuple(s.trace)) if s else ((), ())
        self.violations += [Violation(inv, message, None, schedule, trace) for inv, message in known.violations]
        self._open = set(known.open)
        self._rank_max, self._fence, content, active, floor = known.guarded
        self._content, self._active, self._floor = dict(content), set(active), dict(floor)
        self._pointer_max = dict(known.pointers)
        self._changes.update(known.changes)
        self._last_sets = self.world.sets()
        self._last_fence = known.fence
        self.healthy_outcome = known.outcome

    def _close(self) -> None:
        """The closing round itself: a healthy round, then I4 and a last I1-I3 check."""
        w = self.world
        target = w.newest(good=True)
        st = w.store.state(w.zone)
        if st.circuit_open and not st.circuit_reason.startswith("refused by"):
            # Opening on refusals of bad plans is the circuit's job; on anything else the
            # enactors stopped converging without bad input.
            self._report("I4", ("I4", "circuit"), f"the circuit opened without bad input: {st.circuit_reason}")
        self.healthy_outcome = w.healthy_round()
        self.check()
        if target is not None:
            fence = _parsed(find_fence(w.sets(), w.zone)) if w.kind == "guarded" else None
            content = target
            if fence is not None and fence.generation == target.generation and fence.content != fence.generation:
                # The newest plan was rolled back (or restored after a failed gate): the content
                # its fence names is what must be live.
                content = w.store.get_plan(w.zone, fence.content) or target
            want = {r.name: tuple(sorted(r.values)) for r in content.records}
            have = w.values()
            wrong = [f"{_short(e)}={w.label(have[e])}" for e in w.endpoints if have[e] != want.get(e, ())]
            live = fence.generation if fence else None
            if wrong or (w.kind == "guarded" and live != target.generation):
                self._report(
                    "I4",
                    ("I4",),
                    f"after a healthy round ({self.healthy_outcome}) the newest plan g{target.generation} is not live "
                    f"everywhere: {', '.join(wrong) or f'fence at g{live}'}",
                )

    # ------------------------------------------------------------------ reporting

    def _report(self, invariant: str, key: tuple[Any, ...], message: str) -> None:
        if key in self._open:
            return
        self._open.add(key)
        s = self._scheduler
        self.violations.append(
            Violation(
                invariant,
                message,
                self._step,
                tuple(s.schedule) if s else (),
                tuple(s.trace) if s else (),
            )
        )


@dataclass(frozen=True)
class _View:
    """What the checks read from one list of the zone's sets (read only: shared)."""

    sets: Sequence[RecordSet]  # held, so that its id is not reused while kept
    values: dict[str, tuple[str, ...]]
    fence: Fence | None
    content: dict[str, int | None]
    pointers: dict[str, int | None]  # naive worlds' live-plan pointers (empty in guarded ones)


#: Views by list of sets (by id) and world shape: the model's lists are replaced, never changed,
#: and every fork of a world starts on its template's list (so the first check of a run, and the
#: checks after a reused closing round, parse nothing).
_VIEWS: dict[tuple[Any, ...], _View] = {}


#: Views by the sets' values (and world shape): the model's list is new after every change, but
#: the zones a run passes through are few and recur in every schedule; read from the same values,
#: a view is the same (values, fence, content and pointers are functions of them).
_VIEWS_BY_VALUE: dict[tuple[Any, ...], _View] = {}


def _view(w: World, sets: Sequence[RecordSet]) -> _View:
    shape = (w.kind, w.zone, tuple(w.endpoints))
    key = (id(sets), *shape)
    view = _VIEWS.get(key)
    if view is None or view.sets is not sets:
        held = isinstance(sets, list) and type(w.model).records is StrictRoute53.records
        same: _View | None = None
        by_value: tuple[Any, ...] | None = None
        if held and len(sets) <= 256 and all(type(r) is RecordSet for r in sets):
            try:
                by_value = (tuple(sets), *shape)
                same = _VIEWS_BY_VALUE.get(by_value)
            except TypeError:  # a value that cannot be hashed: read afresh
                by_value = None
        if same is not None:
            view = _View(sets, same.values, same.fence, same.content, same.pointers)
        else:
            values = w.values(sets)
            fence = _parsed(find_fence(sets, w.zone)) if w.kind == "guarded" else None
            pointers = w.pointers(sets) if w.kind != "guarded" else {}
            view = _View(sets, values, fence, _content(values), pointers)
            if by_value is not None:
                if len(_VIEWS_BY_VALUE) >= 1024:
                    _VIEWS_BY_VALUE.clear()
                _VIEWS_BY_VALUE[by_value] = view
        if held:
            if len(_VIEWS) >= 256:
                _VIEWS.clear()
            _VIEWS[key] = view
    return view


#: Fences parsed, by their record set (a value: equal sets parse to equal fences).
_FENCES: dict[RecordSet, Fence | None] = {}


def _parsed(rrset: RecordSet | None) -> Fence | None:
    """`parse_fence(rrset)`, kept: a run writes a handful of fences, checked after many steps."""
    if rrset is None:
        return None
    try:
        return _FENCES[rrset]
    except KeyError:
        pass
    except TypeError:  # not hashable: parse it
        return parse_fence(rrset)
    fence = parse_fence(rrset)
    if len(_FENCES) >= 4096:
        _FENCES.clear()
    _FENCES[rrset] = fence
    return fence


def _content(values: dict[str, tuple[str, ...]]) -> dict[str, int | None]:
    from .world import generation_of

    return {e: generation_of(v) if v else None for e, v in values.items()}


@dataclass(frozen=True)
class _Closing:
    """One closing round's result (see `InvariantChecker.finish`): how it left the world, what it
    reported, and the checker's state after it."""

    world: Any
    violations: tuple[tuple[str, str], ...]
    open: frozenset[tuple[Any, ...]]
    guarded: tuple[Any, ...]  # rank_max, fence, content, active, floor
    pointers: dict[str, int]
    changes: Counter[str]
    outcome: str
    fence: Fence | None  # the last check's, parsed


#: Reuse closing rounds (`InvariantChecker.finish`); False runs every one (to compare against).
REUSE_CLOSING = True
#: Closing rounds by (world, checker, code) state, this process's; cleared when full.
_CLOSING: dict[tuple[Any, ...], _Closing] = {}
_CLOSING_LIMIT = 4096


def clear_closing_cache() -> None:
    """Forget every closing round kept (after changing code the stamp does not see)."""
    _CLOSING.clear()


_GETTERS: list[tuple[Any, Any]] = []  # (namespace, itemgetter of its code entries) per module and class
_GETTERS_FOR = -1  # len(sys.modules) when they were gathered
_LAST: tuple[list[Any], int] = ([], -1)
_STAMPS: dict[tuple[int, ...], tuple[int, list[Any]]] = {}


def _code_stamp() -> int | None:
    """Which code the closing round runs, as far as a test can change it: in a process where a
    patching tool is loaded (pytest's monkeypatch, unittest.mock), a number that changes
    whenever a function, class or other callable bound in a loaded safeguards module or class
    defined in one is replaced (a test taking a safeguard out to show the harness catches it),
    so a closing round kept under other code is never reused. Plain values are left out: module
    state (caches, counters) changes on its own. Elsewhere (the explorer's command line and
    workers, the benchmarks) nothing patches: None, and nothing to pay (~30 µs a run)."""
    global _GETTERS_FOR, _LAST
    if "_pytest.monkeypatch" not in sys.modules and "unittest.mock" not in sys.modules:
        return None
    if len(sys.modules) != _GETTERS_FOR:
        _gather()
    try:
        stamp = [get(space) for space, get in _GETTERS]
    except KeyError:  # a name was deleted
        _gather()
        stamp = [get(space) for space, get in _GETTERS]
    if stamp != _LAST[0]:  # compared by identity first, element by element: cheap when equal
        ids = tuple(map(id, itertools.chain.from_iterable(stamp)))  # the stamp kept holds them
        _LAST = (stamp, _STAMPS.setdefault(ids, (len(_STAMPS), stamp))[0])
    return _LAST[1]


def _gather() -> None:
    global _GETTERS_FOR
    _GETTERS.clear()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "safeguards" or name.startswith("safeguards.")):
            continue
        spaces: list[Any] = [vars(module)]
        spaces += [vars(v) for v in list(spaces[0].values()) if isinstance(v, type) and v.__module__ == name]
        for space in spaces:
            keys = [k for k, v in space.items() if callable(v) or isinstance(v, staticmethod | classmethod | property)]
            if keys:
                # itemgetter of one key returns the value, not a 1-tuple: always ask for two.
                _GETTERS.append((space, operator.itemgetter(keys[0], *keys)))
    _GETTERS_FOR = len(sys.modules)


class ObservedBackend:
    """The backend one actor uses, seen by the checker: it counts the actor's batches that
    changed the zone and checks that a rejected batch changed nothing (I5). Only one actor runs
    at a time, so comparing snapshots around a call attributes the change to that call."""

    def __init__(self, world: World, checker: InvariantChecker, actor: str) -> None:
        self._world = world
        self._model = world.model
        self._checker = checker
        self.actor = actor

    def resolve_zone(self, zone_name: str, *, create: bool = False) -> str:
        return self._model.resolve_zone(zone_name, create=create)

    def list_record_sets(self, zone_id: str) -> list[RecordSet]:
        return self._model.list_record_sets(zone_id)

    def list_record_sets_page(
        self, zone_id: str, start: tuple[str, str | None, str | None] | None = None, max_items: int = 300
    ) -> tuple[list[RecordSet], tuple[str, str | None, str | None] | None]:
        """Ranged reads (`RangedListing`), so the enactors under test read as they do on Route 53."""
        return self._model.list_record_sets_page(zone_id, start, max_items)

    def get_change(self, change_id: str) -> ChangeInfo:
        return self._model.get_change(change_id)

    def change_record_sets(self, zone_id: str, changes: Sequence[Change], comment: str = "") -> ChangeInfo:
        # The model's record list is replaced by a batch, never changed: comparing the lists
        # before and after (sets are immutable values) is comparing the zone's snapshots.
        before = self._model.records(zone_id)
        try:
            info = self._model.change_record_sets(zone_id, changes, comment)
        except BaseException as exc:
            after = self._model.records(zone_id)
            if after != before:  # e.g. a lost response: applied, then the error
                self._checker._changes[self.actor] += 1
            if isinstance(exc, BatchRejected):
                self._checker.rejected_batch(self.actor, before, after)
            raise
        self._checker._changes[self.actor] += 1  # accepted: counted as a change, conservatively
        return info


def _rank(rank: tuple[int, int]) -> str:
    return f"g{rank[0]}" + (f".r{rank[1]}" if rank[1] else "")


def _short(name: str) -> str:
    return name.split(".", 1)[0]
