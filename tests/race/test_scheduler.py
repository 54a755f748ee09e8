"""The deterministic scheduler: one actor at a time, replayable choices, faults, and loud
failures instead of hangs."""

from __future__ import annotations

import threading

import pytest

from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import Throttled
from safeguards.testing import scheduler as scheduler_module
from safeguards.testing.scheduler import (
    DONE,
    ENGINES,
    Choice,
    Crash,
    RandomPolicy,
    ScheduleDiverged,
    Scheduler,
    SchedulerError,
    SchedulerTimeout,
    dependent,
)


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on each engine the interpreter has (greenlets and threads)."""
    monkeypatch.setattr(scheduler_module, "DEFAULT_ENGINE", request.param)
    return str(request.param)


def counting_body(log: list[str], steps: int = 3):
    def body(ctx):
        for i in range(steps):
            log.append(f"{ctx.name}{i}")
            ctx.checkpoint("tick", i=i)
        log.append(f"{ctx.name}-end")
        return f"{ctx.name} finished"

    return body


def run(seed=None, schedule=None, actors=("A", "B", "C"), steps=3):
    log: list[str] = []
    with Scheduler(seed=seed, schedule=schedule) as sched:
        for a in actors:
            sched.add_actor(a, counting_body(log, steps))
        sched.run()
    return sched, log


def test_only_one_actor_runs_at_a_time() -> None:
    inside = 0
    most = 0
    guard = threading.Lock()

    def body(ctx):
        nonlocal inside, most
        for _ in range(20):
            with guard:
                inside += 1
                most = max(most, inside)
            sum(range(2000))  # some work while "inside", no sleep: a concurrent actor would overlap here
            with guard:
                inside -= 1
            ctx.checkpoint("tick")

    with Scheduler(seed=1) as sched:
        for a in "ABCD":
            sched.add_actor(a, body)
        sched.run()
    assert most == 1
    assert len(sched.trace) == 4 * 21


def test_same_seed_same_interleaving_and_the_schedule_replays_it() -> None:
    s1, log1 = run(seed=42)
    s2, log2 = run(seed=42)
    assert s1.schedule == s2.schedule and log1 == log2
    s3, log3 = run(schedule=s1.schedule)
    assert log3 == log1
    assert [(e.actor, e.checkpoint, dict(e.context)) for e in s3.trace] == [
        (e.actor, e.checkpoint, dict(e.context)) for e in s1.trace
    ]


def test_different_seeds_give_different_interleavings() -> None:
    logs = {tuple(run(seed=s)[1]) for s in range(10)}
    assert len(logs) > 5


def test_trace_records_checkpoints_context_and_outcomes() -> None:
    sched, _ = run(schedule=["A", "A", "A", "A", "B", "B", "B", "B", "C", "C", "C", "C"])
    first = sched.trace[0]
    assert (first.step, first.actor, first.checkpoint, dict(first.context)) == (1, "A", "tick", {"i": 0})
    last_a = sched.trace[3]
    assert last_a.checkpoint == DONE and last_a.outcome == "A finished"
    assert sched.outcome("B") == "B finished" and sched.result("C") == "C finished"


def test_a_crash_restarts_the_actor_from_scratch_and_cuts_off_the_dead_one() -> None:
    world: list[str] = []
    incarnations: list[int] = []

    def body(ctx):
        incarnations.append(ctx.incarnation)
        shared = ctx.guard(world)
        try:
            shared.append(f"start {ctx.incarnation}")
            ctx.checkpoint("one")
            shared.append(f"after one {ctx.incarnation}")
            ctx.checkpoint("two")
        finally:
            # A dead process runs no clean-up: this write must not land for incarnation 0.
            if ctx.dead:
                with pytest.raises(Crash):
                    shared.append(f"finally {ctx.incarnation}")
        return "ok"

    with Scheduler(schedule=["A", "A", "A+crash", "A", "A"]) as sched:
        sched.add_actor("A", body, restarts=1)
        sched.run()
    assert incarnations == [0, 1]
    assert world == ["start 0", "after one 0", "start 1", "after one 1"]
    assert sched.crashes("A") == 1 and sched.outcome("A") == "ok"
    assert sched.trace[2].fault == "crash" and sched.trace[2].checkpoint == "one"  # restarted, parked again


def test_out_of_restarts_the_actor_ends_crashed() -> None:
    with Scheduler(schedule=["A", "A+crash"]) as sched:
        sched.add_actor("A", counting_body([]), restarts=0)
        sched.run()
    assert sched.outcome("A") == "crashed" and isinstance(sched.error("A"), Crash)


def test_delay_advances_time_without_running_the_actor() -> None:
    clock = VirtualClock()
    log: list[str] = []
    with Scheduler(schedule=["A", "A+delay", "A", "A", "A"], clock=clock, delay_seconds=301) as sched:
        sched.add_actor("A", counting_body(log))
        start = clock.now()
        sched.step("A")
        sched.step("A+delay")
        assert log == ["A0"] and clock.now() - start == 301
        assert sched.parked_at("A") == ("tick", {"i": 0})
        assert sched.trace[-1].footprint == {("clock", "w")}
        for _ in range(3):
            sched.step("A")
    assert log == ["A0", "A1", "A2", "A-end"] and sched.is_done("A")


def test_model_faults_belong_to_their_step() -> None:
    model = StrictRoute53(insync_after=0)
    zone_id = model.resolve_zone("example.com.", create=True)
    seen: list[str] = []

    def body(ctx):
        m = ctx.guard(model)
        for i in range(3):
            try:
                m.list_record_sets(zone_id)
                seen.append(f"read {i}")
            except Throttled:
                seen.append(f"throttled {i}")
            ctx.checkpoint("read", i=i)

    def idle(ctx):
        ctx.checkpoint("idle")

    with Scheduler(schedule=["A+throttle", "B+throttle", "A", "A", "A"], model=model) as sched:
        sched.add_actor("A", body)
        sched.add_actor("B", idle)
        sched.run(stop=lambda: sched.is_done("A"))
    assert seen == ["throttled 0", "read 1", "read 2"]  # B's unused throttle did not leak into A
    assert sched.trace[0].fired and not sched.trace[1].fired


def test_an_actor_that_blocks_fails_loudly_instead_of_hanging() -> None:
    release = threading.Event()

    def stuck(ctx):
        release.wait(30)  # a blocking call with no checkpoint: the scheduler must not wait forever
        ctx.checkpoint("never")

    # Only threads can be waited for with a timeout (greenlets share the scheduler's thread).
    sched = Scheduler(schedule=["A"], step_timeout=0.3, engine="thread")
    sched.add_actor("A", stuck)
    with pytest.raises(SchedulerTimeout) as exc:
        sched.run()
    release.set()
    assert "did not reach a checkpoint" in str(exc.value) and exc.value.schedule == ("A",)


def test_a_livelock_hits_the_step_limit() -> None:
    def forever(ctx):
        while True:
            ctx.checkpoint("spin")

    sched = Scheduler(seed=0, max_steps=50)
    sched.add_actor("A", forever)
    with pytest.raises(SchedulerError, match="step limit"):
        sched.run()


def test_a_replay_that_names_a_finished_actor_diverges() -> None:
    with Scheduler(schedule=["A", "A", "A", "A", "A", "B"]) as sched:
        for a in "AB":
            sched.add_actor(a, counting_body([]))
        with pytest.raises(ScheduleDiverged, match="has finished"):
            sched.run()


def test_a_replay_with_steps_left_over_diverges() -> None:
    with Scheduler(schedule=["A", "A", "A", "A", "A"]) as sched:
        sched.add_actor("A", counting_body([]))
        with pytest.raises(ScheduleDiverged, match="every actor finished"):
            sched.run()


def test_a_strict_replay_that_ends_early_diverges() -> None:
    with Scheduler(schedule=["A"]) as sched:
        sched.add_actor("A", counting_body([]))
        with pytest.raises(ScheduleDiverged, match="ended"):
            sched.run()


def test_close_ends_parked_actors() -> None:
    ended: list[str] = []

    def body(ctx):
        try:
            ctx.checkpoint("wait")
            ctx.checkpoint("never reached")
        finally:
            ended.append(ctx.name)

    sched = Scheduler(seed=0)
    for a in "AB":
        sched.add_actor(a, body)
    sched.step("A")
    sched.step("B")
    sched.close()
    assert sorted(ended) == ["A", "B"]
    assert sched.outcome("A") == "aborted"


def test_a_checkpoint_from_another_thread_is_refused() -> None:
    holder: dict = {}

    def body(ctx):
        holder["ctx"] = ctx
        ctx.checkpoint("parked")

    with Scheduler(seed=0) as sched:
        sched.add_actor("A", body)
        sched.step("A")
        with pytest.raises(SchedulerError, match="another thread"):
            holder["ctx"].checkpoint("from the test thread")


def test_choices_round_trip_and_unknown_faults_are_refused() -> None:
    assert str(Choice.parse("B+lose_response")) == "B+lose_response"
    assert Choice.parse("A") == Choice("A")
    with pytest.raises(ValueError):
        Choice("A", "meteor")


def test_footprints_are_recorded_and_compared() -> None:
    box: list[int] = []

    def body(ctx):
        shared = ctx.guard(box, name="box", access={"__len__": (("box", "r"),), "copy": (("box", "r"),)})
        shared.copy()
        ctx.checkpoint("read")
        shared.append(1)  # not in the table: counted as a write
        ctx.checkpoint("wrote")

    with Scheduler(schedule=["A", "A", "A"]) as sched:
        sched.add_actor("A", body)
        sched.run()
    read, wrote, _ = (e.footprint for e in sched.trace)
    assert read == {("box", "r")} and wrote == {("box", "w")}
    assert not dependent(read, read) and dependent(read, wrote) and dependent(wrote, wrote)
    assert not dependent(frozenset({("x", "w")}), frozenset({("y", "w")}))


def test_random_policy_respects_the_fault_budget() -> None:
    policy = RandomPolicy(3, faults=("crash",), fault_rate=1.0, max_faults=2)
    with Scheduler(policy=policy) as sched:
        for a in "AB":
            sched.add_actor(a, counting_body([], steps=5), restarts=5)
        sched.run()
    assert sum(1 for c in sched.schedule if "+crash" in c) == 2


# ---------------------------------------------------------------------------------- observations


class _Box:
    """A shared object an actor reads through `ctx.guard`."""

    def __init__(self, value: int) -> None:
        self.value = value

    def read(self) -> int:
        return self.value

    def fail(self) -> int:
        raise ValueError(f"no {self.value}")


def _reader(box: _Box, reads: int = 2):
    def body(ctx):
        guarded = ctx.guard(box, name="box")
        for _ in range(reads):
            guarded.read()
            ctx.checkpoint("read")
        return "done"

    return body


def _seen_after(value: int, schedule: list[str], *, observe: bool = True) -> tuple[tuple, dict[str, int]]:
    from safeguards.testing.statekey import observed

    box = _Box(value)
    with Scheduler(schedule=schedule) as sched:
        if observe:
            sched.observe = observed
        sched.add_actor("A", _reader(box), restarts=1)
        for choice in schedule:
            sched.step(choice)
        return sched.local_state("A"), sched.observations()


def test_observations_summarise_what_an_actor_was_given() -> None:
    """The same results give the same `seen` (in another scheduler too); other results another."""
    same, _ = _seen_after(1, ["A", "A"])
    assert _seen_after(1, ["A", "A"])[0] == same
    assert _seen_after(2, ["A", "A"])[0] != same  # read 2, not 1: another local state
    assert _seen_after(1, ["A"])[0] != same  # one read fewer, parked at the same checkpoint
    assert _seen_after(1, ["A", "A"], observe=False)[0][6] == 0  # folded only while `observe` is set


def test_a_crash_starts_the_observations_again() -> None:
    """A restarted incarnation has observed only what it read since: one read after the crash is
    the state one read after the start was, but for the incarnation and the restarts left."""
    fresh, _ = _seen_after(1, ["A"])
    crashed, _ = _seen_after(1, ["A", "A+crash"])
    assert crashed[2] == 1 and fresh[2] == 0  # the incarnation
    assert crashed[6] == fresh[6]  # seen: one read of 1, since the start of the incarnation


def test_exceptions_are_observed_with_their_message() -> None:
    from safeguards.testing.statekey import observed

    def body(ctx):
        guarded = ctx.guard(box, name="box")
        with pytest.raises(ValueError):
            guarded.fail()
        ctx.checkpoint("failed")

    seen = []
    for value in (1, 1, 2):
        box = _Box(value)
        with Scheduler(schedule=["A"]) as sched:
            sched.observe = observed
            sched.add_actor("A", body)
            sched.step("A")
            seen.append(sched.local_state("A")[6])
    assert seen[0] == seen[1] != seen[2]


def test_observations_can_be_restored_and_a_finished_actor_has_no_local_state() -> None:
    from safeguards.testing.statekey import observed

    box = _Box(1)
    with Scheduler(schedule=[]) as sched:
        sched.observe = observed
        sched.add_actor("A", _reader(box))
        sched.step("A")
        kept = sched.observations()
        sched.step("A")
        assert sched.observations() != kept
        sched.restore_observations(kept)
        assert sched.observations() == kept
        sched.step("A")
        assert sched.local_state("A") == ("A", DONE)
