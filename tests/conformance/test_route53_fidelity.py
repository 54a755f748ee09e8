"""Route 53's exact semantics as real clients see them (issue 12), on every backend.

Listing and paging through botocore's own paginator; names, order and values as listed;
validation Route 53 does; error codes and message texts; every routing policy, aliases and
health checks written, read back and deleted exactly. Gaps of moto and stock LocalStack are strict
xfails in gaps.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from wire import listed, raw_client, submit_raw

from safeguards.backends.boto3_route53 import NoSuchChange, record_set_to_wire
from safeguards.records import Change, RecordSet, alias_value, fqdn

if TYPE_CHECKING:
    from conftest import Target

HC = "0b7c5a2e-1d4e-4f7a-9c1b-2f3e4d5c6b7a"


def n(t: Target, label: str) -> str:
    return t.zone if label == "@" else fqdn(f"{label}.{t.zone}")


def wire(t: Target, label: str, rtype: str = "A", values: tuple[str, ...] = ("192.0.2.1",), ttl: Any = 300,
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": n(t, label), "Type": rtype, **extra}
    if ttl is not None:
        out["TTL"] = ttl
    if values:
        out["ResourceRecords"] = [{"Value": v} for v in values]
    return out


def create(w: dict[str, Any]) -> dict[str, Any]:
    return {"Action": "CREATE", "ResourceRecordSet": w}


# ---------------------------------------------------------------------------------- listing and paging


def _routed_sets(t: Target) -> list[dict[str, Any]]:
    out = [wire(t, "api", values=(f"192.0.2.{i}",), SetIdentifier=f"w{i}", Weight=i) for i in range(1, 6)]
    out += [wire(t, "geo", values=(f"198.51.100.{i}",), SetIdentifier=f"g{i}", GeoLocation={"CountryCode": cc})
            for i, cc in enumerate(("DE", "FR", "US", "*"), start=1)]
    return out


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 5])
def test_paginator_lists_every_set_once(target: Target, page_size: int) -> None:
    """botocore's paginator over weighted and geo sets: every set once, at every page size (needs
    NextRecordIdentifier/StartRecordIdentifier, or botocore sees the same token twice)."""
    t = target
    assert submit_raw(t, [create(w) for w in _routed_sets(t)]) is None
    pages = raw_client(t).get_paginator("list_resource_record_sets").paginate(
        HostedZoneId=t.zone_id, PaginationConfig={"PageSize": page_size}
    )
    keys = [(w["Name"], w["Type"], w.get("SetIdentifier")) for page in pages for w in page["ResourceRecordSets"]]
    assert len(keys) == len(set(keys)) == 9 + 2


def test_names_listed_lower_case_with_escaped_wildcard(target: Target) -> None:
    """Names come back lower-case, `*` as `\\052`, as Route 53 lists them."""
    t = target
    assert submit_raw(t, [create(wire(t, "WWW.Mixed")), create(wire(t, "*.w"))]) is None
    names = {w["Name"] for w in listed(t)}
    assert n(t, "www.mixed") in names
    assert "\\052." + n(t, "w") in names


def test_wildcard_and_escaped_wildcard_are_one_set(target: Target) -> None:
    t = target
    assert submit_raw(t, [create(wire(t, "*.w"))]) is None
    refused = submit_raw(t, [create(wire(t, "\\052.w", values=("192.0.2.2",)))])
    assert refused is not None and refused[0] == "InvalidChangeBatch"


def test_listing_order_sorts_hyphen_before_dot(target: Target) -> None:
    """Route 53 compares the reversed name with its trailing dot as text: `a-b` before `a`,
    `a` before `b.a` ("a." < "a.b."), and `a0` after `a.` ('0' > '.')."""
    t = target
    labels = ["a", "a-b", "b.a", "a0", "z"]
    assert submit_raw(t, [create(wire(t, label)) for label in labels]) is None
    order = [w["Name"] for w in listed(t) if w["Type"] == "A"]
    assert order == [n(t, label) for label in ("a-b", "a", "b.a", "a0", "z")]


def test_apex_soa_listed_as_one_seven_field_value(target: Target) -> None:
    t = target
    (soa,) = [w for w in listed(t) if w["Type"] == "SOA"]
    (value,) = [r["Value"] for r in soa["ResourceRecords"]]
    assert len(value.split()) == 7, value


# ---------------------------------------------------------------------------------- validation


TOO_LONG = '"' + "x" * 256 + '"'
VALIDATION = {
    "txt-unquoted": ("TXT", ("hello world",), {}, "InvalidChangeBatch"),
    "txt-string-over-255": ("TXT", (TOO_LONG,), {}, "InvalidChangeBatch"),
    "mx-malformed": ("MX", ("mail.example.com.",), {}, "InvalidChangeBatch"),
    "srv-malformed": ("SRV", ("10 5 sip.example.com.",), {}, "InvalidChangeBatch"),
    "caa-malformed": ("CAA", ("issue letsencrypt.org",), {}, "InvalidChangeBatch"),
    "401-values": ("A", tuple(f"10.0.{i // 250}.{i % 250}" for i in range(401)), {}, "InvalidChangeBatch"),
    "value-4001-chars": ("TXT", (" ".join(['"' + "x" * 250 + '"'] * 15 + ['"' + "y" * 258 + '"'])[:4001],), {},
                         "InvalidInput"),
    "weight-256": ("A", ("192.0.2.1",), {"SetIdentifier": "a", "Weight": 256}, "InvalidInput"),
}


@pytest.mark.parametrize("case", list(VALIDATION))
def test_invalid_set_refused_with_route53_code(target: Target, case: str) -> None:
    t = target
    rtype, values, extra, code = VALIDATION[case]
    if case == "value-4001-chars":
        assert len(values[0]) > 4000
    refused = submit_raw(t, [create(wire(t, "v", rtype, values, **extra))])
    assert refused is not None and refused[0] == code, refused


def test_name_with_a_space_refused(target: Target) -> None:
    t = target
    refused = submit_raw(t, [create(wire(t, "has space"))])
    assert refused is not None and refused[0] == "InvalidChangeBatch", refused


def test_wildcard_ns_refused(target: Target) -> None:
    t = target
    refused = submit_raw(t, [create(wire(t, "*.deleg", "NS", ("ns1.example.net.",)))])
    assert refused is not None and refused[0] == "InvalidChangeBatch", refused


def test_weighted_sets_of_one_name_share_one_ttl(target: Target) -> None:
    t = target
    assert submit_raw(t, [create(wire(t, "api", SetIdentifier="a", Weight=1, ttl=60))]) is None
    refused = submit_raw(t, [create(wire(t, "api", values=("192.0.2.2",), SetIdentifier="b", Weight=1, ttl=300))])
    assert refused is not None and refused[0] == "InvalidChangeBatch", refused


def test_two_latency_sets_for_one_region_refused(target: Target) -> None:
    t = target
    assert submit_raw(t, [create(wire(t, "lat", SetIdentifier="a", Region="eu-west-1"))]) is None
    refused = submit_raw(t, [create(wire(t, "lat", values=("192.0.2.2",), SetIdentifier="b", Region="eu-west-1"))])
    assert refused is not None and refused[0] == "InvalidChangeBatch", refused


# ---------------------------------------------------------------------------------- codes and texts


SHAPE = {
    "empty-changes": [],
    "unknown-action": [{"Action": "REPLACE", "ResourceRecordSet": {"Name": "x", "Type": "A", "TTL": 60,
                                                                   "ResourceRecords": [{"Value": "192.0.2.1"}]}}],
    "missing-ttl": [{"Action": "CREATE", "ResourceRecordSet": {"Type": "A",
                                                               "ResourceRecords": [{"Value": "192.0.2.1"}]}}],
    "set-identifier-without-policy": [{"Action": "CREATE", "ResourceRecordSet": {
        "Type": "A", "TTL": 60, "SetIdentifier": "x", "ResourceRecords": [{"Value": "192.0.2.1"}]}}],
}


@pytest.mark.parametrize("case", list(SHAPE))
def test_shape_errors_are_invalid_input(target: Target, case: str) -> None:
    t = target
    changes = [dict(c, ResourceRecordSet={**c["ResourceRecordSet"], "Name": n(t, "shape")}) for c in SHAPE[case]]
    refused = submit_raw(t, changes)
    assert refused is not None and refused[0] == "InvalidInput", refused


def test_missing_ttl_text_is_route53s(target: Target) -> None:
    t = target
    refused = submit_raw(t, [create(wire(t, "x", ttl=None))])
    assert refused is not None
    assert refused[1].startswith("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                                 "ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with ")


def test_get_change_of_unknown_id_is_no_such_change(target: Target) -> None:
    with pytest.raises(NoSuchChange):
        target.backend.get_change("C0000000000000NOPE")


def test_single_problem_is_bracketed(target: Target) -> None:
    t = target
    refused = submit_raw(t, [{"Action": "DELETE", "ResourceRecordSet": wire(t, "missing")}])
    assert refused == (
        "InvalidChangeBatch",
        f"[Tried to delete resource record set [name='{n(t, 'missing')}', type='A'] but it was not found]",
    )


def test_cname_conflict_texts_are_route53s(target: Target) -> None:
    t = target
    assert submit_raw(t, [create(wire(t, "dual")), create(wire(t, "c", "CNAME", ("target.example.net.",)))]) is None
    cname = submit_raw(t, [create(wire(t, "dual", "CNAME", ("target.example.net.",)))])
    assert cname == ("InvalidChangeBatch", f"[RRSet of type CNAME with DNS name {n(t, 'dual')} is not permitted as "
                     f"it conflicts with other records with the same DNS name in zone {t.zone}]")
    other = submit_raw(t, [create(wire(t, "c", "TXT", ('"x"',)))])
    assert other == ("InvalidChangeBatch", f"[RRSet of type TXT with DNS name {n(t, 'c')} is not permitted because "
                     f"a conflicting RRSet of type CNAME with the same DNS name already exists in zone {t.zone}]")


def test_32000_characters_text_is_route53s(target: Target) -> None:
    t = target
    sets = [wire(t, f"t{i}", "TXT", ('"' + "x" * 248 + '"',) * 1) for i in range(130)]
    refused = submit_raw(t, [create(w) for w in sets])
    assert refused == ("InvalidChangeBatch", "[RDATA character limit of 32000 exceeded.]")


def test_mixed_routing_text_is_route53s(target: Target) -> None:
    t = target
    assert submit_raw(t, [create(wire(t, "mix"))]) is None
    refused = submit_raw(t, [create(wire(t, "mix", values=("192.0.2.2",), SetIdentifier="b", Weight=1))])
    assert refused == ("InvalidChangeBatch", f"[RRSet with DNS name {n(t, 'mix')}, type A, SetIdentifier b cannot be "
                       "created as a non-weighted set exists with the same name and type.]")


def test_upsert_of_apex_ns_accepted(target: Target) -> None:
    """Only DELETE of the zone's own NS/SOA is refused; octoDNS's root-NS support UPSERTs it."""
    t = target
    (ns,) = [w for w in listed(t) if w["Type"] == "NS" and fqdn(w["Name"]) == t.zone]
    new = dict(ns, ResourceRecords=[*ns["ResourceRecords"], {"Value": "ns.example.net."}], TTL=3600)
    assert submit_raw(t, [{"Action": "UPSERT", "ResourceRecordSet": new}]) is None
    (after,) = [w for w in listed(t) if w["Type"] == "NS" and fqdn(w["Name"]) == t.zone]
    assert {r["Value"] for r in after["ResourceRecords"]} == {r["Value"] for r in new["ResourceRecords"]}


# ---------------------------------------------------------------------------------- routing policies


def routed(t: Target) -> list[RecordSet]:
    """Every routing policy, an apex alias and health checks, as the library models them."""
    return [
        RecordSet(n(t, "w"), "A", 60, ("192.0.2.1",), "blue", 10, health_check_id=HC),
        RecordSet(n(t, "w"), "A", 60, ("192.0.2.2",), "green", 0),
        RecordSet(n(t, "lat"), "A", 60, ("192.0.2.3",), "eu", region="eu-west-1", health_check_id=HC),
        RecordSet(n(t, "lat"), "A", 60, ("192.0.2.4",), "us", region="us-east-1"),
        RecordSet(n(t, "fo"), "A", 60, ("192.0.2.5",), "p", failover="PRIMARY", health_check_id=HC),
        RecordSet(n(t, "fo"), "A", 60, ("192.0.2.6",), "s", failover="SECONDARY"),
        RecordSet(n(t, "geo"), "A", 60, ("192.0.2.7",), "de", geo=(("CountryCode", "DE"),)),
        RecordSet(n(t, "geo"), "A", 60, ("192.0.2.8",), "default", geo=(("CountryCode", "*"),)),
        RecordSet(n(t, "gp"), "A", 60, ("192.0.2.9",), "r1", geoproximity=(("AWSRegion", "eu-west-1"), ("Bias", "10"))),
        RecordSet(n(t, "mv"), "A", 60, ("192.0.2.10",), "m1", multivalue=True, health_check_id=HC),
        RecordSet(n(t, "mv"), "A", 60, ("192.0.2.11",), "m2", multivalue=True),
        RecordSet(n(t, "cidr"), "A", 60, ("192.0.2.12",), "c1",
                  cidr=(("CollectionId", "6c5f1a7e-2b1d-4c3e-8f9a-0b1c2d3e4f5a"), ("LocationName", "office"))),
        RecordSet(t.zone, "A", 0, (alias_value("Z2FDTNDATAQYW2", "d111111abcdef8.cloudfront.net.", False),)),
        RecordSet(n(t, "lb"), "A", 0, (alias_value(t.zone_id.split("/")[-1], n(t, "w"), True),), "a", 5),
    ]


def test_every_routing_policy_round_trips_and_deletes_exactly(target: Target) -> None:
    t = target
    sets = routed(t)
    t.backend.change_record_sets(t.zone_id, [Change("CREATE", r) for r in sets])
    live = t.backend.list_record_sets(t.zone_id)
    assert [r for r in sets if r not in live] == []
    t.backend.change_record_sets(t.zone_id, [Change("DELETE", r) for r in sets])
    assert {r.type for r in t.backend.list_record_sets(t.zone_id)} == {"NS", "SOA"}


@pytest.mark.parametrize("field", ["health_check_id", "region", "failover"])
def test_delete_must_match_routing_fields(target: Target, field: str) -> None:
    """A DELETE naming another health check, region or failover role than the live set is refused."""
    t = target
    live = {
        "health_check_id": RecordSet(n(t, "r"), "A", 60, ("192.0.2.1",), "a", 1, health_check_id=HC),
        "region": RecordSet(n(t, "r"), "A", 60, ("192.0.2.1",), "a", region="eu-west-1"),
        "failover": RecordSet(n(t, "r"), "A", 60, ("192.0.2.1",), "a", failover="PRIMARY"),
    }[field]
    other = {"health_check_id": "1b7c5a2e-1d4e-4f7a-9c1b-2f3e4d5c6b7a", "region": "us-east-1",
             "failover": "SECONDARY"}[field]
    wrong = RecordSet(**{**live.to_dict(), "values": live.values, "geo": None, field: other})  # type: ignore[arg-type]
    t.backend.change_record_sets(t.zone_id, [Change("CREATE", live)])
    refused = submit_raw(t, [{"Action": "DELETE", "ResourceRecordSet": record_set_to_wire(wrong)}])
    assert refused is not None and refused[0] == "InvalidChangeBatch", refused
    assert live in t.backend.list_record_sets(t.zone_id)
