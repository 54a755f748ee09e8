"""Hypothesis drives the race: it publishes plans (some bad), starts enactors, repairers,
rollbackers, a clean-up actor and a vandal (something outside the library dropping an endpoint
below its minimum), and picks which actor runs next with which fault (crashes included); I1-I3,
I5 and I6 are the machine's invariants, checked after every rule, and I4 (convergence) is
checked once everything has stopped. Failing runs shrink to a short sequence of steps."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from safeguards.testing.invariants import InvariantChecker
from safeguards.testing.scheduler import FAULTS, Choice, RandomPolicy, Scheduler
from safeguards.testing.world import World, default_options, endpoint_names

MAX_PLANS = 6
MAX_ENACTORS = 3
MAX_REPAIRERS = 2
MAX_ROLLBACKERS = 2
#: Every fault. (Stale reads were left out until the applier's read-back stopped trusting one
#: lagging read; tests/race/test_findings.py keeps that case.)
MACHINE_FAULTS = FAULTS


class RaceMachine(RuleBasedStateMachine):
    """One zone with two endpoints (at least 2 values each), g1 and g2 stored, g2 live; the
    machine is the planner and the scheduler."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World.create(
            "guarded",
            2,
            keep=1,
            options=default_options(lease_ttl=30.0, keep_plans=1),
            min_values=dict.fromkeys(endpoint_names(2), 2),
        )
        self.world.bootstrap(2, fast=True, earlier=[1])
        self.checker = InvariantChecker(self.world)
        self.sched = Scheduler(
            policy=RandomPolicy(0), model=self.world.model, clock=self.world.clock, delay_seconds=31.0, max_steps=2000
        )
        self.checker.attach(self.sched, trust_footprints=True)
        self.published = 0
        self.enactors = 0
        self.repairers = 0
        self.rollbackers = 0
        self.cleaner = False
        self.vandal = False

    def _broken(self, invariant: str) -> list[str]:
        return [v.explain() for v in self.checker.violations if v.invariant == invariant]

    # ------------------------------------------------------------------ rules

    @precondition(lambda self: self.published < MAX_PLANS)
    @rule(bad=st.booleans())
    def publish(self, bad: bool) -> None:
        """The planner publishes the next free generation; a bad one drops the last endpoint."""
        self.published += 1
        self.world.publish_next(bad=bad)

    @precondition(lambda self: self.enactors < MAX_ENACTORS)
    @rule(rounds=st.integers(1, 2))
    def start_enactor(self, rounds: int) -> None:
        name = "ABC"[self.enactors]
        self.enactors += 1
        self.sched.add_actor(name, self.world.enactor_body(rounds=rounds), restarts=1)

    @precondition(lambda self: self.repairers < MAX_REPAIRERS)
    @rule(rounds=st.integers(1, 2))
    def start_repairer(self, rounds: int) -> None:
        """`repair`: restore the live content below a minimum, finish a half-applied generation."""
        name = "RS"[self.repairers]
        self.repairers += 1
        self.sched.add_actor(name, self.world.repairer_body(rounds), restarts=1)

    @precondition(lambda self: self.rollbackers < MAX_ROLLBACKERS)
    @rule(rounds=st.integers(1, 2))
    def start_rollbacker(self, rounds: int) -> None:
        """`rollback` to the previous plan (under the live generation, one revision up)."""
        name = "UW"[self.rollbackers]
        self.rollbackers += 1
        self.sched.add_actor(name, self.world.rollbacker_body(rounds), restarts=1)

    @precondition(lambda self: not self.cleaner)
    @rule(rounds=st.integers(1, 2))
    def start_cleaner(self, rounds: int) -> None:
        """Clean-up on its own, not after an apply."""
        self.cleaner = True
        self.sched.add_actor("K", self.world.cleaner_body(rounds), restarts=1)

    @precondition(lambda self: not self.vandal)
    @rule()
    def start_vandal(self) -> None:
        """Something outside the library will drop the first endpoint to one value."""
        self.vandal = True
        self.sched.add_actor("V", self.world.vandal_body())

    @rule(seconds=st.sampled_from([1.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        """Time passes while every actor is parked (leases may expire)."""
        self.world.clock.advance(seconds)

    @precondition(lambda self: bool(self.sched.enabled))
    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """Run one actor to its next checkpoint, perhaps with a fault."""
        actor = data.draw(st.sampled_from(self.sched.enabled), label="actor")
        faults = [f for f in MACHINE_FAULTS if self.sched.fault_allowed(actor, f)]
        fault = data.draw(st.one_of(st.none(), st.sampled_from(faults)) if faults else st.none(), label="fault")
        self.sched.step(Choice(actor, fault))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def i1_never_empty(self) -> None:
        assert not self._broken("I1"), self._broken("I1")

    @invariant()
    def i2_monotonic(self) -> None:
        assert not self._broken("I2"), self._broken("I2")

    @invariant()
    def i3_no_live_deletion(self) -> None:
        assert not self._broken("I3"), self._broken("I3")

    @invariant()
    def i5_nothing_lost_on_bad_input(self) -> None:
        assert not self._broken("I5"), self._broken("I5")

    @invariant()
    def i6_bounded_recovery(self) -> None:
        assert not self._broken("I6"), self._broken("I6")

    @invariant()
    def no_unexpected_error(self) -> None:
        assert not self._broken("E"), self._broken("E")

    def teardown(self) -> None:
        """Let every actor finish, then I4: one healthy round converges on the newest good plan."""
        try:
            self.sched.run(RandomPolicy(0))
            self.checker.finish()
            for inv in ("I1", "I2", "I3", "I4", "I5", "I6", "E"):
                assert not self._broken(inv), self._broken(inv)
        finally:
            self.sched.close()


RaceMachine.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRace = RaceMachine.TestCase
