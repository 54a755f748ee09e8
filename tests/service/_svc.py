"""Helpers for the service tests: a world on the embedded default's parts (strict Route 53 model,
SQLite plan store, virtual clock), enactors on it, and what a test reads back without API calls."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from safeguards.applier import ApplyOptions
from safeguards.checkpoints import NO_CHECKPOINTS, Checkpoint
from safeguards.fence import Fence, find_fence, parse_fence
from safeguards.plan import Plan
from safeguards.records import Change, RecordSet
from safeguards.retry import FullJitter, RetryPolicy
from safeguards.service import Enactor, Metrics, Planner
from safeguards.testing.world import World


@dataclass
class Service:
    """One zone (ep1, ep2, regional; g1 live), a planner and enactors on one plan store."""

    world: World
    interval: float = 10.0
    enactors: dict[str, Enactor] = field(default_factory=dict)

    @property
    def zone(self) -> str:
        return self.world.zone

    @property
    def clock(self) -> Any:
        return self.world.clock

    @property
    def model(self) -> Any:
        return self.world.model

    @property
    def store(self) -> Any:
        return self.world.store

    def planner(self) -> Planner:
        return Planner(self.store, renumber=False)

    def publish(self, generation: int, *, omit: tuple[str, ...] = ()) -> Plan:
        """Plan `generation` (its endpoint values encode the number) published under its own number."""
        plan = self.world.plan(generation, omit=omit)
        assert self.planner().publish(plan) == generation
        if omit:
            self.world.bad.add(generation)
        return plan

    def enactor(
        self,
        name: str,
        *,
        checkpoint: Checkpoint = NO_CHECKPOINTS,
        options: ApplyOptions | None = None,
        **kwargs: Any,
    ) -> Enactor:
        kwargs.setdefault("retry", RetryPolicy(wait=FullJitter(base=1.0, cap=2 * self.interval)))
        e = Enactor.create(
            self.model,
            self.store,
            [self.zone],
            enactor_id=name,
            options=options or self.world.options,
            clock=self.clock,
            rng=random.Random(name),
            checkpoint=checkpoint,
            interval=self.interval,
            metrics=Metrics(enactor=name, clock=self.clock.now),
            **kwargs,
        )
        self.enactors[name] = e
        return e

    # ------------------------------------------------------------------ reading back (no API calls)

    def fence(self) -> Fence | None:
        return parse_fence(find_fence(self.world.sets(), self.zone))

    def values(self) -> dict[str, tuple[str, ...]]:
        return self.world.values()

    def live_is(self, plan: Plan) -> bool:
        fence = self.fence()
        want = {r.name: tuple(sorted(r.values)) for r in plan.records}
        have = {k: tuple(sorted(v)) for k, v in self.values().items()}
        return fence is not None and fence.done and fence.content == plan.generation and have == want

    def vandalise(self, endpoint: str, values: tuple[str, ...] | None) -> None:
        """Something outside the library rewrites (or, with None, deletes) one endpoint's A set."""
        current = next(r for r in self.world.sets() if r.name == endpoint and r.type == "A")
        changes = [Change("DELETE", current)]
        if values is not None:
            changes.append(Change("CREATE", replace(current, values=tuple(sorted(values)))))
        self.model.change_record_sets(self.world.zone_id, changes, "vandal")

    def endpoint(self, index: int) -> str:
        return self.world.endpoints[index]


def make_service(*, interval: float = 10.0, **world: Any) -> Service:
    w = World.create("guarded", 3, **world)
    w.bootstrap(1)
    return Service(w, interval=interval)


def a_set(sets: list[RecordSet], name: str) -> RecordSet | None:
    return next((r for r in sets if r.name == name and r.type == "A"), None)
