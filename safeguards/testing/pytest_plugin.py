"""pytest plugin of dns-safeguards (entry point ``pytest11: safeguards``): race-testing fixtures.

Inert for a project that does not use it: it adds one namespaced option and fixtures, and
imports the library only when one of its fixtures is asked for.

Installed with the package, so any test suite can race its own enactors against the strict
Route 53 model under the deterministic scheduler and check the invariants I1-I5:

- ``race_world``: a `World` (guarded kind): zone ``example.com.`` with endpoints ep1, ep2 and
  regional on an in-memory `StrictRoute53` (INSYNC at once), a `MemoryPlanStore` (SQLite's semantics) and a
  `VirtualClock`; plan g1 is live everywhere. ``race_world.publish(g)`` adds plans.
- ``strict_route53``: its model (the zone exists: ``race_world.zone_id``; faults in ``.faults``).
- ``plan_store``: its plan store.
- ``race_scheduler``: a `Scheduler` bound to the model (model faults) and the clock (``delay``),
  seeded with ``--dnssg-race-seed`` (default 0); its threads are ended after the test.
- ``invariant_checker``: an `InvariantChecker` attached to the scheduler (checks I1-I3 and I5
  after every step); call ``.finish()`` at the end for I4 and the full list of violations.
- ``enactor_factory``: ``enactor_factory(name, rounds=1, restarts=0, body=None)`` registers an
  actor. Without ``body`` it runs the standard round (apply the newest plan, clean up); with
  ``body(applier, ctx)`` it runs your code with an `Applier` bound to the scheduler (its
  checkpoints park it, a crash cuts it off). ``enactor_factory.applier(ctx)`` builds more.

Example::

    def test_two_enactors_and_a_planner(race_world, race_scheduler, enactor_factory, invariant_checker):
        race_world.publish(2)
        race_world.publish(3)
        enactor_factory("A")
        enactor_factory("B", body=lambda applier, ctx: applier.apply(race_world.plan(2)))
        race_scheduler.run()  # seeded random interleaving; Scheduler(schedule=[...]) replays one
        assert invariant_checker.finish() == [], invariant_checker.violations[0].explain()
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..applier import Applier
    from .invariants import InvariantChecker
    from .scheduler import ActorContext, Scheduler
    from .world import World


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--dnssg-race-seed``: namespaced, so a project's own options never clash with ours."""
    group = parser.getgroup("dns-safeguards")
    with contextlib.suppress(ValueError):  # already registered (plugin loaded twice)
        group.addoption(
            "--dnssg-race-seed",
            type=int,
            default=0,
            help="seed of the race_scheduler fixture's random interleavings (default 0)",
        )


@pytest.fixture
def race_world() -> World:
    """A guarded world: 3 endpoints, g1 live, strict model, in-memory plan store, virtual clock."""
    from .world import World

    world = World.create("guarded", 3)
    world.bootstrap(1)
    return world


@pytest.fixture
def strict_route53(race_world: World) -> Any:
    """The world's `StrictRoute53` (in memory, on the virtual clock, zone created)."""
    return race_world.model


@pytest.fixture
def plan_store(race_world: World) -> Any:
    """The world's plan store (a `MemoryPlanStore`: `SqlitePlanStore`'s semantics, in memory)."""
    return race_world.store


@pytest.fixture
def race_scheduler(race_world: World, request: pytest.FixtureRequest) -> Iterator[Scheduler]:
    """A deterministic scheduler bound to the world (seeded by ``--dnssg-race-seed``)."""
    from .scheduler import Scheduler

    seed = request.config.getoption("--dnssg-race-seed", default=0)
    sched = Scheduler(
        seed=seed, model=race_world.model, clock=race_world.clock, delay_seconds=race_world.options.lease_ttl + 1
    )
    yield sched
    sched.close()


@pytest.fixture
def invariant_checker(race_world: World, race_scheduler: Scheduler) -> InvariantChecker:
    """I1-I5 checked after every step of ``race_scheduler``; ``.finish()`` adds I4."""
    from .invariants import InvariantChecker

    return InvariantChecker(race_world).attach(race_scheduler)


class EnactorFactory:
    """Registers enactors on the scheduler (see the module doc)."""

    def __init__(self, world: World, scheduler: Scheduler) -> None:
        self.world = world
        self.scheduler = scheduler

    def __call__(
        self,
        name: str,
        *,
        rounds: int = 1,
        restarts: int = 0,
        body: Callable[[Applier, ActorContext], Any] | None = None,
    ) -> str:
        if body is None:
            self.scheduler.add_actor(name, self.world.enactor_body(rounds=rounds), restarts=restarts)
        else:
            user = body
            self.scheduler.add_actor(name, lambda ctx: user(self.applier(ctx), ctx), restarts=restarts)
        return name

    def applier(self, ctx: ActorContext, **options: Any) -> Applier:
        """An Applier for the actor `ctx`, bound to the scheduler."""
        return self.world.applier(ctx, **options)


@pytest.fixture
def enactor_factory(race_world: World, race_scheduler: Scheduler) -> EnactorFactory:
    """Build enactors (Appliers bound to the scheduler) as actors."""
    return EnactorFactory(race_world, race_scheduler)
