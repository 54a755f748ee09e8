"""DynamoPlanStore against a real DynamoDB endpoint (moto's server): every PlanStore method,
racing allocators and lease takers, fenced deletes and records, and the table schema.

moto's DynamoDB has no per-request lock (AWS makes each conditional write atomic), so the
server here serializes request dispatch: that is the atomicity DynamoDB guarantees, and the
races below interleave our multi-request protocols at exactly that granularity."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from safeguards.clock import VirtualClock
from safeguards.errors import EndpointUnavailable, FenceLost, InvalidInput
from safeguards.plan import Plan
from safeguards.planstore import Lease, PlanStore, ZoneState
from safeguards.records import RecordSet
from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client
from safeguards.stores.schema import LEASE_TABLE_SCHEMA, PLAN_TABLE_SCHEMA, ensure_tables
from safeguards.testing.moto_server import moto_server

# Under pytest-xdist these tests share one worker:
# one moto server per module (`endpoint`), not once per worker.
pytestmark = pytest.mark.xdist_group("moto-dynamodb-store")

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
PLANS, LEASES = "dnssg-plans", "dnssg-leases"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server(serialized=True) as url:
        ensure_tables(boto3.client("dynamodb", endpoint_url=url, **CREDS), PLANS, LEASES)
        yield url


@pytest.fixture
def client(endpoint: str):
    return boto3.client("dynamodb", endpoint_url=endpoint, **CREDS)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(client, clock: VirtualClock) -> DynamoPlanStore:
    return DynamoPlanStore(client, plan_table=PLANS, lease_table=LEASES, clock=clock)


@pytest.fixture
def zone() -> str:
    return f"z{uuid.uuid4().hex[:10]}.example."


def make_plan(zone: str, gen: int, *ips: str) -> Plan:
    return Plan(zone, gen, (RecordSet(f"www.{zone}", "A", 60, tuple(sorted(ips or ("192.0.2.1",)))),))


def race(n: int, fn: Any) -> list[tuple[str, Any]]:
    """Run `fn(i)` in `n` threads released together; ("ok", value) or ("err", exception) each."""
    barrier = threading.Barrier(n)
    results: list[tuple[str, Any]] = [("err", None)] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ("ok", fn(i))
        except Exception as exc:
            results[i] = ("err", exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# ---------------------------------------------------------------------- schema


def test_store_satisfies_protocol(store: DynamoPlanStore) -> None:
    assert isinstance(store, PlanStore)


def test_ensure_tables_creates_active_tables_with_the_schema_keys_and_is_idempotent(client) -> None:
    plans, leases = f"p-{uuid.uuid4().hex[:8]}", f"l-{uuid.uuid4().hex[:8]}"
    ensure_tables(client, plans, leases)
    ensure_tables(client, plans, leases)
    for name, schema in ((plans, PLAN_TABLE_SCHEMA), (leases, LEASE_TABLE_SCHEMA)):
        table = client.describe_table(TableName=name)["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["KeySchema"] == schema["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_ensure_tables_refuses_a_table_with_other_keys(client) -> None:
    wrong = f"w-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=wrong, **LEASE_TABLE_SCHEMA)  # no sort key: not a plan table
    with pytest.raises(InvalidInput, match=f"table {wrong} has keys"):
        ensure_tables(client, wrong, f"l-{uuid.uuid4().hex[:8]}")


# ---------------------------------------------------------------------- plans and generations


def test_allocate_generation_counts_up_from_one(store: DynamoPlanStore, zone: str) -> None:
    assert [store.allocate_generation(zone) for _ in range(3)] == [1, 2, 3]
    assert store.allocate_generation("other-" + zone) == 1


def test_eight_threads_racing_allocate_get_distinct_generations(store: DynamoPlanStore, zone: str) -> None:
    results = race(8, lambda _i: [store.allocate_generation(zone) for _ in range(10)])
    assert all(kind == "ok" for kind, _ in results), results
    gens = [g for _, batch in results for g in batch]
    assert len(gens) == 80
    assert sorted(gens) == list(range(1, 81))  # all distinct, none skipped


def test_put_plan_lifts_the_allocator(store: DynamoPlanStore, zone: str) -> None:
    assert store.put_plan(make_plan(zone, 10))
    assert store.allocate_generation(zone) == 11
    # A plan below the allocator still stores, and the allocator does not go back down.
    assert store.put_plan(make_plan(zone, 5))
    assert store.allocate_generation(zone) == 12


def test_allocate_skips_generations_stored_behind_its_back(store: DynamoPlanStore, client, zone: str) -> None:
    assert store.allocate_generation(zone) == 1
    foreign = make_plan(zone, 20)
    client.put_item(
        TableName=PLANS,
        Item={
            "zone": {"S": zone},
            "generation": {"N": "20"},
            "plan": {"S": foreign.to_json()},
            "checksum": {"S": foreign.checksum},
        },
    )
    assert store.allocate_generation(zone) == 21


def test_put_plan_is_idempotent_and_refuses_other_content(store: DynamoPlanStore, zone: str) -> None:
    plan = make_plan(zone, 3, "192.0.2.1", "192.0.2.2")
    assert store.put_plan(plan) is True
    assert store.put_plan(plan) is False
    with pytest.raises(InvalidInput, match="generation 3 is already stored with other content"):
        store.put_plan(make_plan(zone, 3, "198.51.100.1"))
    with pytest.raises(InvalidInput, match="generation must be >= 1"):
        store.put_plan(make_plan(zone, 0))
    stored = store.get_plan(zone, 3)
    assert stored == plan
    assert stored is not None and stored.checksum == plan.checksum


def test_racing_puts_of_one_generation_store_it_once(store: DynamoPlanStore, zone: str) -> None:
    plan = make_plan(zone, 7)
    results = race(6, lambda _i: store.put_plan(plan))
    assert sorted(value for _, value in results) == [False] * 5 + [True]


def test_get_plan_and_generations(store: DynamoPlanStore, zone: str) -> None:
    assert store.get_plan(zone, 1) is None
    assert store.generations(zone) == []
    for g in (4, 1, 9):
        store.put_plan(make_plan(zone, g, f"192.0.2.{g}"))
    store.record_failure(zone, "creates the meta item", threshold=5)
    assert store.generations(zone) == [1, 4, 9]  # the meta item (generation 0) is not a plan
    assert store.get_plan(zone, 0) is None
    got = store.get_plan(zone, 4)
    assert got is not None and got.records[0].values == ("192.0.2.4",)


# ---------------------------------------------------------------------- leases


def test_lease_new_renew_refuse_expire_release(store: DynamoPlanStore, clock: VirtualClock, zone: str) -> None:
    first = store.acquire_lease(zone, "alice", 30)
    assert (first.holder, first.epoch, first.expires_at) == ("alice", 1, clock.now() + 30)

    clock.advance(10)
    renewed = store.acquire_lease(zone, "alice", 30)
    assert renewed.epoch == 1
    assert renewed.expires_at == clock.now() + 30

    with pytest.raises(FenceLost) as info:
        store.acquire_lease(zone, "bob", 30)
    assert "held by alice (epoch 1)" in str(info.value)
    assert f"until {renewed.expires_at:.0f}" in str(info.value)

    clock.advance(31)
    bob = store.acquire_lease(zone, "bob", 30)
    assert bob.epoch == 2

    store.release_lease(renewed)  # alice's lease is gone already: nothing happens
    with pytest.raises(FenceLost, match="held by bob"):
        store.acquire_lease(zone, "carol", 30)

    store.release_lease(bob)
    carol = store.acquire_lease(zone, "carol", 30)
    assert carol.epoch == 3


def test_an_expired_lease_renewed_by_its_holder_keeps_its_epoch(
    store: DynamoPlanStore, clock: VirtualClock, zone: str
) -> None:
    lease = store.acquire_lease(zone, "alice", 5)
    clock.advance(60)
    assert store.acquire_lease(zone, "alice", 5).epoch == lease.epoch


@pytest.mark.parametrize("round_", range(5))
def test_two_holders_racing_for_a_lease_exactly_one_wins(store: DynamoPlanStore, zone: str, round_: int) -> None:
    results = race(2, lambda i: store.acquire_lease(zone, f"enactor-{i}", 60))
    winners = [value for kind, value in results if kind == "ok"]
    losers = [value for kind, value in results if kind == "err"]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], FenceLost)
    assert f"held by {winners[0].holder}" in str(losers[0])
    assert winners[0].epoch == 1


def test_eight_holders_racing_for_an_expired_lease_one_wins_with_the_next_epoch(
    store: DynamoPlanStore, clock: VirtualClock, zone: str
) -> None:
    store.acquire_lease(zone, "old", 10)
    clock.advance(11)
    results = race(8, lambda i: store.acquire_lease(zone, f"new-{i}", 60))
    winners = [value for kind, value in results if kind == "ok"]
    assert len(winners) == 1
    assert winners[0].epoch == 2
    assert all(isinstance(value, FenceLost) for kind, value in results if kind == "err")


# ---------------------------------------------------------------------- fenced writes


def test_delete_plan_with_the_current_lease(store: DynamoPlanStore, zone: str) -> None:
    store.put_plan(make_plan(zone, 1))
    lease = store.acquire_lease(zone, "alice", 60)
    assert store.delete_plan(zone, 1, lease) is True
    assert store.generations(zone) == []
    assert store.delete_plan(zone, 1, lease) is False  # already gone
    assert store.allocate_generation(zone) == 2  # a deleted generation is never handed out again


def test_delete_with_an_outdated_lease_epoch_is_refused(store: DynamoPlanStore, clock: VirtualClock, zone: str) -> None:
    store.put_plan(make_plan(zone, 1))
    old = store.acquire_lease(zone, "alice", 10)
    clock.advance(11)
    new = store.acquire_lease(zone, "bob", 60)
    assert new.epoch == old.epoch + 1
    assert store.delete_plan(zone, 1, old) is False
    forged = Lease(zone, "bob", old.epoch, new.expires_at)  # right holder, old epoch
    assert store.delete_plan(zone, 1, forged) is False
    assert store.generations(zone) == [1]
    assert store.delete_plan(zone, 1, new) is True


def test_last_known_good_is_never_deleted(store: DynamoPlanStore, zone: str) -> None:
    for g in (1, 2):
        store.put_plan(make_plan(zone, g, f"192.0.2.{g}"))
    lease = store.acquire_lease(zone, "alice", 60)
    store.record_applied(zone, 2, make_plan(zone, 2, "192.0.2.2").checksum, lease, known_good=True)
    assert store.delete_plan(zone, 2, lease) is False
    assert store.delete_plan(zone, 1, lease) is True
    assert store.generations(zone) == [2]


def test_record_applied_sets_state_and_never_lowers(store: DynamoPlanStore, zone: str) -> None:
    lease = store.acquire_lease(zone, "alice", 60)
    store.record_applied(zone, 5, "c5", lease, known_good=True)
    assert store.state(zone) == ZoneState(zone, applied_generation=5, applied_checksum="c5", last_known_good=5)

    store.record_applied(zone, 3, "c3", lease, known_good=True)
    assert store.state(zone) == ZoneState(zone, applied_generation=5, applied_checksum="c5", last_known_good=5)

    store.record_applied(zone, 6, "c6", lease, known_good=False)
    state = store.state(zone)
    assert (state.applied_generation, state.applied_checksum, state.last_known_good) == (6, "c6", 5)

    # Known good later, for the generation already recorded: last known good catches up.
    store.record_applied(zone, 6, "c6", lease, known_good=True)
    state = store.state(zone)
    assert (state.applied_generation, state.last_known_good) == (6, 6)


def test_record_applied_with_a_lost_lease_raises_fence_lost(
    store: DynamoPlanStore, clock: VirtualClock, zone: str
) -> None:
    old = store.acquire_lease(zone, "alice", 10)
    clock.advance(11)
    store.acquire_lease(zone, "bob", 60)
    with pytest.raises(FenceLost) as info:
        store.record_applied(zone, 1, "c1", old, known_good=True)
    assert "epoch 1 of alice is no longer current (bob holds epoch 2)" in str(info.value)
    assert store.state(zone).applied_generation is None
    with pytest.raises(FenceLost):
        store.record_applied(zone, 1, "c1", Lease(zone, "nobody", 1, 0.0), known_good=False)


# ---------------------------------------------------------------------- circuit


def test_state_of_an_unknown_zone_is_the_default(store: DynamoPlanStore, zone: str) -> None:
    assert store.state(zone) == ZoneState(zone)


def test_circuit_opens_at_threshold_and_only_a_reset_closes_it(store: DynamoPlanStore, zone: str) -> None:
    assert store.record_failure(zone, "first", threshold=3).consecutive_failures == 1
    store.record_success(zone)
    assert store.state(zone).consecutive_failures == 0

    states = [store.record_failure(zone, f"refused {i}", threshold=3) for i in range(3)]
    assert [s.circuit_open for s in states] == [False, False, True]
    assert states[-1].circuit_reason == "refused 2"
    assert states[-1].consecutive_failures == 3

    store.record_success(zone)  # does not close an open circuit
    assert store.state(zone).circuit_open
    assert store.state(zone).consecutive_failures == 3

    store.reset_circuit(zone)
    assert store.state(zone) == ZoneState(zone)


def test_racing_failures_are_all_counted(store: DynamoPlanStore, zone: str) -> None:
    race(8, lambda i: store.record_failure(zone, f"f{i}", threshold=100))
    assert store.state(zone).consecutive_failures == 8


# ---------------------------------------------------------------------- endpoint


def test_nothing_listening_is_endpoint_unavailable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = make_dynamodb_client(boto3.session.Session(**CREDS), url, "us-east-1")
    with pytest.raises(EndpointUnavailable, match=url):
        DynamoPlanStore(client, plan_table=PLANS, lease_table=LEASES).state("example.")
