"""Trail translation without Spin: model steps written by hand (in the format naive.pml prints)
replay in the Python race harness with the checkpoints the model reaches. These run everywhere;
tests/models/test_spin_models.py replays the trails Spin finds."""

from __future__ import annotations

from safeguards.testing.models.trail import parse_trail, replay_in_harness


def test_a_handwritten_schedule_of_the_2025_race_agrees_with_the_model() -> None:
    """The translation does not depend on Spin's output format alone: the 2025 timeline as
    model steps (A writes ep1 with g2, stalls; B applies g3 and cleans up; A writes regional;
    B deletes g2 with the regional records) replays the same way."""
    lines = """
        P none plan.published g=2 i=0
        A none plan.loaded g=2 i=0
        A none fence.checked g=2 i=0
        A none batch.before g=2 i=1
        A none batch.after g=2 i=1
        A none batch.before g=2 i=2
        P none plan.published g=3 i=0
        B none plan.loaded g=3 i=0
        B none fence.checked g=3 i=0
        B none batch.before g=3 i=1
        B none batch.after g=3 i=1
        B none batch.before g=3 i=2
        B none batch.after g=3 i=2
        B none store.recorded g=3 i=0
        B none cleanup.before g=1 i=0
        B none cleanup.after g=1 i=0
        B none cleanup.before g=2 i=0
        A none batch.after g=2 i=2
        B none cleanup.after g=2 i=0
    """.splitlines()
    replay = replay_in_harness(parse_trail(lines))
    assert replay.mismatches == []
    assert [e.split(".", 1)[0] for e in replay.empty] == ["regional"]
    assert "I1" in replay.broken(step=19)


def test_faults_translate_to_the_harness_too() -> None:
    """A trail step with a fault becomes "<actor>+<fault>" (the fault belongs to the step that
    starts at the previous checkpoint, as in the model). Here B crashes at its last clean-up step
    of the 2025 timeline, restarts from scratch in the same step, finds g3 applied and cleans up
    again; its zone read is stale (the zone before A's stale write), so it sees no endpoint
    pointing at g2 and deletes the plan alone: regional keeps g2's values but points at a
    deleted plan (I3), in the model and in the harness alike."""
    lines = """
        P none plan.published g=2 i=0
        A none plan.loaded g=2 i=0
        A none fence.checked g=2 i=0
        A none batch.before g=2 i=1
        A none batch.after g=2 i=1
        A none batch.before g=2 i=2
        P none plan.published g=3 i=0
        B none plan.loaded g=3 i=0
        B none fence.checked g=3 i=0
        B none batch.before g=3 i=1
        B none batch.after g=3 i=1
        B none batch.before g=3 i=2
        B none batch.after g=3 i=2
        B none store.recorded g=3 i=0
        B none cleanup.before g=1 i=0
        B none cleanup.after g=1 i=0
        B none cleanup.before g=2 i=0
        A none batch.after g=2 i=2
        B crash plan.loaded g=3 i=0
        B none fence.checked g=3 i=0
        B none cleanup.before g=2 i=0
        B stale_read cleanup.after g=2 i=0
    """.splitlines()
    steps = parse_trail(lines)
    assert steps[18].choice == "B+crash" and steps[21].choice == "B+stale_read"
    replay = replay_in_harness(steps)
    assert replay.mismatches == []
    assert replay.empty == []
    assert replay.broken(step=22) == ["I3"]
