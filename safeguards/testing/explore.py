"""Exploring interleavings of enactors, the planner and the recovery actors (repairers,
rollbackers, clean-up, a vandal outside the library) with faults, checking I1-I6 on each.

Two modes, both re-running the world from scratch for every schedule (stateless model checking):

- `explore_exhaustive`: depth-first search over every choice point (which actor runs next, and
  with which fault, at most `max_faults` per schedule) for a small scope. Sleep sets prune
  schedules that only reorder independent steps: every step records its footprint (what it read
  and wrote: the zone, the plans, the zone state, the lease, the clock), and two steps of
  different actors whose footprints do not conflict commute, so only one order is explored.
  Every distinct behaviour (Mazurkiewicz trace) is still covered. State caching (the default,
  ``reduction="states"``) also stops a schedule when it reaches a state the search explored
  already with a sleep set that is a subset of its own (see `statekey` for what a state is):
  everything reachable from there was explored then. Schedules that reach the same state by
  different orders of dependent steps (a read before or after a write that changed nothing it
  reads, a lease race both orders of which end alike) share one exploration of what follows.
- `explore_random`: seeded random schedules with random faults for larger scopes, optionally on
  several worker processes (each pinned to one CPU: thread hand-offs within one core are about
  4x cheaper than across cores).

A failing schedule is kept with its violations; `replay(scope, schedule)` runs it again, and
`python -m safeguards.testing.explore --replay A,B,A+crash,...` does the same from a shell.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from . import scheduler as scheduler_module
from . import statekey
from .invariants import InvariantChecker, Violation
from .scheduler import (
    FAULTS,
    Choice,
    Policy,
    RandomPolicy,
    ReplayPolicy,
    ScheduleDiverged,
    Scheduler,
    TraceEntry,
    dependent,
)
from .world import Kind, World, default_options, endpoint_names

ENACTORS = "ABCDEFGH"
REPAIRERS = ("R", "S")
ROLLBACKERS = ("U", "W")
CLEANERS = ("C1", "C2")
VANDAL = "V"


@dataclass(frozen=True)
class Scope:
    """What one schedule runs: `enactors` enactors of `kind`, each doing `rounds` rounds (pick
    the newest plan, apply, clean up), and a planner P publishing `plans` plans (g2 ..) while
    they run, on `names` endpoints where g1 is live to begin with. Leases last `lease_ttl`
    virtual seconds (shorter than the applier's 60 s lease wait, so a stalled holder is taken
    over rather than waited out); `keep` plans are kept by clean-up.

    Recovery actors: `repairers` (R, S) each run `repair` `recoveries` times, `rollbackers`
    (U, W) `rollback` to the previous plan, `cleaners` (C1, C2) clean-up on its own; `vandal`
    adds V, which drops the first endpoint to one value (below its minimum of `minimum`, 2 by
    default when there is a vandal). `history` plans are stored to begin with, the last one
    live (g1 .. g`history`), so a rollback has somewhere to go; the planner publishes the next
    `plans` ones. Every recovery actor restarts after a crash like the enactors do."""

    kind: Kind = "guarded"
    enactors: int = 2
    plans: int = 2
    names: int = 2
    rounds: int = 1
    restarts: int = 1
    lease_ttl: float = 30.0
    use_lease: bool = True
    keep: int = 1
    repairers: int = 0
    rollbackers: int = 0
    cleaners: int = 0
    vandal: bool = False
    history: int = 1
    recoveries: int = 1
    minimum: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.enactors <= len(ENACTORS):
            raise ValueError(f"0..{len(ENACTORS)} enactors")
        if self.plans < 0 or self.names < 1 or self.rounds < 1 or self.history < 1 or self.recoveries < 1:
            raise ValueError("at least one name, one round, one plan of history")
        if self.repairers > len(REPAIRERS) or self.rollbackers > len(ROLLBACKERS) or self.cleaners > len(CLEANERS):
            raise ValueError(f"at most {len(REPAIRERS)} repairers, rollbackers and cleaners each")

    @property
    def min_values(self) -> int:
        return self.minimum if self.minimum is not None else (2 if self.vandal else 1)

    @property
    def recovery_actors(self) -> list[str]:
        return [
            *REPAIRERS[: self.repairers],
            *ROLLBACKERS[: self.rollbackers],
            *CLEANERS[: self.cleaners],
            *([VANDAL] if self.vandal else []),
        ]

    @property
    def actors(self) -> list[str]:
        return ["P", *ENACTORS[: self.enactors], *self.recovery_actors]

    def describe(self) -> str:
        parts = [f"{self.kind}: {self.enactors} enactors x {self.rounds} round(s)"]
        if self.repairers or self.rollbackers or self.cleaners:
            parts.append(
                f"{self.repairers} repairer(s), {self.rollbackers} rollbacker(s), {self.cleaners} cleaner(s)"
                + (f" x {self.recoveries}" if self.recoveries > 1 else "")
            )
        if self.vandal:
            parts.append("a vandal")
        first = self.history + 1
        plans = f"g{first}" + (f"..g{first + self.plans - 1}" if self.plans > 1 else "") if self.plans else "none"
        parts.append(f"{self.plans} plans ({plans} over g{self.history})")
        parts.append(f"{self.names} names")
        return ", ".join(parts)


@dataclass
class RunResult:
    """One schedule: what was chosen, what broke, how many steps, and whether the search cut it
    short as redundant (an equivalent schedule is explored elsewhere)."""

    schedule: list[str]
    violations: list[Violation]
    steps: int
    redundant: bool = False
    outcomes: dict[str, str | None] = field(default_factory=dict)
    state: str = ""
    fired: dict[str, int] = field(default_factory=dict)
    cached: bool = False  # redundant because it reached a state explored already


#: The bootstrapped world of each scope, forked for every schedule (see `fresh_world`).
_TEMPLATES: dict[Scope, World] = {}


def fresh_world(scope: Scope) -> World:
    """A world for `scope` with its history stored and g`history` live: a copy of one built and
    bootstrapped once per scope and process (building one is most of a short schedule's cost)."""
    template = _TEMPLATES.get(scope)
    if template is None:
        options = default_options(lease_ttl=scope.lease_ttl, keep_plans=scope.keep, use_lease=scope.use_lease)
        mins = {e: scope.min_values for e in endpoint_names(scope.names)} if scope.min_values != 1 else {}
        template = World.create(scope.kind, scope.names, keep=scope.keep, options=options, min_values=mins)
        template.bootstrap(scope.history, fast=True, earlier=range(1, scope.history))
        if len(_TEMPLATES) >= 64:
            _TEMPLATES.clear()
        _TEMPLATES[scope] = template
    return template.fork()


def build(scope: Scope, policy: Policy) -> tuple[World, InvariantChecker, Scheduler]:
    """A fresh world for `scope` (g1 live), its checker, and a scheduler with the actors."""
    world = fresh_world(scope)
    checker = InvariantChecker(world)
    sched = Scheduler(policy=policy, model=world.model, clock=world.clock, delay_seconds=scope.lease_ttl + 1)
    first = scope.history + 1
    sched.add_actor("P", world.planner_body(list(range(first, first + scope.plans))))
    for name in ENACTORS[: scope.enactors]:
        sched.add_actor(name, world.enactor_body(rounds=scope.rounds), restarts=scope.restarts)
    for name in REPAIRERS[: scope.repairers]:
        sched.add_actor(name, world.repairer_body(scope.recoveries), restarts=scope.restarts)
    for name in ROLLBACKERS[: scope.rollbackers]:
        sched.add_actor(name, world.rollbacker_body(scope.recoveries), restarts=scope.restarts)
    for name in CLEANERS[: scope.cleaners]:
        sched.add_actor(name, world.cleaner_body(scope.recoveries), restarts=scope.restarts)
    if scope.vandal:
        sched.add_actor(VANDAL, world.vandal_body())
    checker.attach(sched, trust_footprints=True)
    return world, checker, sched


#: Runs of the depth-first search between two full garbage collections.
_COLLECT_EVERY = 500


class _Redundant(Exception):
    """Every runnable step is asleep: this schedule only reorders one already explored."""


def run_schedule(scope: Scope, policy: Policy, *, observe: Any = None, state: bool = True) -> RunResult:
    """Run one schedule to the end (then one healthy round for I4) and collect violations.
    `state`: record the end state's `fingerprint` in the result (explorers ask only when they
    collect states)."""
    world, checker, sched = build(scope, policy)
    bind = getattr(policy, "bind", None)
    if bind is not None:
        bind(world, checker, sched)
    if observe is not None:
        sched.on_step(observe)
    redundant = False
    with sched:
        try:
            sched.run()
        except _Redundant:
            redundant = True
    end = ""
    if not redundant:
        if state:
            end = fingerprint(world)
        checker.finish()
    return RunResult(
        list(sched.schedule),
        list(checker.violations),
        sched.steps,
        redundant,
        {a: sched.outcome(a) for a in sched.actors},
        end,
        _fired(sched.trace),
        redundant and bool(getattr(policy, "hit", False)),
    )


def _fired(trace: Sequence[TraceEntry]) -> dict[str, int]:
    """Faults that took effect in a run, per kind (a model fault armed for a step that made no
    matching call did nothing and is not counted)."""
    fired: dict[str, int] = {}
    for e in trace:
        if e.fault is not None and e.fired:
            fired[e.fault] = fired.get(e.fault, 0) + 1
    return fired


def fingerprint(world: World) -> str:
    """The end state of a run (zone, stored plans, zone bookkeeping): two runs that end in the
    same fingerprint are indistinguishable to every invariant."""
    st = world.store.state(world.zone)
    return (
        f"{world.snapshot().decode()}|{world.store.generations(world.zone)}|"
        f"{st.applied_generation}|{st.last_known_good}|{st.circuit_open}|{st.consecutive_failures}"
    )


def replay(scope: Scope, schedule: Sequence[str]) -> RunResult:
    """Run a recorded schedule again (e.g. one printed by a failing exploration)."""
    return run_schedule(scope, ReplayPolicy(schedule))


# ---------------------------------------------------------------------------------- results


@dataclass
class Failure:
    """A schedule that broke an invariant: replay it with `replay(scope, schedule)`."""

    schedule: list[str]
    violations: list[Violation]
    seed: str | None = None

    def __str__(self) -> str:
        lines = [f"failing schedule ({len(self.schedule)} steps)" + (f", seed {self.seed}" if self.seed else "") + ":"]
        lines.append("  " + ",".join(self.schedule))
        lines += [f"  {v}" for v in self.violations]
        return "\n".join(lines)


@dataclass
class ExploreResult:
    """Counts of an exploration. `schedules`: schedules run to their end; `pruned`: schedules
    cut short by the partial-order reduction (exhaustive mode); `cached`: schedules cut short at a
    state explored already (state caching); `visited`: distinct states stored by state caching
    (summed over workers); `violating`: schedules with at least one violation; `complete`: the
    exhaustive search ran out of schedules (not of budget). `found`: with `collect_states`, every
    violation found as (invariant, message)."""

    mode: str
    scope: Scope
    faults: tuple[str, ...]
    schedules: int = 0
    pruned: int = 0
    steps: int = 0
    violating: int = 0
    violations: int = 0
    by_invariant: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    elapsed: float = 0.0
    complete: bool = False
    workers: int = 1
    states: set[str] | None = None
    faults_fired: dict[str, int] = field(default_factory=dict)
    start: int = 0
    cached: int = 0
    visited: int = 0
    found: set[tuple[str, str]] | None = None

    @property
    def rate(self) -> float:
        """Schedules (including pruned and cached ones) per second of wall time."""
        return (self.schedules + self.pruned + self.cached) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def first_failure(self) -> Failure | None:
        return self.failures[0] if self.failures else None

    def add(self, run: RunResult, *, seed: str | None = None, keep: int = 5) -> None:
        if run.cached:
            self.cached += 1
        elif run.redundant:
            self.pruned += 1
        else:
            self.schedules += 1
            if self.states is not None:
                self.states.add(run.state)
        self.steps += run.steps
        for kind, n in run.fired.items():
            self.faults_fired[kind] = self.faults_fired.get(kind, 0) + n
        if self.found is not None:
            self.found.update((v.invariant, v.message) for v in run.violations)
        if run.violations:
            self.violating += 1
            self.violations += len(run.violations)
            for v in run.violations:
                self.by_invariant[v.invariant] = self.by_invariant.get(v.invariant, 0) + 1
            if len(self.failures) < keep:
                self.failures.append(Failure(run.schedule, run.violations, seed))

    def merge(self, other: ExploreResult, keep: int = 5) -> None:
        self.schedules += other.schedules
        self.pruned += other.pruned
        self.cached += other.cached
        self.visited += other.visited
        self.steps += other.steps
        self.violating += other.violating
        self.violations += other.violations
        for k, n in other.by_invariant.items():
            self.by_invariant[k] = self.by_invariant.get(k, 0) + n
        for k, n in other.faults_fired.items():
            self.faults_fired[k] = self.faults_fired.get(k, 0) + n
        self.failures += other.failures[: max(0, keep - len(self.failures))]
        if self.states is not None and other.states is not None:
            self.states |= other.states
        if self.found is not None and other.found is not None:
            self.found |= other.found

    def summary(self) -> str:
        what = f"{self.scope.describe()}, faults {','.join(self.faults) or 'none'}"
        pruned = f" (+{self.pruned} pruned as equivalent" if self.mode == "exhaustive" else ""
        if pruned and (self.cached or self.visited):
            pruned += f", +{self.cached} cut at one of {self.visited} states explored"
        pruned += ")" if pruned else ""
        done = " (complete)" if self.complete else ""
        broken = ", ".join(f"{k}={n}" for k, n in sorted(self.by_invariant.items())) or "none"
        fired = ", ".join(f"{k}={self.faults_fired[k]}" for k in FAULTS if k in self.faults_fired) or "none"
        span = f" (#{self.start}..#{self.start + self.schedules - 1})" if self.mode == "random" and self.start else ""
        return (
            f"{self.mode}{done} {what}: {self.schedules} schedules{span}{pruned}, {self.steps} steps, "
            f"{self.violating} violating ({broken}), faults fired: {fired}; {self.elapsed:.1f} s, "
            f"{self.rate:.0f} schedules/s on {self.workers} worker(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "scope": asdict(self.scope),
            "faults": list(self.faults),
            "schedules": self.schedules,
            "pruned": self.pruned,
            "cached": self.cached,
            "visited": self.visited,
            "steps": self.steps,
            "violating": self.violating,
            "violations": self.violations,
            "by_invariant": self.by_invariant,
            "faults_fired": self.faults_fired,
            "start": self.start,
            "elapsed": self.elapsed,
            "schedules_per_second": self.rate,
            "complete": self.complete,
            "workers": self.workers,
            "failures": [
                {"schedule": f.schedule, "seed": f.seed, "violations": [str(v) for v in f.violations]}
                for f in self.failures
            ],
        }


# ---------------------------------------------------------------------------------- exhaustive


class _Node:
    __slots__ = ("chosen", "done", "options", "seen", "sleep")

    def __init__(self, options: list[Choice], sleep: dict[Choice, frozenset[Any]]) -> None:
        self.options = options
        self.sleep = sleep
        self.done: dict[Choice, frozenset[Any]] = {}
        self.chosen: Choice | None = None
        self.seen: dict[str, int] | None = None  # the actors' observations here (state caching)


#: What `explore_exhaustive` prunes: nothing (every schedule, for soundness tests), schedules
#: that only reorder independent steps (sleep sets), or those and schedules reaching a state
#: explored already (sleep sets + state caching).
Reduction = Literal["none", "sleep", "states"]
REDUCTIONS: tuple[Reduction, ...] = ("none", "sleep", "states")

class Visited:
    """State caching's table: state key -> the sleep sets the state was explored with (none a
    subset of another). A sleep set is a bit mask over the choices met so far (one bit per
    distinct choice): small, compared with two integer operations, and invisible to the cyclic
    garbage collector (a table of millions of ints is never walked)."""

    __slots__ = ("_bits", "table")

    def __init__(self) -> None:
        self.table: dict[int, int | tuple[int, ...]] = {}
        self._bits: dict[Choice, int] = {}

    def __len__(self) -> int:
        return len(self.table)

    def mask(self, sleep: Iterable[Choice]) -> int:
        bits = self._bits
        m = 0
        for c in sleep:
            b = bits.get(c)
            if b is None:
                b = bits[c] = 1 << len(bits)
            m |= b
        return m

    def visit(self, key: int, asleep: int) -> bool:
        """False if `key` was explored with a sleep set that is a subset of `asleep` (nothing
        new to explore from it); else record it with `asleep` and return True."""
        known = self.table.get(key)
        if known is None:
            self.table[key] = asleep
            return True
        masks = (known,) if isinstance(known, int) else known
        if any(m & ~asleep == 0 for m in masks):
            return False
        kept = tuple(m for m in masks if asleep & ~m != 0)  # drop the ones `asleep` subsumes
        self.table[key] = (*kept, asleep) if kept else asleep
        return True


class _DepthFirst:
    """The policy of one run of the depth-first search: replays the stack's prefix, then
    extends it with the first option that is neither explored nor asleep.

    With `visited` (state caching), each state a new step reaches is looked up: if it was
    explored with a sleep set that is a subset of the current one, everything this schedule could
    still do was explored from there (with fewer transitions asleep), and the schedule stops
    (`hit`). The states the replayed prefix goes through are in `visited` already (they were new
    when first reached) and are not looked up."""

    def __init__(
        self,
        stack: list[_Node],
        faults: tuple[str, ...],
        max_faults: int,
        root: _Root,
        *,
        sleep: bool = True,
        visited: Visited | None = None,
    ) -> None:
        self.stack = stack
        self.root = root
        self.faults = faults
        self.max_faults = max_faults
        self.sleep = sleep
        self.visited = visited
        self.fresh = len(stack)  # steps before this one replay the prefix
        self.hit = False
        self._sleep: dict[Choice, frozenset[Any]] = {}
        self._used = 0  # faults chosen so far in this run
        self._world: World | None = None
        self._checker: InvariantChecker | None = None
        self._sched: Scheduler | None = None

    def bind(self, world: World, checker: InvariantChecker, sched: Scheduler) -> None:
        """The run's world, checker and scheduler (what a state key is made of)."""
        self._world, self._checker, self._sched = world, checker, sched
        if self.visited is not None and self.fresh == 0:
            sched.observe = statekey.observed

    def options(self, sched: Scheduler, enabled: Sequence[str], depth: int) -> list[Choice]:
        opts = [Choice(a) for a in enabled]
        used = sum(1 for n in self.stack[:depth] if n.chosen is not None and n.chosen.fault)
        if self.faults and used < self.max_faults:
            opts += [Choice(a, f) for a in enabled for f in self.faults if sched.fault_allowed(a, f)]
        return opts

    def choose(self, scheduler: Scheduler, enabled: Sequence[str]) -> Choice:
        depth = scheduler.steps
        options = self.options(scheduler, enabled, depth)
        if self.visited is not None and depth == self.fresh - 1:
            # The replayed prefix ends here: the actors' observations are the ones recorded at
            # this node when it was first reached; fold from here on.
            seen = self.stack[depth].seen
            assert seen is not None
            scheduler.restore_observations(seen)
            scheduler.observe = statekey.observed
        if depth < len(self.stack):
            node = self.stack[depth]
            if node.options != options:
                raise ScheduleDiverged(
                    f"step {depth + 1}: choices {[str(o) for o in options]} differ from the recorded "
                    f"{[str(o) for o in node.options]}: the code under test is not deterministic",
                    trace=scheduler.trace,
                    schedule=scheduler.schedule,
                )
            assert node.chosen is not None
            return node.chosen
        node = _Node(options, self._sleep)
        if self.visited is not None:
            node.seen = scheduler.observations()
        allowed = options if depth else self.root.share(options)
        pick = next((o for o in allowed if o not in node.sleep), None)
        if pick is None:
            raise _Redundant()
        node.chosen = pick
        self.stack.append(node)
        return pick

    def after_step(self, entry: TraceEntry) -> None:
        node = self.stack[entry.step - 1]
        chosen = node.chosen
        assert chosen is not None
        fp = entry.footprint
        if self.sleep:
            # Sleep-set rule: a transition explored (or asleep) here stays asleep after `chosen`
            # if it is another actor's and independent of it: that order is covered already.
            asleep = {**node.sleep, **node.done}
            self._sleep = {t: f for t, f in asleep.items() if t.actor != chosen.actor and not dependent(f, fp)}
        node.done[chosen] = fp
        if chosen.fault is not None:
            self._used += 1
        if entry.fault is not None and not entry.fired:
            # The fault had nothing to act on (no matching call in this step): the state is the
            # one the same step without a fault reaches, which is explored with more budget.
            raise _Redundant()
        if self.visited is not None and entry.step >= self.fresh:
            self._cache()

    def _cache(self) -> None:
        """Stop here if this state was explored with no more transitions asleep than now."""
        assert self._world is not None and self._checker is not None and self._sched is not None
        key = statekey.state_key(self._world, self._checker, self._sched, self._used)
        assert self.visited is not None
        if not self.visited.visit(key, self.visited.mask(self._sleep)):
            self.hit = True
            raise _Redundant()


@dataclass(frozen=True)
class _Root:
    """Which first choices a worker explores (all of them for a single worker)."""

    index: int = 0
    workers: int = 1

    def share(self, options: list[Choice]) -> list[Choice]:
        return [o for i, o in enumerate(options) if i % self.workers == self.index]


def _backtrack(stack: list[_Node], root: _Root) -> bool:
    while stack:
        node = stack[-1]
        allowed = node.options if len(stack) > 1 else root.share(node.options)
        nxt = next((o for o in allowed if o not in node.done and o not in node.sleep), None)
        if nxt is not None:
            node.chosen = nxt
            return True
        stack.pop()
    return False


def explore_exhaustive(
    scope: Scope,
    *,
    faults: Sequence[str] = (),
    max_faults: int = 1,
    limit: int | None = None,
    stop_on_violation: bool = False,
    workers: int = 1,
    collect_states: bool = False,
    reduction: Reduction = "states",
    max_seconds: float | None = None,
    max_states: int | None = None,
) -> ExploreResult:
    """Every schedule of `scope` (up to reordering of independent steps and, with state caching,
    up to the state reached), each with at most `max_faults` faults drawn from `faults` at any
    step; stops after `limit` schedules run to their end. `workers` > 1 share out the first
    choice between processes (each subtree is searched without the sleep set its earlier
    siblings would give it, and with its own state cache: a little more work, same cover).
    `collect_states`: keep the end state (`fingerprint`) of every schedule in `.states` and every
    violation in `.found`. `reduction`: see `Reduction`. `max_seconds`: stop (incomplete) after
    this much wall time per worker; `max_states`: after this many states stored per worker (state
    caching: a bound on the work that does not depend on the machine)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, not {reduction!r}")
    faults = tuple(faults)
    start = time.perf_counter()
    if workers <= 1:
        result = _exhaustive_part(
            scope,
            faults,
            max_faults,
            limit,
            stop_on_violation,
            _Root(),
            None,
            collect_states,
            reduction,
            max_seconds,
            max_states,
        )
    else:
        cpus = _cpus()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            parts = pool.starmap(
                _exhaustive_part,
                [
                    (
                        scope,
                        faults,
                        max_faults,
                        limit,
                        stop_on_violation,
                        _Root(w, workers),
                        cpus[w % len(cpus)],
                        collect_states,
                        reduction,
                        max_seconds,
                        max_states,
                    )
                    for w in range(workers)
                ],
            )
        result = _exhaustive_result(scope, faults, collect_states)
        for part in parts:
            result.merge(part)
        result.complete = all(p.complete for p in parts)
    result.elapsed = time.perf_counter() - start
    result.workers = max(1, workers)
    return result


def _exhaustive_result(scope: Scope, faults: tuple[str, ...], collect_states: bool) -> ExploreResult:
    """An empty result of an exhaustive search (with the sets of end states and findings when
    they are collected)."""
    return ExploreResult(
        "exhaustive",
        scope,
        faults,
        states=set() if collect_states else None,
        found=set() if collect_states else None,
    )


def _exhaustive_part(
    scope: Scope,
    faults: tuple[str, ...],
    max_faults: int,
    limit: int | None,
    stop_on_violation: bool,
    root: _Root,
    cpu: int | None,
    collect_states: bool = False,
    reduction: Reduction = "states",
    max_seconds: float | None = None,
    max_states: int | None = None,
) -> ExploreResult:
    result = _exhaustive_result(scope, faults, collect_states)
    stack: list[_Node] = []
    visited = Visited() if reduction == "states" else None
    start = time.perf_counter()
    runs = 0
    with _pinned(cpu):
        while True:
            runs += 1
            if runs % _COLLECT_EVERY == 0:
                # The code under test pauses the collector while it decides and then moves what
                # survived to the oldest generation, where each run's cycles (its actors' greenlet
                # frames, its world) wait for a full collection that comes ever more rarely:
                # gigabytes in minutes. The live heap between runs is small: collect it.
                gc.collect()
            policy = _DepthFirst(stack, faults, max_faults, root, sleep=reduction != "none", visited=visited)
            run = run_schedule(scope, policy, observe=policy.after_step, state=collect_states)
            result.add(run)
            if (stop_on_violation and run.violations) or (limit is not None and result.schedules >= limit):
                break
            if max_seconds is not None and time.perf_counter() - start >= max_seconds:
                break
            if max_states is not None and visited is not None and len(visited) >= max_states:
                break
            if not _backtrack(stack, root):
                result.complete = True
                break
    result.visited = len(visited) if visited is not None else 0
    result.elapsed = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------------------- random


def _seed(seed: int, index: int) -> str:
    return f"{seed}/{index}"


def _random_chunk(
    scope: Scope,
    seed: int,
    indices: range,
    faults: tuple[str, ...],
    fault_rate: float,
    max_faults: int | None,
    stop_on_violation: bool,
    cpu: int | None,
    collect_states: bool = False,
) -> ExploreResult:
    result = ExploreResult("random", scope, faults, states=set() if collect_states else None)
    start = time.perf_counter()
    with _pinned(cpu):
        for i in indices:
            policy = RandomPolicy(
                random.Random(_seed(seed, i)), faults=faults, fault_rate=fault_rate, max_faults=max_faults
            )
            run = run_schedule(scope, policy, state=collect_states)
            result.add(run, seed=_seed(seed, i))
            if stop_on_violation and run.violations:
                break
    result.elapsed = time.perf_counter() - start
    return result


def _random_task(args: tuple[Any, ...]) -> ExploreResult:
    return _random_chunk(*args)


#: Called after each finished chunk of a random exploration: (the counts so far, the index of the
#: first schedule not yet counted; every schedule before it is counted).
Progress = Callable[[ExploreResult, int], None]


def explore_random(
    scope: Scope,
    *,
    schedules: int,
    seed: int = 0,
    faults: Sequence[str] = FAULTS,
    fault_rate: float = 0.1,
    max_faults: int | None = None,
    workers: int = 1,
    stop_on_violation: bool = False,
    collect_states: bool = False,
    start: int = 0,
    progress: Progress | None = None,
    chunk: int | None = None,
) -> ExploreResult:
    """`schedules` random schedules, numbered from `start`: at each step a uniformly random
    actor, carrying with probability `fault_rate` a random fault from `faults`. Schedule i of
    seed s is seeded with ``f"{s}/{i}"``, so any one can be rerun alone and a run cut short is
    resumed with `start` = the first schedule it did not count. The work goes in chunks of
    consecutive schedules (to `workers` processes when > 1); `progress` is called after each, in
    order. A `KeyboardInterrupt` stops the workers; the counts of the finished prefix are what
    `progress` last saw."""
    faults = tuple(faults)
    t0 = time.perf_counter()
    workers = max(1, workers)
    if chunk is None:
        chunk = max(50, min(2000, schedules // (workers * 8) or 1))
    ranges = [range(i, min(i + chunk, start + schedules)) for i in range(start, start + schedules, chunk)]
    tasks = [
        (scope, seed, r, faults, fault_rate, max_faults, stop_on_violation, None, collect_states) for r in ranges
    ]
    result = ExploreResult("random", scope, faults, states=set() if collect_states else None, start=start)
    result.workers = workers

    def parts() -> Iterator[ExploreResult]:
        if workers == 1:
            yield from map(_random_task, tasks)
            return
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            yield from pool.imap(_random_task, tasks)

    done = start
    for task, part in zip(tasks, parts(), strict=False):
        result.merge(part)
        done = task[2].stop
        result.elapsed = time.perf_counter() - t0
        if progress is not None:
            progress(result, done)
        if stop_on_violation and part.violating:
            break
    result.elapsed = time.perf_counter() - t0
    return result


def _cpus() -> list[int | None]:
    try:
        cpus: list[int | None] = list(sorted(os.sched_getaffinity(0)))
        return cpus or [None]
    except AttributeError:  # not Linux
        return [None]


@contextlib.contextmanager
def _pinned(cpu: int | None = None) -> Iterator[None]:
    """With the thread engine, run on one CPU (the first allowed one by default): actor threads
    inherit it, and baton hand-offs between threads on one core avoid cross-core wake-ups.
    Restored afterwards. Greenlets hand off within one thread: nothing to pin."""
    if not hasattr(os, "sched_setaffinity") or scheduler_module.DEFAULT_ENGINE != "thread":
        yield
        return
    before = os.sched_getaffinity(0)
    target = {cpu} if cpu is not None else {min(before)}
    try:
        os.sched_setaffinity(0, target)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# ---------------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m safeguards.testing.explore``: explore, print the counts and the first failing
    schedule; exit 1 if any schedule broke an invariant."""
    p = argparse.ArgumentParser(prog="python -m safeguards.testing.explore", description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=["guarded", "naive"], default="guarded")
    p.add_argument("--enactors", type=int, default=2)
    p.add_argument("--plans", type=int, default=2)
    p.add_argument("--names", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--no-lease", action="store_true", help="enactors run without the plan-store lease")
    p.add_argument("--repairers", type=int, default=0)
    p.add_argument("--rollbackers", type=int, default=0)
    p.add_argument("--cleaners", type=int, default=0)
    p.add_argument("--vandal", action="store_true", help="something outside the library drops ep1 below its minimum")
    p.add_argument("--history", type=int, default=1, help="plans stored to begin with (the last one live)")
    p.add_argument("--exhaustive", action="store_true", help="depth-first over every schedule")
    p.add_argument("--max-faults", type=int, default=1, help="faults per schedule (exhaustive)")
    p.add_argument(
        "--reduction",
        choices=REDUCTIONS,
        default="states",
        help="exhaustive: none, sleep sets, or sleep sets + state caching (default)",
    )
    p.add_argument("--schedules", type=int, default=1000, help="random schedules")
    p.add_argument("--start", type=int, default=0, help="number of the first random schedule (to resume a run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, or 'none'")
    p.add_argument("--fault-rate", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--replay", help="comma-separated schedule to run again")
    p.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines (0: none)")
    p.add_argument("--json", help="write the counts as JSON to this file")
    args = p.parse_args(argv)
    scope = Scope(
        args.kind,
        args.enactors,
        args.plans,
        args.names,
        args.rounds,
        use_lease=not args.no_lease,
        repairers=args.repairers,
        rollbackers=args.rollbackers,
        cleaners=args.cleaners,
        vandal=args.vandal,
        history=args.history,
    )
    faults = () if args.faults == "none" else tuple(f for f in args.faults.split(",") if f)
    if args.replay:
        run = replay(scope, args.replay.split(","))
        for v in run.violations:
            print(v.explain())
        print(f"{len(run.violations)} violation(s); outcomes: {run.outcomes}")
        return 1 if run.violations else 0
    if args.exhaustive:
        result = explore_exhaustive(
            scope, faults=faults, max_faults=args.max_faults, workers=args.workers, reduction=args.reduction
        )
    else:
        got = _random_cli(args, scope, faults, argv)
        if got is None:
            return 130
        result = got
    print(result.summary())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result.to_dict(), fh, indent=2)
    if result.first_failure:
        print(result.first_failure)
        print(
            f"replay: python -m safeguards.testing.explore --kind {args.kind} --enactors {args.enactors} "
            f"--plans {args.plans} --names {args.names} --rounds {args.rounds}"
            f"{' --no-lease' if args.no_lease else ''} --repairers {args.repairers} --rollbackers {args.rollbackers} "
            f"--cleaners {args.cleaners}{' --vandal' if args.vandal else ''} --history {args.history} "
            f"--replay {','.join(result.first_failure.schedule)}"
        )
    return 1 if result.violating else 0


def _random_cli(args: argparse.Namespace, scope: Scope, faults: tuple[str, ...], argv: Any) -> ExploreResult | None:
    """The random mode of the command line: progress lines on stderr, and on an interrupt
    (Ctrl-C, SIGTERM) the counts of the finished prefix and the command that resumes the run."""
    end = args.start + args.schedules
    last: list[Any] = [None, args.start, 0.0]  # counts so far, first schedule not counted, last print

    def show(partial: ExploreResult, done: int) -> None:
        last[0], last[1] = partial, done
        now = time.perf_counter()
        if args.progress <= 0 or (now - last[2] < args.progress and done < end):
            return
        last[2] = now
        n = done - args.start
        rate = n / partial.elapsed if partial.elapsed > 0 else 0.0
        eta = (end - done) / rate if rate > 0 else 0.0
        fired = " ".join(f"{k}={partial.faults_fired.get(k, 0)}" for k in faults)
        print(
            f"  {done - args.start:>11,}/{args.schedules:,} schedules ({100 * n / max(1, args.schedules):5.1f}%), "
            f"{rate:,.0f}/s, ETA {_duration(eta)}, {partial.violating} violating; fired: {fired}",
            file=sys.stderr,
            flush=True,
        )

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return explore_random(
            scope,
            schedules=args.schedules,
            seed=args.seed,
            faults=faults,
            fault_rate=args.fault_rate,
            workers=args.workers,
            start=args.start,
            progress=show,
        )
    except KeyboardInterrupt:
        partial, done = last[0], last[1]
        if partial is not None:
            print(f"interrupted; counted so far: {partial.summary()}")
        words = list(sys.argv[1:] if argv is None else argv)
        words = _without(words, "--start", "--schedules")
        print(
            f"resume with: python -m safeguards.testing.explore {' '.join(words)} "
            f"--start {done} --schedules {end - done}"
        )
        return None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _without(words: list[str], *options: str) -> list[str]:
    """`words` without the given options and their values (``--x v`` or ``--x=v``)."""
    out: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
            continue
        if w in options:
            skip = True
            continue
        if any(w.startswith(o + "=") for o in options):
            continue
        out.append(w)
    return out


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


if __name__ == "__main__":
    sys.exit(main())
