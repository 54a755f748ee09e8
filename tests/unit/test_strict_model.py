"""Strict model extras the conformance suite does not cover: fault injection and rate limiting."""

from __future__ import annotations

import pytest

from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import OutcomeUnknown, PriorRequestNotComplete, Throttled
from safeguards.records import Change, RecordSet

Z = "example.com."


def a(name: str, *values: str) -> RecordSet:
    return RecordSet(f"{name}.{Z}", "A", 60, tuple(sorted(values)))


@pytest.fixture
def model() -> tuple[StrictRoute53, str]:
    m = StrictRoute53(clock=VirtualClock(), insync_after=60)
    return m, m.resolve_zone(Z, create=True)


def test_stale_read_returns_the_zone_before_its_latest_batch(model) -> None:
    m, zid = model
    v1, v2 = a("api", "192.0.2.1"), a("api", "192.0.2.2")
    m.change_record_sets(zid, [Change("CREATE", v1), Change("CREATE", a("www", "192.0.2.9"))])
    before = m.list_record_sets(zid)
    m.change_record_sets(zid, [Change("DELETE", v1), Change("CREATE", v2), Change("CREATE", a("new", "192.0.2.3"))])
    after = m.list_record_sets(zid)
    m.faults.stale_read()
    assert m.list_record_sets(zid) == before
    assert m.list_record_sets(zid) == after  # one stale read only


def test_lost_response_applies_and_timeout_does_not(model) -> None:
    m, zid = model
    m.faults.lose_response()
    with pytest.raises(OutcomeUnknown):
        m.change_record_sets(zid, [Change("CREATE", a("x", "192.0.2.1"))])
    m.faults.timeout_before_apply()
    with pytest.raises(OutcomeUnknown):
        m.change_record_sets(zid, [Change("CREATE", a("y", "192.0.2.1"))])
    names = {r.name for r in m.list_record_sets(zid)}
    assert f"x.{Z}" in names and f"y.{Z}" not in names


def test_prior_request_and_throttle_apply_nothing(model) -> None:
    m, zid = model
    before = m.snapshot(zid)
    m.faults.prior_request()
    with pytest.raises(PriorRequestNotComplete):
        m.change_record_sets(zid, [Change("CREATE", a("x", "192.0.2.1"))])
    m.faults.throttle()
    with pytest.raises(Throttled):
        m.change_record_sets(zid, [Change("CREATE", a("x", "192.0.2.1"))])
    assert m.snapshot(zid) == before


def test_duplicate_delivery_is_judged_against_the_first(model) -> None:
    m, zid = model
    m.faults.duplicate()
    m.change_record_sets(zid, [Change("CREATE", a("x", "192.0.2.1"))])
    assert [r for r in m.list_record_sets(zid) if r.name == f"x.{Z}"] == [a("x", "192.0.2.1")]
    assert m.faults.fired["duplicate"] == 1


def test_rate_limit_is_a_token_bucket_on_the_clock() -> None:
    clock = VirtualClock()
    m = StrictRoute53(clock=clock, insync_after=0, rate_limit=(10, 5))
    zid = m.resolve_zone(Z, create=True)  # one token
    for _ in range(4):
        m.list_record_sets(zid)
    with pytest.raises(Throttled):
        m.list_record_sets(zid)
    clock.advance(0.15)  # one token back at 10/s
    m.list_record_sets(zid)
    assert m.rate_limit is not None and m.rate_limit.throttled == 1


def test_sets_per_zone_is_a_configurable_quota() -> None:
    from safeguards.errors import BatchRejected
    from safeguards.route53_rules import Quotas

    m = StrictRoute53(clock=VirtualClock(), insync_after=0, quotas=Quotas(sets_per_zone=4))
    zone_id = m.resolve_zone(Z, create=True)  # SOA and NS: 2 sets
    m.change_record_sets(zone_id, [Change("CREATE", a("one", "192.0.2.1")), Change("CREATE", a("two", "192.0.2.2"))])
    with pytest.raises(BatchRejected) as info:
        m.change_record_sets(zone_id, [Change("CREATE", a("three", "192.0.2.3"))])
    assert info.value.code == "InvalidChangeBatch"  # type: ignore[attr-defined]
    assert "resource record set limit of 4" in info.value.problems[0]
    # Replacing a set keeps the count: allowed at the quota.
    m.change_record_sets(zone_id, [Change("DELETE", a("two", "192.0.2.2")), Change("CREATE", a("two", "192.0.2.9"))])


def test_listing_pages_carry_record_identifiers_in_route53_order() -> None:
    m = StrictRoute53(clock=VirtualClock(), insync_after=0)
    zone_id = m.resolve_zone(Z, create=True)
    weighted = [RecordSet(f"api.{Z}", "A", 60, (f"192.0.2.{i}",), f"w{i}", i) for i in range(3)]
    m.change_record_sets(zone_id, [Change("CREATE", r) for r in weighted] + [Change("CREATE", a("a-b", "192.0.2.9"))])
    page = m.list_resource_record_sets(zone_id, max_items=3)
    assert [w["Name"] for w in page["ResourceRecordSets"]] == [Z, Z, f"a-b.{Z}"]
    assert (page["NextRecordName"], page["NextRecordType"], page["NextRecordIdentifier"]) == (f"api.{Z}", "A", "w0")
    nxt = m.list_resource_record_sets(zone_id, start_name=f"API.{Z}", start_type="A", start_identifier="w1",
                                      max_items=5)
    assert [w["SetIdentifier"] for w in nxt["ResourceRecordSets"]] == ["w1", "w2"] and not nxt["IsTruncated"]


def test_unknown_change_id_is_no_such_change(model) -> None:
    from safeguards.backends.boto3_route53 import NoSuchChange

    m, _ = model
    with pytest.raises(NoSuchChange):
        m.get_change("C-unknown")


def test_sqlite_state_from_before_routing_policies_gains_the_column(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE zones (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
        "CREATE TABLE rrsets (zone_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, set_id TEXT NOT NULL,"
        " ttl INTEGER NOT NULL, weight INTEGER, vals TEXT NOT NULL, PRIMARY KEY (zone_id, name, type, set_id));"
    )
    db.close()
    m = StrictRoute53(path=path, clock=VirtualClock(), insync_after=0)
    zone_id = m.resolve_zone(Z, create=True)
    latency = RecordSet(f"lat.{Z}", "A", 60, ("192.0.2.1",), "eu", region="eu-west-1", health_check_id="hc-1")
    m.change_record_sets(zone_id, [Change("CREATE", latency)])
    assert latency in StrictRoute53(path=path, clock=VirtualClock()).list_record_sets(zone_id)
