"""A counterexample trail of the naive model, replayed in the Python race harness.

The naive model (naive.pml) takes the same steps as the harness: one model step is one
scheduler step, an actor running from the checkpoint it is parked at to its next one. Each step
prints ``<actor> <fault> <checkpoint> g=<generation> i=<index>``; `parse_trail` reads those
lines, `schedule` turns them into a harness schedule (``"C"``, ``"B+crash"``,
``"A+stale_read"``...), and `replay_in_harness` runs that schedule on a naive `World` with the
same actors (planner P publishing g2 .. gN, enactors A, B, C, one round each) and checks, step
by step, that the harness parks at the checkpoint the model reached.

Only the harness's public pieces are used: `World`, `Scheduler`, `InvariantChecker`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..invariants import InvariantChecker, Violation
from ..scheduler import DONE, Scheduler
from ..world import World

_LINE = re.compile(r"^(?P<actor>\w+) (?P<fault>\w+) (?P<checkpoint>\S+) g=(?P<g>\d+) i=(?P<i>\d+)$")


@dataclass(frozen=True)
class ModelStep:
    """One step of a naive-model trail."""

    actor: str
    fault: str | None
    checkpoint: str
    generation: int
    index: int

    @property
    def choice(self) -> str:
        """The harness schedule entry."""
        return self.actor if self.fault is None else f"{self.actor}+{self.fault}"

    def __str__(self) -> str:
        where = f" {self.index}" if self.index else ""
        return f"{self.choice}: {self.checkpoint} g{self.generation}{where}"


def parse_trail(lines: Iterable[str]) -> list[ModelStep]:
    """The model steps among `lines` (the ``@@`` lines of ``spin -t``, prefix stripped or not)."""
    steps = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("@@ "):
            line = line[3:]
        m = _LINE.match(line)
        if m is None:
            continue
        fault = m["fault"]
        steps.append(
            ModelStep(m["actor"], None if fault == "none" else fault, m["checkpoint"], int(m["g"]), int(m["i"]))
        )
    return steps


def schedule(steps: Sequence[ModelStep]) -> list[str]:
    """The harness schedule of a model trail."""
    return [s.choice for s in steps]


@dataclass
class Replay:
    """The harness's side of a replayed trail."""

    schedule: list[str]
    checkpoints: list[str]
    mismatches: list[str]
    violations: list[Violation]
    values: dict[str, tuple[str, ...]]
    endpoints: list[str]
    outcomes: dict[str, str | None] = field(default_factory=dict)

    @property
    def empty(self) -> list[str]:
        """Endpoints left with no values."""
        return [e for e in self.endpoints if not self.values[e]]

    def broken(self, step: int | None = None) -> list[str]:
        """Invariants violated (at `step`, if given)."""
        return sorted({v.invariant for v in self.violations if step is None or v.step == step})


def _expected(step: ModelStep) -> dict[str, int]:
    if step.checkpoint in ("batch.before", "batch.after"):
        return {"generation": step.generation, "index": step.index}
    if step.checkpoint == DONE:
        return {}
    return {"generation": step.generation}


def replay_in_harness(
    steps: Sequence[ModelStep],
    *,
    endpoints: int = 2,
    generations: int = 3,
    enactors: Sequence[str] = ("A", "B", "C"),
    keep: int = 0,
    restarts: int = 1,
) -> Replay:
    """Run the trail's schedule on a naive harness world of the model's shape (`endpoints`,
    plans g1 .. g`generations` with g1 live at the start, `keep`) and compare every step's
    checkpoint with the model's."""
    world = World.create("naive", endpoints, keep=keep)
    world.bootstrap(1)
    checker = InvariantChecker(world)
    mismatches: list[str] = []
    checkpoints: list[str] = []
    with Scheduler(schedule=[], model=world.model, clock=world.clock) as sched:
        sched.delay_seconds = world.options.lease_ttl + 1
        sched.add_actor("P", world.planner_body(range(2, generations + 1)))
        for name in enactors:
            sched.add_actor(name, world.enactor_body(rounds=1), restarts=restarts)
        checker.attach(sched)
        for n, step in enumerate(steps, 1):
            entry = sched.step(step.choice)
            checkpoints.append(entry.checkpoint)
            want = _expected(step)
            got = {k: entry.context.get(k) for k in want}
            if entry.checkpoint != step.checkpoint or got != want:
                mismatches.append(
                    f"step {n} {step.choice}: model reached {step.checkpoint} {want}, harness {entry.checkpoint} {got}"
                )
            if step.fault is not None and not entry.fired and step.fault != "crash":
                mismatches.append(f"step {n} {step.choice}: the fault did not fire in the harness")
        outcomes = {a: sched.outcome(a) for a in sched.actors}
    return Replay(
        schedule=schedule(steps),
        checkpoints=checkpoints,
        mismatches=mismatches,
        violations=list(checker.violations),
        values=world.values(),
        endpoints=list(world.endpoints),
        outcomes=outcomes,
    )
