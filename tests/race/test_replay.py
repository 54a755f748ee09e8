"""The 2025 race replayed under the deterministic scheduler: the naive enactor empties the
regional endpoint and breaks I1 and I2; the guarded applier holds I1-I5 on the same timeline."""

from __future__ import annotations

import json

import pytest

from safeguards.testing.scenario import NEWEST, replay_outage
from safeguards.testing.scheduler import Scheduler
from safeguards.testing.world import World


@pytest.mark.parametrize("endpoints", [2, 3, 5])
def test_naive_enactor_empties_the_regional_endpoint(endpoints: int) -> None:
    report = replay_outage("naive", endpoints=endpoints)
    regional = report.endpoints[-1]
    assert report.final[regional] == []
    assert {"I1", "I2"} <= set(report.broken)
    i1 = [v for v in report.violations if v.invariant == "I1"]
    assert any("regional is EMPTY" in v.message for v in i1)
    # The stale write came from A, after B had made g6 live: the pointer went back.
    i2 = next(v for v in report.violations if v.invariant == "I2")
    assert "g6 back to g2" in i2.message
    assert report.steps[i2.step].actor == "A"
    # The emptying step is B's clean-up of A's plan.
    emptied = report.steps[i1[0].step]
    assert emptied.actor == "B" and emptied.checkpoint == "cleanup.after"


@pytest.mark.parametrize("endpoints", [2, 3, 5])
def test_guarded_applier_holds_every_invariant(endpoints: int) -> None:
    report = replay_outage("guarded", endpoints=endpoints)
    assert report.violations == []
    assert report.outcomes["A"] is not None and report.outcomes["A"].startswith("StaleGeneration")
    assert "refused g3 by the never-empty guard" in (report.outcomes["C"] or "")
    assert report.live == NEWEST
    want = World.create("guarded", endpoints).plan(NEWEST)
    assert report.final == {r.name: list(r.values) for r in want.records}


def test_both_replays_follow_the_same_timeline() -> None:
    """Same cues for both kinds: A stalls after its first endpoint, B cleans up while A is
    stalled, then A resumes. Only what the enactors do at each cue differs."""
    naive, guarded = replay_outage("naive"), replay_outage("guarded")
    for report in (naive, guarded):
        stall = next(s for s in report.steps if "stalls" in s.action)
        assert stall.actor == "A"
        assert stall.labels[report.endpoints[0]] == "g2"  # the first endpoint was written
        assert all(stall.labels[e] == "g1" for e in report.endpoints[1:])
        actors_after = [s.actor for s in report.steps[stall.index + 1 :]]
        assert actors_after.index("B") < actors_after.index("A")


def test_the_replay_is_deterministic_and_replayable() -> None:
    first, second = replay_outage("naive"), replay_outage("naive")
    assert first.to_dict() == second.to_dict()
    # The recorded schedule replays the same interleaving through a plain Scheduler.
    world = World.create("naive", 3, keep=2)
    world.bootstrap(1)
    from safeguards.testing.invariants import InvariantChecker

    checker = InvariantChecker(world)
    with Scheduler(schedule=first.schedule, model=world.model, clock=world.clock) as sched:
        sched.delay_seconds = world.options.lease_ttl + 1
        sched.add_actor("P", world.planner_body(range(2, NEWEST + 1), bad=[3]))
        sched.add_actor("A", world.enactor_body())
        sched.add_actor("B", world.enactor_body())
        sched.add_actor("C", world.enactor_body(rounds=2))
        checker.attach(sched)
        sched.run()
    checker.finish()
    assert [str(v) for v in checker.violations] == [str(v) for v in first.violations]
    assert {e: list(v) for e, v in world.values().items()} == first.final


def test_report_is_json_and_violations_carry_their_schedule() -> None:
    report = replay_outage("naive")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["kind"] == "naive" and data["ok"] is False
    for v in report.violations:
        if v.step is not None:
            assert len(v.schedule) == v.step  # the schedule up to and including the step
            assert v.trace[-1].step == v.step
    assert "schedule=" in report.violations[0].explain()


def test_render_prints_the_timeline_and_the_verdict() -> None:
    from rich.console import Console

    from safeguards.testing.render import render_report

    console = Console(record=True, width=160, color_system=None)
    render_report(console, replay_outage("naive"))
    render_report(console, replay_outage("guarded"))
    text = console.export_text()
    assert "EMPTY" in text and "I1" in text
    assert "naive: " in text and "guarded: I1-I5 held" in text
    assert "stalls at batch.before" in text


def test_one_endpoint_is_refused() -> None:
    with pytest.raises(ValueError):
        replay_outage("naive", endpoints=1)
