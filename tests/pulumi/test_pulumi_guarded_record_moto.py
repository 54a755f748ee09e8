"""The `GuardedRecordSet` provider on its AWS path (boto3 Route 53 + DynamoDB plan store),
configured from stack config as `pulumi up` would, against a moto server and against LocalStack
with the strict Route 53 provider (the LocalStack param runs with --dnssg-localstack, and always in CI)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

pytest.importorskip("safeguards.stores.dynamodb")
pytest.importorskip("safeguards.backends.boto3_route53")
pytest.importorskip("safeguards.stores.schema")

from pulumi.dynamic import Config, ConfigureRequest

from infra.guarded_record import GuardedRecordProvider
from safeguards.errors import GuardRefused, StaleGeneration
from safeguards.fence import fence_record_name
from safeguards.planstore import scope
from safeguards.stores.schema import ensure_tables
from safeguards.testing.moto_server import moto_server

CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
PLANS, LEASES = "pulumi-plans", "pulumi-leases"
OWNER = "pulumi.dns-safeguards.moto"


@pytest.fixture(scope="module", params=["moto", pytest.param("localstack", marks=pytest.mark.dnssg_localstack)])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """moto server (wire compatibility), and LocalStack with the strict Route 53 provider: there the
    provider must create, update and refuse exactly as the library does."""
    if request.param == "localstack":
        url = request.getfixturevalue("localstack_strict")
        ensure_tables(boto3.client("dynamodb", endpoint_url=url, **CREDS), PLANS, LEASES)
        yield url
        return
    with moto_server() as url:
        ensure_tables(boto3.client("dynamodb", endpoint_url=url, **CREDS), PLANS, LEASES)
        yield url


@pytest.fixture
def zone() -> str:
    return f"t{uuid.uuid4().hex[:10]}.example.com"


@pytest.fixture
def provider(endpoint: str) -> GuardedRecordProvider:
    p = GuardedRecordProvider(owner=OWNER)  # everything else from the stack config, as in Pulumi.localstack.yaml
    stack_config = {
        "dns-safeguards:backend": "aws",
        "dns-safeguards:planTable": PLANS,
        "dns-safeguards:leaseTable": LEASES,
        "aws:region": "us-east-1",
        "aws:accessKey": "test",
        "aws:secretKey": "test",
        "aws:endpoints": f'[{{"route53": "{endpoint}", "dynamodb": "{endpoint}"}}]',
    }
    p.configure(ConfigureRequest(Config(stack_config, "dns-safeguards")))
    return p


def checked(p: GuardedRecordProvider, zone: str, name: str, values: list[str], **kw) -> dict:
    result = p.check({}, {"zone": zone, "name": name, "type": "A", "ttl": 60.0, "values": values, **kw})
    assert result.failures == []
    return result.inputs


def live(endpoint: str, zone: str) -> dict:
    r53 = boto3.client("route53", endpoint_url=endpoint, **CREDS)
    # By name: a shared LocalStack holds more zones than one page of ListHostedZones.
    (hz,) = [z for z in r53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"] if z["Name"] == f"{zone}."]
    sets = r53.list_resource_record_sets(HostedZoneId=hz["Id"])["ResourceRecordSets"]
    return {(s["Name"], s["Type"]): sorted(v["Value"] for v in s.get("ResourceRecords", [])) for s in sets}


def test_create_update_and_stale_update_through_boto3_and_dynamodb(endpoint, zone, provider):
    api = provider.create(checked(provider, zone, "api", ["192.0.2.1", "192.0.2.2"]))
    www = provider.create(checked(provider, zone, "www", ["192.0.2.9"], retire_on_delete=True))
    sets = live(endpoint, zone)
    assert sets[(f"api.{zone}.", "A")] == ["192.0.2.1", "192.0.2.2"]
    assert sets[(f"www.{zone}.", "A")] == ["192.0.2.9"]
    assert (fence_record_name(f"{zone}.", OWNER), "TXT") in sets and (f"_dnssg.api.{zone}.", "TXT") in sets

    # The plan store is DynamoDB: the owner's plan of the last generation holds both names.
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, **CREDS)
    gen = www.outs["applied_generation"]
    key = {"zone": {"S": scope(f"{zone}.", OWNER)}, "generation": {"N": str(gen)}}
    item = ddb.get_item(TableName=PLANS, Key=key)["Item"]
    assert "api." in str(item) and "www." in str(item)

    updated = provider.update(api.id, api.outs, checked(provider, zone, "api", ["192.0.2.1", "192.0.2.3"]))
    assert updated.outs["applied_generation"] > gen
    assert live(endpoint, zone)[(f"api.{zone}.", "A")] == ["192.0.2.1", "192.0.2.3"]

    with pytest.raises(StaleGeneration, match="changed outside this stack"):
        provider.update(api.id, api.outs, checked(provider, zone, "api", ["192.0.2.1", "192.0.2.4"]))
    assert live(endpoint, zone)[(f"api.{zone}.", "A")] == ["192.0.2.1", "192.0.2.3"]

    with pytest.raises(GuardRefused, match="retire_on_delete"):
        provider.delete(api.id, updated.outs)
    provider.delete(www.id, www.outs)
    sets = live(endpoint, zone)
    assert (f"www.{zone}.", "A") not in sets and (f"_dnssg.www.{zone}.", "TXT") not in sets
    assert sets[(f"api.{zone}.", "A")] == ["192.0.2.1", "192.0.2.3"]
