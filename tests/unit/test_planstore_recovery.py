"""The plan-store parts of decision-bound writes, on both stores (SQLite, DynamoDB on moto's
server): a rollback pins its source plan so a clean-up decided on an older read cannot delete it,
and the lease of a holder whose process is gone (same host) is taken over at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from safeguards.clock import SystemClock, VirtualClock
from safeguards.errors import LeaseLost
from safeguards.plan import Plan
from safeguards.planstore import process_is_dead, this_process
from safeguards.records import RecordSet
from safeguards.stores.dynamodb import DynamoPlanStore
from safeguards.stores.schema import ensure_tables
from safeguards.stores.sqlite import SqlitePlanStore
from safeguards.testing.moto_server import moto_server

# Under pytest-xdist these tests share one worker:
# one moto server per module (`endpoint`), not once per worker.
pytestmark = pytest.mark.xdist_group("moto-planstore-recovery")

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
PLANS, LEASES = "dnssg-plans", "dnssg-leases"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server(serialized=True) as url:
        ensure_tables(boto3.client("dynamodb", endpoint_url=url, **CREDS), PLANS, LEASES)
        yield url


def _dynamo(endpoint: str, clock: Any) -> DynamoPlanStore:
    client = boto3.client("dynamodb", endpoint_url=endpoint, **CREDS)
    return DynamoPlanStore(client, plan_table=PLANS, lease_table=LEASES, clock=clock)


@pytest.fixture(params=["sqlite", "dynamodb"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    def make(clock: Any) -> Any:
        if kind == "sqlite":
            return SqlitePlanStore(tmp_path / "plans.sqlite", clock=clock)
        return _dynamo(request.getfixturevalue("endpoint"), clock)

    return make


@pytest.fixture
def zone() -> str:
    return f"z{uuid.uuid4().hex[:10]}.example."


def _plan(zone: str, gen: int) -> Plan:
    return Plan(zone, gen, (RecordSet(f"www.{zone}", "A", 60, (f"192.0.2.{gen}",)),))


def test_a_pinned_plan_survives_a_cleanup_decided_below_its_pin(make_store: Any, zone: str) -> None:
    store = make_store(VirtualClock())
    for g in range(1, 8):
        store.put_plan(_plan(zone, g))
    lease = store.acquire_lease(zone, "janitor", 30.0)
    assert store.pin_plan(zone, 3, 7)  # a rollback makes 3's content live under generation 7
    assert not store.delete_plan(zone, 3, lease, pinned_below=5)  # decided on "7 live, keep 2"
    assert store.delete_plan(zone, 2, lease, pinned_below=5)  # never pinned: deleted
    assert store.delete_plan(zone, 3, lease, pinned_below=8)  # the pin is older than the floor now
    assert store.generations(zone) == [1, 4, 5, 6, 7]


def test_pins_only_rise_and_a_missing_plan_cannot_be_pinned(make_store: Any, zone: str) -> None:
    store = make_store(VirtualClock())
    store.put_plan(_plan(zone, 1))
    assert store.pin_plan(zone, 1, 9)
    assert store.pin_plan(zone, 1, 4)  # still pinned (at 9)
    lease = store.acquire_lease(zone, "janitor", 30.0)
    assert not store.delete_plan(zone, 1, lease, pinned_below=8)
    assert not store.pin_plan(zone, 2, 9)  # cleaned up already: the rollback must stop


_HOLDER = """
import sys
from safeguards.clock import SystemClock
kind, where, zone = sys.argv[1:4]
if kind == "sqlite":
    from safeguards.stores.sqlite import SqlitePlanStore
    store = SqlitePlanStore(where, clock=SystemClock())
else:
    import boto3
    from safeguards.stores.dynamodb import DynamoPlanStore
    client = boto3.client("dynamodb", endpoint_url=where, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    store = DynamoPlanStore(client, plan_table="dnssg-plans", lease_table="dnssg-leases", clock=SystemClock())
print(store.acquire_lease(zone, "crashed", 300.0).epoch, flush=True)
sys.stdin.read()  # holds the lease until killed
"""


def test_the_lease_of_a_killed_holder_is_taken_over_at_once(
    kind: str, make_store: Any, tmp_path: Any, zone: str, request: pytest.FixtureRequest
) -> None:
    where = str(tmp_path / "plans.sqlite") if kind == "sqlite" else request.getfixturevalue("endpoint")
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, kind, where, zone], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "1"
        store = make_store(SystemClock())
        with pytest.raises(LeaseLost, match="crashed"):
            store.acquire_lease(zone, "next", 30.0)  # the holder is alive: its 300 s stand
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        lease = store.acquire_lease(zone, "next", 30.0)
        assert (lease.holder, lease.epoch) == ("next", 2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_only_a_provably_dead_process_counts_as_dead() -> None:
    me = this_process()
    host = me.rpartition(":")[0]
    assert not process_is_dead(me)
    assert not process_is_dead(None) and not process_is_dead("") and not process_is_dead("garbage")
    assert not process_is_dead(f"another-host-{uuid.uuid4().hex[:6]}:1")  # other hosts: never judged
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    assert process_is_dead(f"{host}:{gone.pid}")
