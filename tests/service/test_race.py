"""Three enactors on one plan store, racing a planner: under the deterministic scheduler (every
interleaving replayable, I1-I5 checked after every step, crashes and model faults injected) and
as free-running threads on one embedded store with a watcher reading the zone all along."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from _svc import Service, make_service

from safeguards.records import RecordSet
from safeguards.service import Enactor
from safeguards.testing.invariants import InvariantChecker
from safeguards.testing.scheduler import FAULTS, ActorContext, RandomPolicy, Scheduler
from safeguards.testing.world import World, generation_of

SEEDS = range(40)


def enactor_body(world: World, rounds: int) -> Any:
    """An actor running our `Enactor` (its Applier bound to the scheduler) for `rounds` cycles."""

    def body(ctx: ActorContext) -> str:
        world.roles[ctx.name] = "enactor"
        applier = world.applier(ctx)
        enactor = Enactor(applier, [world.zone], clock=world.clock, rng=random.Random(ctx.name), interval=10.0)
        outcomes: list[str] = []
        for r in range(rounds):
            if r:
                ctx.checkpoint("round.end", enactor=ctx.name, round=r, outcome=outcomes[-1])
            outcomes.append("; ".join(f"{x.action}:{x.outcome}" for x in enactor.run_once()))
            world.clock.advance(10.0)  # the interval passes (virtual): backoffs run out
        return " | ".join(outcomes)

    return body


@pytest.mark.parametrize("seed", SEEDS)
def test_three_enactors_and_a_planner_keep_i1_to_i5_under_seeded_interleavings_and_faults(seed: int) -> None:
    world = World.create("guarded", 3)
    world.bootstrap(1)
    policy = RandomPolicy(seed, faults=FAULTS, fault_rate=0.08, max_faults=4)
    with Scheduler(policy=policy, model=world.model, clock=world.clock, delay_seconds=world.options.lease_ttl + 1) as s:
        checker = InvariantChecker(world).attach(s)
        s.add_actor("P", world.planner_body([2, 3, 4, 5, 6]), restarts=3)  # re-publishing is a no-op
        for name in ("A", "B", "C"):
            s.add_actor(name, enactor_body(world, rounds=3), restarts=2)
        s.run()
        unexpected = [(a, s.error(a)) for a in s.actors if s.error(a) is not None and "Crash" not in repr(s.error(a))]
        assert unexpected == [], unexpected
        # One more cycle of any of our enactors (free, healthy) converges on the newest plan (I4).
        store_newest = world.newest()
        assert store_newest is not None and store_newest.generation == 6
        Enactor(world.applier(None, "D"), [world.zone], clock=world.clock).run_once()
        values = world.values()
        assert {e: generation_of(v) for e, v in values.items()} == dict.fromkeys(world.endpoints, 6), values
        violations = checker.finish()
        assert violations == [], violations[0].explain()


def test_three_enactor_threads_converge_while_a_planner_publishes_and_a_watcher_reads() -> None:
    svc = make_service(interval=10.0)
    enactors = [svc.enactor(n) for n in ("A", "B", "C")]
    published = threading.Event()
    stop = threading.Event()
    seen: list[tuple[int, int, dict[str, int]]] = []
    problems: list[str] = []
    newest = 30

    def watch() -> None:
        """I1 and I2 on what Route 53 holds, read as often as the threads let it."""
        last: tuple[int, int] = (0, 0)
        while not stop.is_set():
            sets: list[RecordSet] = list(svc.world.sets())
            fence = svc.fence()
            vals = svc.world.values(sets)
            empty = [e for e, v in vals.items() if not v]
            if empty:
                problems.append(f"I1: {empty} empty at fence {fence.label() if fence else None}")
            if fence is not None:
                if fence.rank < last:
                    problems.append(f"I2: fence went from {last} down to {fence.rank}")
                last = max(last, fence.rank)
                seen.append((fence.generation, fence.rev, {e: generation_of(v) or -1 for e, v in vals.items()}))

    def plan() -> None:
        for g in range(2, newest + 1):
            svc.publish(g)
        published.set()

    def enact(e: Enactor) -> None:
        for _ in range(400):
            e.run_once(full=True)
            svc.clock.advance(1.0)
            if published.is_set() and svc.live_is(svc.world.plan(newest)):
                return

    watcher = threading.Thread(target=watch)
    threads = [threading.Thread(target=plan)] + [threading.Thread(target=enact, args=(e,)) for e in enactors]
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    watcher.join(30)
    assert not any(t.is_alive() for t in [*threads, watcher])
    assert problems == [], problems[:3]
    assert svc.live_is(svc.world.plan(newest))  # I4: converged on the newest
    assert len(seen) > 10  # the watcher really watched
    # I3: the live plan and the last known good are still in the store; old ones were cleaned up.
    gens = svc.store.generations(svc.zone)
    assert newest in gens and len(gens) <= svc.world.options.keep_plans + 2
    applied = sum(e.metrics.total("applies_total") for e in enactors)
    assert applied >= 1
    # No enactor's circuit opened; nobody failed on anything but contention.
    assert not svc.store.state(svc.zone).circuit_open
    assert all(e.metrics.total("refusals_total") == 0 for e in enactors)


def test_service_helpers_read_without_api_calls(svc: Service) -> None:
    calls = sum(svc.model.calls.values())
    assert svc.live_is(svc.world.plan(1))
    assert sum(svc.model.calls.values()) == calls
