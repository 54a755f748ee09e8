"""Boto3Route53 against a real HTTP endpoint (moto's server): zones, paging, escaped names,
aliases, and the mapping of every failure kind to the library's exceptions.

moto accepts stale DELETEs (a known emulator gap, see route53-semantics.md), so strictness is
not asserted here. Throttling and PriorRequestNotComplete are codes no emulator produces: only
those (and HTTP 429/503) come from botocore's Stubber. Lost responses come from small real
TCP servers that swallow or drop the request."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from safeguards.backend import Route53Backend
from safeguards.backends.boto3_route53 import ALIAS_PREFIX, Boto3Route53, make_route53_client
from safeguards.errors import (
    BackendError,
    BatchRejected,
    CredentialsMissing,
    EndpointUnavailable,
    InvalidInput,
    OutcomeUnknown,
    PriorRequestNotComplete,
    Throttled,
    ZoneNotFound,
)
from safeguards.records import Change, RecordSet
from safeguards.testing.moto_server import moto_server

# Under pytest-xdist these tests share one worker:
# one moto server per module (`endpoint`), not once per worker.
pytestmark = pytest.mark.xdist_group("moto-route53")

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def client(endpoint: str):
    return boto3.client("route53", endpoint_url=endpoint, **CREDS)


@pytest.fixture
def backend(client) -> Boto3Route53:
    return Boto3Route53(client)


@pytest.fixture
def zone() -> str:
    return f"z{uuid.uuid4().hex[:10]}.example."


def a(name: str, *values: str, ttl: int = 60, ident: str | None = None, weight: int | None = None) -> RecordSet:
    return RecordSet(name, "A", ttl, tuple(sorted(values)), ident, weight)


def count_calls(client, operation: str) -> list[int]:
    calls: list[int] = []
    client.meta.events.register(f"before-call.route53.{operation}", lambda **_: calls.append(1))
    return calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- zones


def test_backend_satisfies_protocol(backend: Boto3Route53) -> None:
    assert isinstance(backend, Route53Backend)


def test_resolve_missing_zone_raises_zone_not_found(backend: Boto3Route53, zone: str) -> None:
    with pytest.raises(ZoneNotFound) as info:
        backend.resolve_zone(zone)
    assert str(info.value) == f"hosted zone {zone} not found"


def test_resolve_creates_then_finds_by_canonical_name_and_caches(backend: Boto3Route53, client, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    assert not zone_id.startswith("/hostedzone/")
    assert client.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"] == zone

    fresh = Boto3Route53(client)
    lookups = count_calls(client, "ListHostedZonesByName")
    assert fresh.resolve_zone(zone.upper().rstrip(".")) == zone_id
    assert fresh.resolve_zone(zone) == zone_id
    assert len(lookups) == 1  # the second resolve came from the cache


def test_resolve_is_exact_match_not_a_parent_or_child(backend: Boto3Route53, client, zone: str) -> None:
    client.create_hosted_zone(Name="sub." + zone, CallerReference=str(uuid.uuid4()))
    with pytest.raises(ZoneNotFound):
        backend.resolve_zone(zone)


def test_two_zones_with_one_name_are_refused_as_ambiguous(backend: Boto3Route53, client, zone: str) -> None:
    ids = {
        client.create_hosted_zone(Name=zone, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"] for _ in range(2)
    }
    with pytest.raises(InvalidInput, match="ambiguous: 2 hosted zones"):
        backend.resolve_zone(zone)
    assert len(ids) == 2


# ---------------------------------------------------------------------- record sets


def test_paging_over_more_than_300_sets_returns_every_set_once(backend: Boto3Route53, client, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    # Values given unsorted ("9" sorts after "10" as text): the backend must sort them.
    plain = [a(f"h{i:03d}.{zone}", "192.0.2.9", "192.0.2.10") for i in range(340)]
    weighted = [a(f"w.{zone}", f"198.51.100.{i}", ident=f"id{i}", weight=i) for i in range(5)]
    for start in range(0, len(plain), 200):
        backend.change_record_sets(zone_id, [Change("CREATE", r) for r in plain[start : start + 200]])
    backend.change_record_sets(zone_id, [Change("CREATE", r) for r in weighted])

    pages = count_calls(client, "ListResourceRecordSets")
    sets = backend.list_record_sets(zone_id)

    assert len(pages) >= 2
    ours = [r for r in sets if r.type == "A"]
    assert sorted(ours) == sorted(plain + weighted)
    assert len(ours) == len(set(ours)) == 345
    assert {r.type for r in sets if r.name == zone} == {"NS", "SOA"}
    assert all(r.values == tuple(sorted(r.values)) for r in sets)
    assert sets == sorted(sets)


def test_escaped_names_are_decoded(backend: Boto3Route53, client, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    # Route 53 returns "*" as \052 and other specials as octal escapes; send them that way.
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"\\052.{zone}",
                        "Type": "TXT",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": '"wild"'}],
                    },
                },
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"Mixed\\100Case.{zone}",
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "192.0.2.1"}],
                    },
                },
            ]
        },
    )
    names = {r.name for r in backend.list_record_sets(zone_id)}
    assert f"*.{zone}" in names
    assert f"mixed@case.{zone}" in names
    assert not any("\\" in n for n in names)


def test_create_delete_round_trip_and_change_info(backend: Boto3Route53, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    simple = a(f"www.{zone}", "192.0.2.1", "192.0.2.2")
    heavy = a(f"api.{zone}", "192.0.2.3", ident="blue", weight=70)
    light = a(f"api.{zone}", "192.0.2.4", ident="green", weight=30)

    info = backend.change_record_sets(zone_id, [Change("CREATE", r) for r in (simple, heavy, light)], "gen=1")
    assert not info.id.startswith("/change/")
    assert info.status in ("PENDING", "INSYNC")
    assert info.submitted_at > 0
    assert backend.get_change(info.id).id == info.id
    assert backend.get_change("/change/" + info.id).status in ("PENDING", "INSYNC")
    assert {simple, heavy, light} <= set(backend.list_record_sets(zone_id))

    backend.change_record_sets(zone_id, [Change("DELETE", heavy), Change("DELETE", simple)])
    after = set(backend.list_record_sets(zone_id))
    assert light in after
    assert simple not in after
    assert heavy not in after


def test_alias_records_are_represented_and_can_be_deleted(backend: Boto3Route53, client, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    backend.change_record_sets(zone_id, [Change("CREATE", a(f"target.{zone}", "192.0.2.5"))])
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"alias.{zone}",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": zone_id,
                            "DNSName": f"target.{zone}",
                            "EvaluateTargetHealth": False,
                        },
                    },
                }
            ]
        },
    )
    [alias] = [r for r in backend.list_record_sets(zone_id) if r.name == f"alias.{zone}"]
    assert alias.ttl == 0
    assert alias.values == (f"{ALIAS_PREFIX}{zone_id} target.{zone} evaluate=false",)

    backend.change_record_sets(zone_id, [Change("DELETE", alias)])
    assert not [r for r in backend.list_record_sets(zone_id) if r.name == f"alias.{zone}"]


def _routed(zone: str) -> list[RecordSet]:
    """One set of each routing policy moto stores (geoproximity and CIDR are covered against the
    strict model and LocalStack: moto drops them), with health checks."""
    hc = "0b7c5a2e-1d4e-4f7a-9c1b-2f3e4d5c6b7a"
    return [
        RecordSet(f"lat.{zone}", "A", 60, ("192.0.2.7",), "eu", region="eu-west-1", health_check_id=hc),
        RecordSet(f"lat.{zone}", "A", 60, ("192.0.2.8",), "us", region="us-east-1"),
        RecordSet(f"fo.{zone}", "A", 60, ("192.0.2.9",), "primary", failover="PRIMARY", health_check_id=hc),
        RecordSet(f"fo.{zone}", "A", 60, ("192.0.2.10",), "secondary", failover="SECONDARY"),
        RecordSet(f"geo.{zone}", "A", 60, ("192.0.2.11",), "de", geo=(("CountryCode", "DE"),)),
        RecordSet(f"geo.{zone}", "A", 60, ("192.0.2.12",), "default", geo=(("CountryCode", "*"),)),
        RecordSet(f"mv.{zone}", "A", 60, ("192.0.2.13",), "one", multivalue=True, health_check_id=hc),
        RecordSet(f"w.{zone}", "A", 60, ("192.0.2.14",), "blue", 10, health_check_id=hc),
    ]


def test_every_routing_policy_reads_back_equal_and_deletes_exactly(backend: Boto3Route53, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    sets = _routed(zone)
    backend.change_record_sets(zone_id, [Change("CREATE", r) for r in sets])
    listed = backend.list_record_sets(zone_id)
    for r in sets:
        assert r in listed, r
    backend.change_record_sets(zone_id, [Change("DELETE", r) for r in sets if r.name == f"fo.{zone}"])
    assert not [r for r in backend.list_record_sets(zone_id) if r.name == f"fo.{zone}"]


def test_traffic_policy_sets_are_refused_naming_the_set() -> None:
    from safeguards.backends.boto3_route53 import record_set_from_wire

    wire = {"Name": "tp.example.com.", "Type": "A", "SetIdentifier": "x", "TrafficPolicyInstanceId": "tpi-1"}
    with pytest.raises(InvalidInput) as info:
        record_set_from_wire(wire)
    assert "tp.example.com. A (set identifier 'x') belongs to traffic policy instance tpi-1" in str(info.value)


# ---------------------------------------------------------------------- errors from the endpoint


def test_create_outside_the_zone_is_batch_rejected_in_one_line(backend: Boto3Route53, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    with pytest.raises(BatchRejected) as info:
        backend.change_record_sets(zone_id, [Change("CREATE", a("www.elsewhere.example.", "192.0.2.1"))])
    err = info.value
    assert zone in str(err)
    assert "www.elsewhere.example" in str(err)
    assert "\n" not in str(err)
    assert err.problems and all("\n" not in p for p in err.problems)
    assert not err.retryable


def test_no_such_hosted_zone_is_zone_not_found(backend: Boto3Route53) -> None:
    with pytest.raises(ZoneNotFound, match="NOSUCHZONE"):
        backend.change_record_sets("NOSUCHZONE", [Change("CREATE", a("x.nowhere.example.", "192.0.2.1"))])
    with pytest.raises(ZoneNotFound):
        backend.list_record_sets("/hostedzone/NOSUCHZONE")


def test_deleted_zone_is_forgotten_by_the_cache(backend: Boto3Route53, client, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    client.delete_hosted_zone(Id=zone_id)
    with pytest.raises(ZoneNotFound, match=zone):
        backend.list_record_sets(zone_id)
    with pytest.raises(ZoneNotFound):
        backend.resolve_zone(zone)


# Codes no emulator produces: a stub stands in for the wire response, nothing more.
@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, Throttled),
        ("ThrottlingException", 400, Throttled),
        ("PriorRequestNotComplete", 400, PriorRequestNotComplete),
        ("", 429, Throttled),
        ("ServiceUnavailable", 503, Throttled),
        ("InternalFailure", 500, Throttled),
        ("InvalidChangeBatch", 400, BatchRejected),
        ("AccessDenied", 403, BackendError),
    ],
)
def test_wire_error_codes_map_to_library_errors(client, code: str, status: int, expected: type) -> None:
    backend = Boto3Route53(client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "change_resource_record_sets", service_error_code=code, service_message="from stub", http_status_code=status
        )
        with pytest.raises(expected) as info:
            backend.change_record_sets("Z1", [Change("CREATE", a("x.example.", "192.0.2.1"))])
    err = info.value
    assert type(err) is expected
    assert err.retryable is (expected in (Throttled, PriorRequestNotComplete))
    assert "\n" not in str(err)


def test_rejection_lists_every_problem_aws_gives(client) -> None:
    backend = Boto3Route53(client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "change_resource_record_sets",
            service_error_code="InvalidChangeBatch",
            service_message="[Tried to delete resource record set [name='a.example.', type='A'] but it was not found]",
            http_status_code=400,
        )
        with pytest.raises(BatchRejected) as info:
            backend.change_record_sets("Z1", [Change("DELETE", a("a.example.", "192.0.2.1"))])
    assert info.value.problems == (
        "Tried to delete resource record set [name='a.example.', type='A'] but it was not found",
    )


def test_nothing_listening_is_endpoint_unavailable_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = make_route53_client(boto3.session.Session(**CREDS), url, "us-east-1")
    backend = Boto3Route53(client)
    with pytest.raises(EndpointUnavailable) as info:
        backend.resolve_zone("example.")
    assert url in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(EndpointUnavailable):
        backend.change_record_sets("Z1", [Change("CREATE", a("x.example.", "192.0.2.1"))])


def test_no_credentials_is_credentials_missing(monkeypatch: pytest.MonkeyPatch, endpoint: str, tmp_path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.session.Session(region_name="us-east-1").client("route53", endpoint_url=endpoint)
    with pytest.raises(CredentialsMissing, match="no AWS credentials"):
        Boto3Route53(client).resolve_zone("example.")


@contextlib.contextmanager
def swallowing_server(*, reset: bool) -> Iterator[tuple[str, threading.Event]]:
    """A TCP endpoint that reads a request, then never answers (or closes the connection)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    received = threading.Event()
    release = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not release.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conns.append(conn)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            received.set()
            if reset:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}", received
    finally:
        release.set()
        # shutdown() wakes a thread blocked in accept()/recv(); close() alone does not.
        for sock in (srv, *conns):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.mark.parametrize("reset", [False, True], ids=["read-timeout", "connection-closed"])
def test_lost_response_is_outcome_unknown_for_writes_and_retryable_for_reads(reset: bool) -> None:
    with swallowing_server(reset=reset) as (url, received):
        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=0.5, connect_timeout=1)
        client = boto3.client("route53", endpoint_url=url, config=config, **CREDS)
        backend = Boto3Route53(client)
        with pytest.raises(OutcomeUnknown, match="may or may not have been applied") as info:
            backend.change_record_sets("Z1", [Change("CREATE", a("x.example.", "192.0.2.1"))])
        assert received.is_set()  # the request did reach the endpoint
        assert url in str(info.value)
        with pytest.raises(Throttled, match="retry the read"):
            backend.list_record_sets("Z1")


def test_make_route53_client_bounds_retries_and_timeouts() -> None:
    client = make_route53_client(boto3.session.Session(**CREDS), "http://127.0.0.1:1", "eu-west-1")
    cfg = client.meta.config
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (cfg.connect_timeout, cfg.read_timeout) == (5, 30)
    assert client.meta.endpoint_url == "http://127.0.0.1:1"


def test_a_page_from_any_name_reads_only_from_there(backend: Boto3Route53, client, zone: str) -> None:
    zone_id = backend.resolve_zone(zone, create=True)
    plain = [a(f"h{i:03d}.{zone}", "192.0.2.9") for i in range(340)]
    for start in range(0, len(plain), 200):
        backend.change_record_sets(zone_id, [Change("CREATE", r) for r in plain[start : start + 200]])

    pages = count_calls(client, "ListResourceRecordSets")
    sets, after = backend.list_record_sets_page(zone_id, (f"h100.{zone}", None, None), max_items=5)

    assert len(pages) == 1
    assert [r.name for r in sets] == [f"h{i:03d}.{zone}" for i in range(100, 105)]
    assert after is not None and after[0].rstrip(".") == f"h105.{zone}".rstrip(".") and after[1] == "A"
    rest, end = backend.list_record_sets_page(zone_id, after, max_items=300)
    assert rest[0].name == f"h105.{zone}" and end is None
    assert rest[-1].name == f"h339.{zone}"
