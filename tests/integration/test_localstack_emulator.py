"""What LocalStack's Route 53 does, stock (moto) vs the strict provider, through boto3.

Each probe runs against both providers. The strict provider must show real Route 53 behaviour
(the semantics dns-safeguards' compare-and-set relies on); the stock provider's gaps are asserted
as gaps, so this file documents them and notices when LocalStack changes. Error codes are
asserted, not messages (except where the strict provider's own message format is the point).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from safeguards.testing.localstack import LocalStackUnavailable, inject_throttling

pytestmark = pytest.mark.dnssg_localstack

THREADS = 16


@pytest.fixture(params=["stock", "strict"])
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, provider: str) -> str:
    return request.getfixturevalue(f"localstack_{provider}")


def rrset(name: str, values: list[str], rtype: str = "A", ttl: int = 60, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values], **extra}


def change(action: str, rrs: dict[str, Any]) -> dict[str, Any]:
    return {"Action": action, "ResourceRecordSet": rrs}


@dataclass
class Zone:
    """A fresh hosted zone on one LocalStack, with small helpers around boto3."""

    client: Any
    id: str
    name: str  # with trailing dot

    def fqdn(self, label: str) -> str:
        return f"{label}.{self.name}" if label else self.name

    def change(self, *changes: dict[str, Any], client: Any = None) -> dict[str, Any]:
        return (client or self.client).change_resource_record_sets(
            HostedZoneId=self.id, ChangeBatch={"Changes": list(changes)}
        )["ChangeInfo"]

    def error_of(self, *changes: dict[str, Any], client: Any = None) -> str | None:
        """The error code of the batch, or None when it was accepted."""
        try:
            self.change(*changes, client=client)
        except ClientError as error:
            return error.response["Error"]["Code"]
        return None

    def sets(self, label: str, rtype: str | None = None) -> list[dict[str, Any]]:
        """The record sets at label (optionally of one type), as ListResourceRecordSets returns them."""
        name = self.fqdn(label)
        found = self.client.list_resource_record_sets(HostedZoneId=self.id, MaxItems="300")["ResourceRecordSets"]
        return [s for s in found if s["Name"] == name and (rtype is None or s["Type"] == rtype)]

    def values(self, label: str, rtype: str = "A") -> list[list[str]]:
        return [sorted(r["Value"] for r in s.get("ResourceRecords", [])) for s in self.sets(label, rtype)]


def make_zone(client: Any) -> Zone:
    """Create a uniquely named hosted zone (the instances are shared by the whole session)."""
    created = client.create_hosted_zone(
        Name=f"t{uuid.uuid4().hex[:10]}.example.com", CallerReference=str(uuid.uuid4())
    )["HostedZone"]
    return Zone(client=client, id=created["Id"], name=created["Name"])


@pytest.fixture
def zone(endpoint: str, route53_client: Callable[..., Any]) -> Zone:
    return make_zone(route53_client(endpoint))


def run_together(tasks: list[Callable[[], str | None]]) -> list[str | None]:
    """Run tasks in threads released at the same moment by a barrier; return their results in order."""
    barrier = threading.Barrier(len(tasks))
    results: list[str | None] = [None] * len(tasks)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = tasks[index]()
        except BaseException as error:  # surfaced below: a crashed worker must fail the test
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return results


# --- the measured table ---------------------------------------------------------------------------


def test_delete_with_a_stale_value(zone: Zone, provider: str) -> None:
    zone.change(change("CREATE", rrset(zone.fqdn("a"), ["192.0.2.1"])))
    zone.change(change("UPSERT", rrset(zone.fqdn("a"), ["192.0.2.2"])))

    code = zone.error_of(change("DELETE", rrset(zone.fqdn("a"), ["192.0.2.1"])))

    if provider == "stock":  # gap: moto checks DELETE against its journal of past writes, not the live set
        assert code is None
        assert zone.sets("a") == []
    else:
        assert code == "InvalidChangeBatch"
        assert zone.values("a") == [["192.0.2.2"]]


def test_create_of_an_existing_set(zone: Zone, provider: str) -> None:
    zone.change(change("CREATE", rrset(zone.fqdn("a"), ["192.0.2.1"])))

    code = zone.error_of(change("CREATE", rrset(zone.fqdn("a"), ["192.0.2.2"])))

    if provider == "stock":  # gap: a second set with the same name and type
        assert code is None
        assert sorted(zone.values("a")) == [["192.0.2.1"], ["192.0.2.2"]]
    else:
        assert code == "InvalidChangeBatch"
        assert zone.values("a") == [["192.0.2.1"]]


def test_batch_with_one_bad_change_is_all_or_nothing(zone: Zone, provider: str) -> None:
    code = zone.error_of(
        change("CREATE", rrset(zone.fqdn("b"), ["192.0.2.1"])),
        change("CREATE", rrset("x.not-this-zone.example.org.", ["192.0.2.1"])),
    )

    assert code == "InvalidChangeBatch"
    if provider == "stock":  # gap: the first change stays applied
        assert zone.values("b") == [["192.0.2.1"]]
    else:
        assert zone.sets("b") == []


def test_exact_delete_with_values_in_another_order(zone: Zone, provider: str) -> None:
    zone.change(change("CREATE", rrset(zone.fqdn("a"), ["192.0.2.1", "192.0.2.2"])))

    code = zone.error_of(change("DELETE", rrset(zone.fqdn("a"), ["192.0.2.2", "192.0.2.1"])))

    if provider == "stock":  # gap (the other way): moto compares the value lists in order
        assert code == "InvalidInput"
        assert zone.values("a") == [["192.0.2.1", "192.0.2.2"]]
    else:
        assert code is None
        assert zone.sets("a") == []


def test_concurrent_compare_and_set_has_one_winner(
    zone: Zone, provider: str, endpoint: str, route53_client: Callable[..., Any]
) -> None:
    observed = ["198.51.100.1"]
    zone.change(change("CREATE", rrset(zone.fqdn("cas"), observed)))
    clients = [route53_client(endpoint) for _ in range(THREADS)]

    def swap(i: int) -> Callable[[], str | None]:
        return lambda: zone.error_of(
            change("DELETE", rrset(zone.fqdn("cas"), observed)),
            change("CREATE", rrset(zone.fqdn("cas"), [f"203.0.113.{i}"])),
            client=clients[i],
        )

    results = run_together([swap(i) for i in range(THREADS)])

    winners = [i for i, code in enumerate(results) if code is None]
    if provider == "stock":  # gap: every stale swap is accepted
        assert len(winners) == THREADS
    else:
        assert len(winners) == 1
        assert all(code == "InvalidChangeBatch" for code in results if code is not None)
        assert zone.values("cas") == [[f"203.0.113.{winners[0]}"]]


def test_concurrent_create_of_one_name_has_one_winner(
    zone: Zone, provider: str, endpoint: str, route53_client: Callable[..., Any]
) -> None:
    clients = [route53_client(endpoint) for _ in range(THREADS)]

    def create(i: int) -> Callable[[], str | None]:
        return lambda: zone.error_of(change("CREATE", rrset(zone.fqdn("new"), [f"203.0.113.{i}"])), client=clients[i])

    results = run_together([create(i) for i in range(THREADS)])

    winners = [i for i, code in enumerate(results) if code is None]
    if provider == "stock":  # gap: one set per writer
        assert len(winners) == THREADS
        assert len(zone.sets("new", "A")) == THREADS
    else:
        assert len(winners) == 1
        assert zone.values("new") == [[f"203.0.113.{winners[0]}"]]


def test_weighted_delete_with_the_wrong_weight(zone: Zone, provider: str) -> None:
    blue = rrset(zone.fqdn("w"), ["192.0.2.1"], SetIdentifier="blue", Weight=10)
    zone.change(change("CREATE", blue))

    code = zone.error_of(change("DELETE", {**blue, "Weight": 20}))

    if provider == "stock":  # gap: moto deletes by set identifier only
        assert code is None
        assert zone.sets("w") == []
    else:
        assert code == "InvalidChangeBatch"
        assert [s["Weight"] for s in zone.sets("w")] == [10]
        assert zone.error_of(change("DELETE", blue)) is None
        assert zone.sets("w") == []


def test_weighted_delete_leaves_other_names_with_the_same_set_identifier(zone: Zone, provider: str) -> None:
    one = rrset(zone.fqdn("w1"), ["192.0.2.1"], SetIdentifier="blue", Weight=10)
    two = rrset(zone.fqdn("w2"), ["192.0.2.2"], SetIdentifier="blue", Weight=10)
    zone.change(change("CREATE", one), change("CREATE", two))

    assert zone.error_of(change("DELETE", one)) is None

    assert zone.sets("w1") == []
    if provider == "stock":  # gap: every set with that identifier goes, whatever its name
        assert zone.sets("w2") == []
    else:
        assert zone.values("w2") == [["192.0.2.2"]]


def test_cname_beside_another_type(zone: Zone, provider: str) -> None:
    zone.change(change("CREATE", rrset(zone.fqdn("c"), ["192.0.2.1"])))

    code = zone.error_of(change("CREATE", rrset(zone.fqdn("c"), ["target.example.net."], "CNAME")))

    if provider == "stock":  # gap: both types live at one name
        assert code is None
        assert {s["Type"] for s in zone.sets("c")} == {"A", "CNAME"}
    else:
        assert code == "InvalidChangeBatch"
        assert {s["Type"] for s in zone.sets("c")} == {"A"}


def test_another_type_beside_a_cname(zone: Zone, provider: str) -> None:
    zone.change(change("CREATE", rrset(zone.fqdn("c"), ["target.example.net."], "CNAME")))

    code = zone.error_of(change("CREATE", rrset(zone.fqdn("c"), ["192.0.2.1"])))

    if provider == "stock":  # gap
        assert code is None
    else:
        assert code == "InvalidChangeBatch"
        assert {s["Type"] for s in zone.sets("c")} == {"CNAME"}


def test_simple_and_weighted_sets_cannot_share_a_name_and_type(zone: Zone, provider: str) -> None:
    zone.change(change("CREATE", rrset(zone.fqdn("m"), ["192.0.2.1"])))

    code = zone.error_of(change("CREATE", rrset(zone.fqdn("m"), ["192.0.2.2"], SetIdentifier="blue", Weight=1)))

    if provider == "stock":  # gap
        assert code is None
    else:
        assert code == "InvalidChangeBatch"
        assert zone.values("m") == [["192.0.2.1"]]


def test_alias_delete_must_name_the_current_target(zone: Zone, provider: str) -> None:
    def alias(target: str) -> dict[str, Any]:
        return {
            "Name": zone.fqdn("al"),
            "Type": "A",
            "AliasTarget": {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": target, "EvaluateTargetHealth": False},
        }

    zone.change(change("CREATE", alias("d111111abcdef8.cloudfront.net.")))

    code = zone.error_of(change("DELETE", alias("d222222abcdef8.cloudfront.net.")))

    if provider == "stock":  # gap: an alias DELETE matches by name and type only
        assert code is None
        assert zone.sets("al") == []
    else:
        assert code == "InvalidChangeBatch"
        assert [s["AliasTarget"]["DNSName"] for s in zone.sets("al")] == ["d111111abcdef8.cloudfront.net."]
        assert zone.error_of(change("DELETE", alias("d111111abcdef8.cloudfront.net."))) is None


def test_cname_at_the_apex(zone: Zone, provider: str) -> None:
    code = zone.error_of(change("CREATE", rrset(zone.name, ["target.example.net."], "CNAME")))

    if provider == "stock":  # gap
        assert code is None
    else:
        assert code == "InvalidChangeBatch"
        assert zone.sets("", "CNAME") == []


# --- limits, change status, faults ----------------------------------------------------------------


def test_value_character_limit(zone: Zone, provider: str) -> None:
    values = [f'"{i:03d}{"x" * 245}"' for i in range(130)]  # 130 * 250 = 32500 characters > 32000

    code = zone.error_of(change("CREATE", rrset(zone.fqdn("txt"), values, "TXT")))

    if provider == "stock":  # gap: no limit on value characters
        assert code is None
    else:
        assert code == "InvalidChangeBatch"
        assert zone.sets("txt") == []


def test_upsert_counts_twice_towards_the_1000_values(zone: Zone, provider: str) -> None:
    # Two sets of 251 values (a set holds at most 400): 502 values, 1,004 counted as UPSERTs.
    sets = [rrset(zone.fqdn(f"many{n}"), [f"10.{n}.{i // 250}.{i % 250}" for i in range(251)]) for n in (1, 2)]

    assert zone.error_of(*(change("UPSERT", s) for s in sets)) == "InvalidChangeBatch"
    assert zone.error_of(*(change("CREATE", s) for s in sets)) is None


def test_change_status_and_id(zone: Zone, provider: str) -> None:
    first = zone.change(change("CREATE", rrset(zone.fqdn("s1"), ["192.0.2.1"])))
    second = zone.change(change("CREATE", rrset(zone.fqdn("s2"), ["192.0.2.1"])))

    synced = zone.client.get_change(Id=first["Id"])["ChangeInfo"]["Status"]

    assert synced == "INSYNC"
    if provider == "stock":  # gap: INSYNC at once, and every change has the same id
        assert first["Status"] == "INSYNC"
        assert first["Id"] == second["Id"]
    else:
        assert first["Status"] == "PENDING"
        assert first["Id"] != second["Id"]


def test_strict_lists_every_problem(localstack_strict: str, route53_client: Callable[..., Any]) -> None:
    zone = make_zone(route53_client(localstack_strict))

    with pytest.raises(ClientError) as raised:
        zone.change(
            change("DELETE", rrset(zone.fqdn("gone1"), ["192.0.2.1"])),
            change("DELETE", rrset(zone.fqdn("gone2"), ["192.0.2.1"])),
        )
    assert raised.value.response["Error"]["Code"] == "InvalidChangeBatch"
    message = raised.value.response["Error"]["Message"]
    assert zone.fqdn("gone1") in message
    assert zone.fqdn("gone2") in message


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_injected_throttling(zone: Zone, provider: str, endpoint: str, code: str) -> None:
    batch = change("UPSERT", rrset(zone.fqdn("t"), ["192.0.2.1"]))
    if provider == "stock":
        with pytest.raises(LocalStackUnavailable):
            inject_throttling(endpoint, 2, code)
        return

    inject_throttling(endpoint, 2, code)
    failures = []
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            zone.change(batch)
        failures.append(raised.value.response)

    assert [f["Error"]["Code"] for f in failures] == [code, code]
    assert [f["ResponseMetadata"]["HTTPStatusCode"] for f in failures] == [400, 400]
    assert zone.sets("t") == []
    assert zone.error_of(batch) is None
    assert zone.values("t") == [["192.0.2.1"]]


# --- DynamoDB (moto provider, both instances) ---------------------------------------------------


def test_dynamodb_conditional_put(endpoint: str, dynamodb_client: Callable[..., Any]) -> None:
    ddb = dynamodb_client(endpoint)
    table = f"t{uuid.uuid4().hex[:10]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"pk": {"S": "plan"}, "generation": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    with pytest.raises(ClientError) as raised:
        ddb.put_item(
            TableName=table, Item={**item, "generation": {"N": "2"}}, ConditionExpression="attribute_not_exists(pk)"
        )

    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    stored = ddb.get_item(TableName=table, Key={"pk": {"S": "plan"}}, ConsistentRead=True)["Item"]
    assert stored["generation"] == {"N": "1"}
