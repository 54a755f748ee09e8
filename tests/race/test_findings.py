"""What the race harness found in the applier, kept as regression tests once fixed.

A lagging ListResourceRecordSets right after our own accepted batch used to fail the stage's
read-back and roll a good change back (found by tests/race/test_stateful.py); the applier now
reads again, bounded, until it sees the fence it wrote."""

from __future__ import annotations

from safeguards.testing.invariants import InvariantChecker
from safeguards.testing.scheduler import Scheduler
from safeguards.testing.world import World, endpoint_values_for


def test_a_lagging_read_after_our_own_batch_is_not_a_failed_verification() -> None:
    world = World.create("guarded", 1)
    world.bootstrap(1)
    world.publish(2)
    checker = InvariantChecker(world)
    # A: plan.loaded, zone.read, fence.checked, batch.before, batch.after; then the read-back
    # of the stage reads a copy that lags one batch behind.
    schedule = ["A"] * 5 + ["A+stale_read"]
    with Scheduler(schedule=schedule, model=world.model, clock=world.clock) as sched:
        sched.add_actor("A", world.enactor_body())
        checker.attach(sched)
        for choice in schedule:
            sched.step(choice)
        while sched.enabled:
            sched.step("A")
    assert checker.violations == []  # I1-I5 hold either way: the rollback is a new generation
    assert (sched.outcome("A") or "").startswith("applied g2"), sched.outcome("A")
    assert world.values()[world.endpoints[0]] == endpoint_values_for(2, 0)
