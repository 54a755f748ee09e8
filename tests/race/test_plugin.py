"""The pytest plugin's fixtures, used the way the README shows."""

from __future__ import annotations

import pytest

from safeguards.errors import StaleGeneration
from safeguards.testing.scheduler import Scheduler


def test_two_enactors_and_a_planner(race_world, race_scheduler, enactor_factory, invariant_checker) -> None:
    race_world.publish(2)
    race_world.publish(3)
    enactor_factory("A")
    enactor_factory("B", body=lambda applier, ctx: applier.apply(race_world.plan(2)))
    race_scheduler.run()
    assert invariant_checker.finish() == []
    assert race_world.fence_generation() == 3  # I4: the newest plan is live after a healthy round


def test_fixtures_share_one_world(race_world, strict_route53, plan_store) -> None:
    assert strict_route53 is race_world.model and plan_store is race_world.store
    assert plan_store.generations(race_world.zone) == [1]
    assert strict_route53.resolve_zone(race_world.zone) == race_world.zone_id


def test_a_custom_body_gets_an_applier_bound_to_the_scheduler(
    race_world, race_scheduler, enactor_factory, invariant_checker
) -> None:
    seen: list[str] = []
    race_world.publish(2)

    def body(applier, ctx):
        applier.apply(race_world.plan(2))
        seen.append(ctx.name)

    enactor_factory("A", body=body)
    race_scheduler.run()
    # The applier parked at every checkpoint: the trace holds them.
    assert [e.checkpoint for e in race_scheduler.trace][:3] == ["plan.loaded", "zone.read", "fence.checked"]
    assert seen == ["A"] and invariant_checker.ok


def test_a_stalled_enactor_is_fenced_out(race_world, enactor_factory, invariant_checker) -> None:
    """The 2025 stall with the fixtures: A stalls before its write, B applies a newer plan."""
    race_world.publish(2)
    race_world.publish(3)
    outcomes: dict[str, object] = {}

    def stale(applier, ctx):
        try:
            applier.apply(race_world.plan(2))
        except StaleGeneration as exc:
            outcomes[ctx.name] = exc

    sched: Scheduler = enactor_factory.scheduler
    enactor_factory("A", body=stale)
    enactor_factory("B", body=lambda applier, ctx: applier.apply(race_world.plan(3)))
    while sched.parked_at("A")[0] != "batch.before":
        sched.step("A")
    sched.step("A+delay")  # A's lease expires while it is stalled
    while not sched.is_done("B"):
        sched.step("B")
    sched.step("A")
    assert isinstance(outcomes.get("A"), StaleGeneration)
    assert invariant_checker.finish() == [] and race_world.fence_generation() == 3


@pytest.mark.parametrize("seed", range(5))
def test_seeded_interleavings_hold(seed, race_world, enactor_factory, invariant_checker) -> None:
    from safeguards.testing.scheduler import RandomPolicy

    for g in (2, 3):
        race_world.publish(g)
    for name in "ABC":
        enactor_factory(name, rounds=2)
    enactor_factory.scheduler.run(RandomPolicy(seed))
    assert invariant_checker.finish() == []
