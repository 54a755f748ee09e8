"""The service on LocalStack (strict Route 53 provider, DynamoDB plan and lease tables), through
the real library over HTTP: a planner publishes, three enactors (each its own Route 53 client, as
separate processes would have) converge on the newest generation and clean up, a crashed one's
half-applied generation is finished by another, and a vandalised name is repaired in the next
cycle. Time is virtual (store and enactors share a `VirtualClock`), so a lease runs out at once."""

from __future__ import annotations

import random
import uuid
from typing import Any

import boto3
import pytest

from safeguards.backends.boto3_route53 import Boto3Route53, make_route53_client
from safeguards.clock import VirtualClock
from safeguards.fence import Fence, find_fence, parse_fence
from safeguards.records import Change, RecordSet
from safeguards.service import Enactor, Metrics, Planner
from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client
from safeguards.stores.schema import ensure_tables
from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION
from safeguards.testing.world import World, default_options, generation_of

pytestmark = pytest.mark.dnssg_localstack


class Crash(BaseException):
    """A process dying at a checkpoint."""


class LocalStackService:
    def __init__(self, endpoint: str) -> None:
        tag = uuid.uuid4().hex[:10]
        self.endpoint = endpoint
        self.session = boto3.session.Session(region_name=TEST_REGION, **TEST_CREDENTIALS)
        self.clock = VirtualClock()
        ddb = make_dynamodb_client(self.session, endpoint, TEST_REGION)
        ensure_tables(ddb, f"dnssg-svc-plans-{tag}", f"dnssg-svc-leases-{tag}")
        self.store = DynamoPlanStore(
            ddb, plan_table=f"dnssg-svc-plans-{tag}", lease_table=f"dnssg-svc-leases-{tag}", clock=self.clock
        )
        self.zone = f"svc{tag}.example."
        self.backend = self.route53()
        self.zone_id = self.backend.resolve_zone(self.zone, create=True)
        self.plans = World.create("guarded", 3, zone=self.zone)  # plan shapes only (its own model is unused)
        self.options = default_options()

    def route53(self) -> Boto3Route53:
        return Boto3Route53(make_route53_client(self.session, self.endpoint, TEST_REGION))

    def enactor(self, name: str, **kwargs: Any) -> Enactor:
        return Enactor.create(
            self.route53(), self.store, [self.zone], enactor_id=name, options=self.options, clock=self.clock,
            rng=random.Random(name), interval=10.0, metrics=Metrics(enactor=name, clock=self.clock.now), **kwargs,
        )  # fmt: skip

    def sets(self) -> list[RecordSet]:
        return self.backend.list_record_sets(self.zone_id)

    def fence(self) -> Fence | None:
        return parse_fence(find_fence(self.sets(), self.zone))

    def generations(self) -> dict[str, int | None]:
        return {r.name.split(".")[0]: generation_of(r.values) for r in self.sets() if r.type == "A"}


@pytest.fixture
def svc(localstack_strict: str) -> LocalStackService:
    return LocalStackService(localstack_strict)


def test_three_enactors_converge_clean_up_and_repair_on_localstack(svc: LocalStackService) -> None:
    planner = Planner(svc.store, renumber=False)
    enactors = [svc.enactor(n) for n in ("az1", "az2", "az3")]
    for g in (1, 2, 3, 4):
        planner.publish(svc.plans.plan(g))
    for _ in range(5):
        for e in enactors:
            e.run_once()
        fence = svc.fence()
        if fence is not None and fence.generation == 4 and fence.done:
            break
    assert svc.generations() == {"ep1": 4, "ep2": 4, "regional": 4}
    assert sum(e.metrics.total("applies_total") for e in enactors) >= 1
    assert svc.store.generations(svc.zone)[-1] == 4 and 1 not in svc.store.generations(svc.zone)  # cleaned up
    # Something outside the library empties 'regional': the next cycle of any enactor restores it.
    regional = next(r for r in svc.sets() if r.name.startswith("regional.") and r.type == "A")
    svc.backend.change_record_sets(svc.zone_id, [Change("DELETE", regional)], "vandal")
    assert "regional" not in svc.generations()
    [report] = enactors[1].run_once()
    assert (report.action, report.outcome) == ("repair", "resumed"), report.line()
    assert svc.generations() == {"ep1": 4, "ep2": 4, "regional": 4}


def test_a_crashed_enactors_generation_is_finished_by_another_on_localstack(svc: LocalStackService) -> None:
    planner = Planner(svc.store, renumber=False)
    planner.publish(svc.plans.plan(1))
    svc.enactor("boot").run_once()
    planner.publish(svc.plans.plan(2))

    def crash(name: str, **ctx: object) -> None:
        if name == "batch.before" and ctx.get("index") == 2:
            raise Crash

    with pytest.raises(Crash):
        svc.enactor("az1", checkpoint=crash).run_once()
    svc.store.acquire_lease(svc.zone, "az1", svc.options.lease_ttl)  # a dead holder keeps its lease
    assert svc.generations() == {"ep1": 2, "ep2": 1, "regional": 1}
    started = svc.clock.now()
    [report] = svc.enactor("az2").run_once()
    assert report.outcome == "resumed", report.line()
    assert svc.generations() == {"ep1": 2, "ep2": 2, "regional": 2}
    assert svc.clock.now() - started <= svc.options.lease_ttl + 13.0
