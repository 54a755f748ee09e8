"""Unit tests of the strict provider's batch rules (pure Python: run with the project's venv,
`.venv/bin/pytest localstack/plugin/tests -q`; LocalStack is not needed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnssg_localstack.route53_rules import from_request, plan_batch

ZONE = "example.com."


def rs(name: str, values: list[str], rtype: str = "A", ttl: int = 60, **extra: Any) -> dict[str, Any]:
    records = [{"Value": v} for v in values]
    return {"Name": f"{name}.{ZONE}", "Type": rtype, "TTL": ttl, "ResourceRecords": records, **extra}


def plan(current: list[dict[str, Any]], *changes: tuple[str, dict[str, Any]]):
    return plan_batch(
        ZONE,
        [(from_request(c), f"stored-{i}") for i, c in enumerate(current)],
        [(action, from_request(r)) for action, r in changes],
    )


ROUTED = [
    ({"Failover": "PRIMARY"}, {"Failover": "SECONDARY"}),
    ({"Region": "us-east-1"}, {"Region": "eu-west-1"}),
    ({"GeoLocation": {"CountryCode": "DE"}}, {"GeoLocation": {"CountryCode": "FR"}}),
    ({"Weight": 10}, {"Weight": 0}),
    ({"MultiValueAnswer": True, "HealthCheckId": "hc-1"}, {"MultiValueAnswer": True, "HealthCheckId": "hc-2"}),
]


@pytest.mark.parametrize(("live", "other"), ROUTED)
def test_delete_matches_routing_fields(live: dict[str, Any], other: dict[str, Any]) -> None:
    current = rs("r", ["192.0.2.1"], SetIdentifier="one", **live)

    assert plan([current], ("DELETE", rs("r", ["192.0.2.1"], SetIdentifier="one", **other))).problems
    exact = plan([current], ("DELETE", rs("r", ["192.0.2.1"], SetIdentifier="one", **live)))
    assert exact.problems == []
    assert exact.result == []


def test_delete_then_create_in_one_batch_is_a_compare_and_set() -> None:
    current = rs("a", ["192.0.2.1"])

    ok = plan([current], ("DELETE", current), ("CREATE", rs("a", ["192.0.2.2"])))
    stale = plan([current], ("DELETE", rs("a", ["192.0.2.9"])), ("CREATE", rs("a", ["192.0.2.2"])))

    assert ok.problems == []
    assert [r.values for r, _ in ok.result] == [("192.0.2.2",)]
    # As on Route 53: the stale DELETE fails, and so does the CREATE (the old set is still there).
    assert [p.split(" resource record set")[0] for p in stale.problems] == ["Tried to delete", "Tried to create"]
    assert stale.result == []


def test_every_problem_is_listed_and_nothing_applies() -> None:
    result = plan(
        [rs("a", ["192.0.2.1"])],
        ("CREATE", rs("a", ["192.0.2.1"])),
        ("DELETE", rs("gone", ["192.0.2.1"])),
        ("CREATE", rs("ok", ["192.0.2.1"])),
        ("CREATE", {**rs("x", ["192.0.2.1"]), "Name": "x.example.org."}),
    )

    assert len(result.problems) == 3
    assert result.result == []


def test_create_twice_in_one_batch() -> None:
    assert len(plan([], ("CREATE", rs("a", ["192.0.2.1"])), ("CREATE", rs("a", ["192.0.2.2"]))).problems) == 1


def test_upsert_replaces_and_keeps_other_sets() -> None:
    result = plan([rs("a", ["192.0.2.1"]), rs("b", ["192.0.2.1"])], ("UPSERT", rs("a", ["192.0.2.2"])))

    assert result.problems == []
    assert sorted((r.name, r.values, stored) for r, stored in result.result) == [
        ("a.example.com.", ("192.0.2.2",), None),
        ("b.example.com.", ("192.0.2.1",), "stored-1"),
    ]


def test_soa_and_apex_ns_cannot_be_deleted() -> None:
    soa_value = "ns. host. 1 7200 900 1209600 86400"
    soa = {"Name": ZONE, "Type": "SOA", "TTL": 900, "ResourceRecords": [{"Value": soa_value}]}
    ns = {"Name": ZONE, "Type": "NS", "TTL": 172800, "ResourceRecords": [{"Value": "ns-1.example.net."}]}

    assert plan([soa, ns], ("DELETE", soa)).problems
    assert plan([soa, ns], ("DELETE", ns)).problems


@pytest.mark.parametrize(
    ("action", "count", "ok"),
    [("CREATE", 1000, True), ("CREATE", 1001, False), ("UPSERT", 500, True), ("UPSERT", 501, False)],
)
def test_value_count_limit(action: str, count: int, ok: bool) -> None:
    values = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count)]

    assert (plan([], (action, rs("many", values))).problems == []) is ok


@pytest.mark.parametrize(("length", "ok"), [(32000, True), (32001, False)])
def test_value_character_limit(length: int, ok: bool) -> None:
    values = ["x" * 250] * (length // 250) + (["x" * (length % 250)] if length % 250 else [])

    assert sum(map(len, values)) == length
    assert (plan([], ("CREATE", rs("txt", values, "TXT"))).problems == []) is ok


def test_weighted_cnames_may_share_a_name_but_not_with_a() -> None:
    blue = rs("w", ["a.example.net."], "CNAME", SetIdentifier="blue", Weight=1)
    green = rs("w", ["b.example.net."], "CNAME", SetIdentifier="green", Weight=1)

    assert plan([blue], ("CREATE", green)).problems == []
    assert plan([blue], ("CREATE", rs("w", ["192.0.2.1"]))).problems


def test_set_identifier_needs_one_routing_policy() -> None:
    assert plan([], ("CREATE", rs("a", ["192.0.2.1"], SetIdentifier="x"))).problems
    assert plan([], ("CREATE", rs("a", ["192.0.2.1"], Weight=1))).problems
    assert plan([], ("CREATE", rs("a", ["192.0.2.1"], SetIdentifier="x", Weight=1, Region="us-east-1"))).problems


def test_names_compare_case_insensitively_and_without_the_dot() -> None:
    current = rs("a", ["192.0.2.1"])

    assert plan([current], ("DELETE", {**current, "Name": "A.Example.Com"})).problems == []
