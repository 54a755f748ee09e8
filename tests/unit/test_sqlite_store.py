"""SqlitePlanStore, the embedded default's plan store: every PlanStore operation, conditional in
one transaction, shared by processes through one file; state files of earlier versions migrate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from safeguards.clock import VirtualClock
from safeguards.errors import InvalidInput, LeaseLost
from safeguards.plan import Plan
from safeguards.planstore import PlanStore, scope
from safeguards.records import RecordSet
from safeguards.stores.sqlite import SqlitePlanStore

Z = "example.com."


def plan(gen: int, ip: str = "192.0.2.1", owner: str = "dns-safeguards") -> Plan:
    return Plan(Z, gen, (RecordSet(f"www.{Z}", "A", 60, (ip,)),), owner=owner)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(tmp_path: Path, clock: VirtualClock) -> SqlitePlanStore:
    return SqlitePlanStore(tmp_path / "plans.sqlite", clock=clock)


def test_it_is_a_plan_store(store: SqlitePlanStore) -> None:
    assert isinstance(store, PlanStore)


def test_plans_generations_and_the_allocator(store: SqlitePlanStore) -> None:
    assert store.allocate_generation(Z) == 1
    assert store.put_plan(plan(5)) and not store.put_plan(plan(5))  # idempotent
    with pytest.raises(InvalidInput, match="never reused"):
        store.put_plan(plan(5, "192.0.2.9"))
    assert store.allocate_generation(Z) == 6  # above every stored one
    assert store.generations(Z) == [5] and store.get_plan(Z, 5) == plan(5) and store.get_plan(Z, 4) is None


def test_each_owner_has_its_own_generations(store: SqlitePlanStore) -> None:
    store.put_plan(plan(5, owner="team-a"))
    store.put_plan(plan(1, owner="team-b"))
    assert store.generations(scope(Z, "team-a")) == [5] and store.generations(scope(Z, "team-b")) == [1]
    assert store.generations(Z) == []
    assert store.allocate_generation(scope(Z, "team-b")) == 2


def test_leases_new_renew_refuse_expire_release(store: SqlitePlanStore, clock: VirtualClock) -> None:
    a = store.acquire_lease(Z, "a", 30.0)
    assert (a.holder, a.epoch) == ("a", 1)
    assert store.acquire_lease(Z, "a", 30.0).epoch == 1  # renewal keeps the epoch
    with pytest.raises(LeaseLost, match="held by a"):
        store.acquire_lease(Z, "b", 30.0)
    clock.advance(31)
    assert store.acquire_lease(Z, "b", 30.0).epoch == 2  # expired: taken over, epoch up
    b = store.acquire_lease(Z, "b", 30.0)
    store.release_lease(b)
    assert store.acquire_lease(Z, "c", 30.0).epoch == 3


def test_writes_under_a_lost_lease_are_refused(store: SqlitePlanStore, clock: VirtualClock) -> None:
    for g in (1, 2, 3):
        store.put_plan(plan(g))
    old = store.acquire_lease(Z, "a", 30.0)
    clock.advance(31)
    store.acquire_lease(Z, "b", 30.0)
    assert not store.delete_plan(Z, 1, old)
    with pytest.raises(LeaseLost):
        store.record_applied(Z, 2, plan(2).checksum, old, known_good=True)


def test_applied_state_never_goes_down_and_last_known_good_is_kept(store: SqlitePlanStore) -> None:
    for g in (1, 2, 3):
        store.put_plan(plan(g))
    lease = store.acquire_lease(Z, "a", 30.0)
    store.record_applied(Z, 3, plan(3).checksum, lease, known_good=True)
    store.record_applied(Z, 2, plan(2).checksum, lease, known_good=True)
    st = store.state(Z)
    assert (st.applied_generation, st.last_known_good) == (3, 3)
    assert not store.delete_plan(Z, 3, lease)  # the last known good stays
    assert store.delete_plan(Z, 1, lease)


def test_the_circuit_opens_at_its_threshold_and_only_a_reset_closes_it(store: SqlitePlanStore) -> None:
    for _ in range(2):
        assert not store.record_failure(Z, "refused", threshold=3).circuit_open
    assert store.record_failure(Z, "refused", threshold=3).circuit_open
    store.record_success(Z)
    assert store.state(Z).circuit_open
    store.reset_circuit(Z)
    st = store.state(Z)
    assert not st.circuit_open and st.consecutive_failures == 0


def test_a_state_file_of_the_first_version_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE plans (zone TEXT NOT NULL, generation INTEGER NOT NULL, checksum TEXT NOT NULL, "
        "body TEXT NOT NULL, PRIMARY KEY (zone, generation));"
        "CREATE TABLE leases (zone TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch INTEGER NOT NULL, "
        "expires_at REAL NOT NULL);"
    )
    db.execute("INSERT INTO plans VALUES (?,?,?,?)", (Z, 1, plan(1).checksum, plan(1).to_json()))
    db.commit()
    db.close()
    store = SqlitePlanStore(path, clock=VirtualClock())
    assert store.get_plan(Z, 1) == plan(1)
    assert store.pin_plan(Z, 1, 5)  # the columns added since exist now
    assert store.acquire_lease(Z, "a", 30.0).epoch == 1
