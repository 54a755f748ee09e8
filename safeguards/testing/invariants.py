"""The race invariants (I1-I5 of the outage note), checked after every scheduler step and at
the end of a run.

- I1 never empty: every endpoint keeps at least its minimum number of values, from the moment
  it first had them (once the initial plan is live).
- I2 monotonic: the live generation never goes down: the zone's fence for the guarded applier,
  each endpoint's live-plan pointer for the naive enactor.
- I3 no live deletion: the plan store still holds every live generation and the last known good.
- I4 convergence: after the run, one round of a healthy enactor makes the newest (good) plan
  live on every endpoint.
- I5 nothing lost on bad input: a rejected batch leaves the zone byte-identical (`snapshot()`),
  and a refused plan made no change at all.
- E: an actor died of an exception that is not one of the library's errors (a bug).

A `Violation` carries the step, the trace and the schedule up to it: print it, then replay the
schedule with `Scheduler(schedule=...)` to see it again. A condition that persists (an endpoint
empty for ten steps) is reported once, when it starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BatchRejected, SafeguardsError
from ..plan import Plan
from ..records import Change, ChangeInfo, RecordSet
from .scheduler import DONE, Aborted, Crash, Scheduler, TraceEntry

if TYPE_CHECKING:
    from .world import World

#: The plan-store objects the invariants read (see `world.STORE_ACCESS`); leases are not.
_STORE = frozenset({"plans", "state"})

INVARIANTS: dict[str, str] = {
    "I1": "never empty",
    "I2": "monotonic",
    "I3": "no live deletion",
    "I4": "convergence",
    "I5": "nothing lost on bad input",
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
        self._fence_max: int | None = None
        self._pointer_max: dict[str, int] = {}
        self._step: int | None = 0
        self._trust = False
        self._last_sets: Sequence[RecordSet] = ()
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
        if self._trust:
            written = {obj for obj, mode in entry.footprint if mode == "w"}
            if "zone" not in written and not written & _STORE:
                self._step = entry.step
                return
            if "zone" not in written:  # the zone is as last checked: only I3 can change
                self._step = entry.step
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
        sets = self._last_sets = w.sets()
        self._check_never_empty(w.values(sets))
        if w.kind == "guarded":
            self._check_fence(w.fence_generation(sets))
        else:
            self._check_pointers(w.pointers(sets))
        self._check_store(sets)
        return self.violations[before:]

    def _check_store(self, sets: Sequence[RecordSet]) -> None:
        """I3: every live generation and the last known good are still in the plan store."""
        w = self.world
        stored = set(w.store.generations(w.zone))
        if w.kind == "guarded":
            live = w.fence_generation(sets)
            if live is not None and live not in stored:
                self._report("I3", ("I3", "live", live), f"live generation g{live} was deleted from the plan store")
            lkg = w.store.state(w.zone).last_known_good
            if lkg is not None and lkg not in stored:
                self._report("I3", ("I3", "lkg", lkg), f"last known good g{lkg} was deleted from the plan store")
        else:
            for e, g in w.pointers(sets).items():
                if g is not None and g not in stored:
                    self._report(
                        "I3",
                        ("I3", e, g),
                        f"{_short(e)} points at plan g{g}, which was deleted from the plan store",
                    )

    def _check_never_empty(self, values: dict[str, tuple[str, ...]]) -> None:
        for e, vals in values.items():
            minimum = self.world.min_values.get(e, 1)
            key = ("I1", e)
            if len(vals) >= minimum:
                self._active.add(e)
                self._open.discard(key)
            elif e in self._active:
                what = "EMPTY" if not vals else f"down to {len(vals)} value(s)"
                self._report("I1", key, f"{_short(e)} is {what} (minimum {minimum})")

    def _check_fence(self, live: int | None) -> None:
        top = self._fence_max
        if top is not None and (live is None or live < top):
            now = "gone" if live is None else f"g{live}"
            self._report("I2", ("I2", "fence", top, live), f"the zone's live generation went from g{top} to {now}")
        if live is not None and (top is None or live > top):
            self._fence_max = live

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

    def rejected_batch(self, actor: str, before: bytes, after: bytes) -> None:
        """I5: a batch Route 53 rejected must leave the zone byte-identical."""
        if before != after:
            self._report(
                "I5", ("I5", actor, len(self.violations)), f"a batch of {actor} was rejected yet the zone changed"
            )

    def finish(self) -> list[Violation]:
        """End of run: one healthy round, then I4 and a last I1-I3 check. Returns every violation."""
        if self.finished:
            return self.violations
        self.finished = True
        w = self.world
        self._step = None
        self.check()
        target = w.newest(good=True)
        st = w.store.state(w.zone)
        if st.circuit_open and not st.circuit_reason.startswith("refused by"):
            # Opening on refusals of bad plans is the circuit's job; on anything else the
            # enactors stopped converging without bad input.
            self._report("I4", ("I4", "circuit"), f"the circuit opened without bad input: {st.circuit_reason}")
        self.healthy_outcome = w.healthy_round()
        self.check()
        if target is not None:
            want = {r.name: tuple(sorted(r.values)) for r in target.records}
            have = w.values()
            wrong = [f"{_short(e)}={w.label(have[e])}" for e in w.endpoints if have[e] != want.get(e, ())]
            live = w.fence_generation() if w.kind == "guarded" else None
            if wrong or (w.kind == "guarded" and live != target.generation):
                self._report(
                    "I4",
                    ("I4",),
                    f"after a healthy round ({self.healthy_outcome}) the newest plan g{target.generation} is not live "
                    f"everywhere: {', '.join(wrong) or f'fence at g{live}'}",
                )
        return self.violations

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

    def get_change(self, change_id: str) -> ChangeInfo:
        return self._model.get_change(change_id)

    def change_record_sets(self, zone_id: str, changes: Sequence[Change], comment: str = "") -> ChangeInfo:
        before = self._model.snapshot(zone_id)
        try:
            info = self._model.change_record_sets(zone_id, changes, comment)
        except BaseException as exc:
            after = self._model.snapshot(zone_id)
            if after != before:  # e.g. a lost response: applied, then the error
                self._checker._changes[self.actor] += 1
            if isinstance(exc, BatchRejected):
                self._checker.rejected_batch(self.actor, before, after)
            raise
        self._checker._changes[self.actor] += 1  # accepted: counted as a change, conservatively
        return info


def _short(name: str) -> str:
    return name.split(".", 1)[0]
