"""Teeth: take one safeguard out and the same guarded replay must turn red. If these pass with
the safeguard removed, the harness proves nothing."""

from __future__ import annotations

import dataclasses

import pytest

from safeguards import guards
from safeguards.backends.strict import StrictRoute53
from safeguards.testing.scenario import replay_outage


def _unconditional_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DELETE is rewritten to match whatever is current (or dropped when nothing is):
    the batch no longer compares anything, like an UPSERT. The fence DELETE stops fencing."""
    real = StrictRoute53.change_record_sets

    def unconditional(self, zone_id, changes, comment=""):  # type: ignore[no-untyped-def]
        current = {r.key: r for r in self.list_record_sets(zone_id)}
        fixed = [
            dataclasses.replace(c, rrset=current[c.rrset.key]) if c.action == "DELETE" else c
            for c in changes
            if c.action != "DELETE" or c.rrset.key in current
        ]
        return real(self, zone_id, fixed, comment)

    monkeypatch.setattr(StrictRoute53, "change_record_sets", unconditional)


def test_baseline_is_green() -> None:
    assert replay_outage("guarded").violations == []


def test_without_the_fence_compare_and_set_the_stale_write_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _unconditional_deletes(monkeypatch)
    report = replay_outage("guarded")
    assert report.violations, "the harness missed a stale write with the fence disabled"
    assert "I2" in report.broken
    i2 = next(v for v in report.violations if v.invariant == "I2")
    assert "g6 to g2" in i2.message
    assert report.steps[i2.step].actor == "A"  # A's stale batch went through
    # ... and with the live generation now g2, B's clean-up deletes the plan that is live.
    assert "I3" in report.broken


def test_without_the_never_empty_guard_the_bad_plan_empties_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "check_never_empty", lambda plan, observed, diff: [])
    report = replay_outage("guarded")
    assert report.violations, "the harness missed the bad plan with the never-empty guard disabled"
    assert "I1" in report.broken
    i1 = next(v for v in report.violations if v.invariant == "I1")
    assert "regional is EMPTY" in i1.message
    assert report.steps[i1.step].actor == "C"  # C applied the plan that drops the endpoint


def _recovery_race(first: str) -> tuple[list[str], list[str]]:
    """g1, g2 stored, g2 live (two values per name, at least 2); V drops the endpoint to one
    value; `first` (R: repair, U: rollback) reads and decides, then waits while P publishes g3 and
    A applies it; then `first` goes on. Returns (violations, outcome of `first`)."""
    from safeguards.testing.invariants import InvariantChecker
    from safeguards.testing.scenario import Cue, ScriptPolicy
    from safeguards.testing.scheduler import Scheduler
    from safeguards.testing.world import World, default_options, endpoint_names

    world = World.create(
        "guarded", 1, keep=2, options=default_options(keep_plans=2), min_values=dict.fromkeys(endpoint_names(1), 2)
    )
    world.bootstrap(2, earlier=[1])
    checker = InvariantChecker(world)
    action = "repair" if first == "R" else "rollback"
    cues = [Cue("V"), Cue(first, "decided", {"action": action}), Cue("P"), Cue("A"), Cue(first)]
    with Scheduler(policy=ScriptPolicy(cues), model=world.model, clock=world.clock, delay_seconds=31.0) as sched:
        sched.add_actor("P", world.planner_body([3]))
        sched.add_actor("A", world.enactor_body())
        sched.add_actor(first, world.repairer_body() if first == "R" else world.rollbacker_body())
        sched.add_actor("V", world.vandal_body())
        checker.attach(sched)
        sched.run()
    checker.finish()
    return [str(v) for v in checker.violations], [sched.outcome(first) or ""]


@pytest.mark.parametrize("first", ["R", "U"], ids=["repair", "rollback"])
def test_recovery_baseline_is_green(first: str) -> None:
    violations, (outcome,) = _recovery_race(first)
    assert violations == []
    assert outcome == "noop g3" if first == "R" else outcome.startswith("StaleGeneration")


@pytest.mark.parametrize("first", ["R", "U"], ids=["repair", "rollback"])
def test_without_the_fence_compare_and_set_a_stale_correction_reverts_the_newer_plan(
    monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """The decision's read is only enforced by the fence DELETE in its first batch: take that out
    and the repair (rollback) decided on g2 lands over g3, which the harness must see (I2)."""
    _unconditional_deletes(monkeypatch)
    violations, (outcome,) = _recovery_race(first)
    assert any(v.startswith("I2") for v in violations), (violations, outcome)
