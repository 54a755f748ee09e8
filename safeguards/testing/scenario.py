"""The October 2025 race, replayed step by step under the deterministic scheduler.

Actors: the planner P and enactors A, B, C on one zone with endpoints ep1.., regional.
Before the race, plan g1 is live on every endpoint. Then (K = 2 plans kept):

 1. P publishes g2.
 2. A picks g2, passes its freshness check, writes the first endpoint, and is about to write the
    rest when it stalls (a long pause: its lease expires).
 3. P publishes g3, a bad plan (a planner bug drops the regional endpoint); C picks it up.
 4. P publishes g4 .. g6.
 5. B picks g6, applies it everywhere, and starts cleaning up plans older than g6 - K: it
    deletes g1 and is about to delete g2.
 6. A resumes, still believing g2 is fresh.
 7. B's clean-up goes on (it deletes g2, A's plan); C's next round cleans up again.

Naive enactors: at 6, A writes g2 over g6 on the remaining endpoints (I2); at 7, deleting g2
deletes the records of every endpoint whose live plan is g2: the regional endpoint ends EMPTY
(I1), pointing at a deleted plan (I3), and no later round repairs it (I4).

Guarded appliers: C's bad plan is refused by the never-empty guard with nothing written (I5);
at 6, A's batch DELETEs the fence as it read it, Route 53 rejects it, A re-reads and stops with
StaleGeneration; clean-up never deletes the live plan; g6 stays live everywhere.

`replay_outage` returns a `Report`; `safeguards.testing.render.render_report` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .invariants import InvariantChecker, Violation
from .scheduler import DONE, Choice, Scheduler, SchedulerError, TraceEntry
from .world import Kind, World

#: The newest generation the planner publishes, the bad one, and how many plans clean-up keeps.
NEWEST = 6
BAD = 3
KEEP = 2


class ScenarioError(SchedulerError):
    """The scripted timeline could not be followed (an actor ended before its cue)."""


@dataclass(frozen=True)
class Cue:
    """Run `actor` until it parks at `checkpoint` with a context matching `where` (`DONE`: to
    its end); `fault` applies to this cue's first step ("delay" stalls without running)."""

    actor: str
    checkpoint: str = DONE
    where: Mapping[str, Any] = field(default_factory=dict)
    fault: str | None = None

    def reached(self, scheduler: Scheduler) -> bool:
        name, ctx = scheduler.parked_at(self.actor)
        return name == self.checkpoint and all(ctx.get(k) == v for k, v in self.where.items())


class ScriptPolicy:
    """Follows a list of cues; each cue takes as many steps as it needs."""

    def __init__(self, cues: Sequence[Cue]) -> None:
        self.cues = list(cues)
        self.position = 0
        self._started = False

    def choose(self, scheduler: Scheduler, enabled: Sequence[str]) -> Choice:
        while self.position < len(self.cues):
            cue = self.cues[self.position]
            if cue.fault == "delay":
                if self._started:  # the stall is a single pseudo-step
                    self._advance()
                    continue
                self._started = True
                return Choice(cue.actor, "delay")
            if (self._started or cue.checkpoint == DONE) and cue.reached(scheduler):
                self._advance()
                continue
            if scheduler.is_done(cue.actor):
                raise ScenarioError(
                    f"{cue.actor} ended ({scheduler.outcome(cue.actor)}) "
                    f"before reaching {cue.checkpoint} {dict(cue.where)}",
                    trace=scheduler.trace,
                    schedule=scheduler.schedule,
                )
            first = not self._started
            self._started = True
            return Choice(cue.actor, cue.fault if first else None)
        raise ScenarioError(
            f"the script ended but {list(enabled)} can still run", trace=scheduler.trace, schedule=scheduler.schedule
        )

    def _advance(self) -> None:
        self.position += 1
        self._started = False


def outage_script(world: World) -> list[Cue]:
    """The cues of the timeline in the module doc, for either kind."""
    return [
        Cue("P", "plan.published", {"generation": 2}),
        Cue("A", "batch.before", {"index": 2}),
        Cue("A", fault="delay"),
        Cue("P", "plan.published", {"generation": BAD}),
        Cue("C", "round.end"),
        Cue("P", "plan.published", {"generation": NEWEST}),
        Cue("B", "cleanup.before", {"generation": 2}),
        Cue("A"),
        Cue("B"),
        Cue("C"),
        Cue("P"),
    ]


# ---------------------------------------------------------------------------------- report


@dataclass
class Step:
    """One line of the timeline: who did what, and every endpoint's values afterwards."""

    index: int
    actor: str
    action: str
    checkpoint: str
    records: dict[str, list[str]]
    labels: dict[str, str]
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "actor": self.actor,
            "action": self.action,
            "checkpoint": self.checkpoint,
            "records": self.records,
            "labels": self.labels,
            "violations": self.violations,
        }


@dataclass
class Report:
    """The replay: `kind`, the violations, the timeline `steps`, the `final` values per
    endpoint (at the end of the timeline), the schedule to replay it and each actor's outcome."""

    kind: str
    endpoints: list[str]
    violations: list[Violation]
    steps: list[Step]
    final: dict[str, list[str]]
    schedule: list[str]
    outcomes: dict[str, str | None]
    live: int | None
    newest: int

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def broken(self) -> list[str]:
        """The invariants violated, each once, in order (e.g. ["I1", "I2", "I3"])."""
        return sorted({v.invariant for v in self.violations})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "endpoints": self.endpoints,
            "broken": self.broken,
            "violations": [{k: v for k, v in viol.to_dict().items() if k != "trace"} for viol in self.violations],
            "steps": [s.to_dict() for s in self.steps],
            "final": self.final,
            "schedule": self.schedule,
            "outcomes": self.outcomes,
            "live": self.live,
            "newest": self.newest,
        }


def replay_outage(kind: Kind, *, endpoints: int = 3, seed: int = 0) -> Report:
    """Replay the 2025 race with `kind` enactors ("naive" or "guarded") on `endpoints`
    endpoints (at least 2). `seed` seeds the enactors' backoff jitter only: the interleaving
    is the scripted one."""
    if endpoints < 2:
        raise ValueError("the race needs at least 2 endpoints (one written before the stall, one after)")
    world = World.create(kind, endpoints, keep=KEEP)
    world.bootstrap(1)
    checker = InvariantChecker(world)
    sched = Scheduler(policy=ScriptPolicy(outage_script(world)), model=world.model, clock=world.clock)
    sched.delay_seconds = world.options.lease_ttl + 1
    sched.add_actor("P", world.planner_body(range(2, NEWEST + 1), bad=[BAD]))
    for name in ("A", "B"):
        sched.add_actor(name, world.enactor_body(rounds=1))
    sched.add_actor("C", world.enactor_body(rounds=2))
    _ = seed  # the enactors' jitter is seeded by name; kept for API stability
    steps = [_setup_step(world)]
    checker.attach(sched)
    seen = 0

    def record(entry: TraceEntry) -> None:
        nonlocal seen
        new = checker.violations[seen:]
        seen = len(checker.violations)
        steps.append(_step(world, entry, steps[-1].labels, [str(v) for v in new]))

    sched.on_step(record)
    with sched:
        sched.run()
    final = {e: list(v) for e, v in world.values().items()}
    live = world.fence_generation() if kind == "guarded" else _common(world.pointers())
    checker.finish()
    if checker.violations[seen:]:
        steps.append(
            Step(
                len(steps),
                "healthy",
                f"one healthy round: {checker.healthy_outcome}",
                DONE,
                {e: list(v) for e, v in world.values().items()},
                {e: world.label(v) for e, v in world.values().items()},
                [str(v) for v in checker.violations[seen:]],
            )
        )
    return Report(
        kind=kind,
        endpoints=list(world.endpoints),
        violations=list(checker.violations),
        steps=steps,
        final=final,
        schedule=list(sched.schedule),
        outcomes={a: sched.outcome(a) for a in sched.actors},
        live=live,
        newest=NEWEST,
    )


def _common(pointers: Mapping[str, int | None]) -> int | None:
    gens = set(pointers.values())
    return gens.pop() if len(gens) == 1 else None


def _setup_step(world: World) -> Step:
    values = world.values()
    return Step(
        0,
        "setup",
        "g1 is live on every endpoint",
        "",
        {e: list(v) for e, v in values.items()},
        {e: world.label(v) for e, v in values.items()},
    )


def _step(world: World, entry: TraceEntry, before: Mapping[str, str], violations: list[str]) -> Step:
    values = world.values()
    labels = {e: world.label(v) for e, v in values.items()}
    action = describe(world, entry)
    changed = [f"{e.split('.', 1)[0]} := {labels[e]}" for e in world.endpoints if labels[e] != before.get(e)]
    if changed and entry.checkpoint == "batch.after":
        action += f": {', '.join(changed)}"
    return Step(
        entry.step, entry.actor, action, entry.checkpoint, {e: list(v) for e, v in values.items()}, labels, violations
    )


def describe(world: World, entry: TraceEntry) -> str:
    """A person's reading of one step (what the actor did to reach its checkpoint)."""
    c = entry.context
    g = c.get("generation")
    where = f"{c.get('index')}/{c.get('total')}"
    endpoint = str(c.get("endpoint", "")).split(".", 1)[0]
    if entry.fault == "delay":
        return f"stalls at {entry.checkpoint} for {world.options.lease_ttl + 1:.0f} s (its lease expires)"
    prefix = "crashed and restarted; " if entry.fault == "crash" else ""
    text = {
        "plan.published": f"publishes g{g}" + (" (bad: drops the regional endpoint)" if c.get("bad") else ""),
        "plan.loaded": f"picks g{g}, the newest plan",
        "zone.read": f"reads the zone for g{g}",
        "fence.checked": _freshness(world, g, c.get("live")),
        "batch.before": f"about to write batch {where} of g{g}" + (f" ({endpoint})" if endpoint else ""),
        "batch.after": f"wrote batch {where} of g{g} " + ("with UPSERT" if endpoint else "as a compare-and-set"),
        "stage.verified": f"stage {c.get('stage')} of g{g} verified",
        "store.recorded": f"records g{g} as applied",
        "cleanup.before": f"clean-up: about to delete plan g{g}",
        "cleanup.after": f"clean-up: deleted plan g{g}"
        + (f" and the records of {', '.join(e.split('.', 1)[0] for e in c['emptied'])}" if c.get("emptied") else ""),
        "decided": _decided(c),
        "restore.before": f"a failed gate: about to restore the content before g{g}",
        "round.end": f"round done: {c.get('outcome')}",
        DONE: f"done: {entry.outcome}",
    }.get(entry.checkpoint, entry.checkpoint)
    return prefix + text


def _decided(c: Mapping[str, Any]) -> str:
    """A repair's, rollback's or clean-up's decision, made on one read (the write waits)."""
    action, g = c.get("action"), c.get("generation")
    if action == "repair":
        n = c.get("broken") or 0
        return f"repair decided on g{g}: {n} set(s) to restore" if n else f"repair decided on g{g}: nothing to repair"
    if action == "rollback":
        return f"rollback decided while g{g} is live: back to g{c.get('to')}'s content"
    return f"clean-up decided on g{g}"


def _freshness(world: World, generation: Any, live: Any) -> str:
    if live is None or generation > live:
        what = "last applied" if world.kind == "naive" else "live"
        return f"freshness check passes for g{generation} ({what}: {'g' + str(live) if live else 'none'})"
    if world.kind == "naive":
        return f"freshness check: g{generation} is not newer than the applied g{live}, nothing to write"
    return f"g{generation} is already live: finish or no-op"
