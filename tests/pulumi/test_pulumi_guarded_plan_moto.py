"""The `GuardedPlan` provider on its AWS path (boto3 Route 53 + DynamoDB plan store), configured
from stack config as `pulumi up` would, against a moto server and against LocalStack with the
strict Route 53 provider (the LocalStack param runs with --dnssg-localstack, and always in CI).

Change calls are counted on the wire (botocore's before-call events), next to the same plan
applied the way `dns-safeguards apply` does it."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest

pytest.importorskip("safeguards.stores.dynamodb")
pytest.importorskip("safeguards.backends.boto3_route53")
pytest.importorskip("safeguards.stores.schema")

from pulumi.dynamic import Config, ConfigureRequest

from infra.guarded_plan import GuardedPlanProvider
from safeguards import Applier, ApplyOptions, StaleGeneration, parse_plan
from safeguards.backends.boto3_route53 import Boto3Route53
from safeguards.planstore import scope
from safeguards.stores.dynamodb import DynamoPlanStore
from safeguards.stores.schema import ensure_tables
from safeguards.testing.moto_server import moto_server

CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
PLANS, LEASES = "pulumi-plan-plans", "pulumi-plan-leases"
OWNER = "pulumi.dns-safeguards.moto"


@pytest.fixture(scope="module", params=["moto", pytest.param("localstack", marks=pytest.mark.dnssg_localstack)])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
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
def provider(endpoint: str) -> GuardedPlanProvider:
    p = GuardedPlanProvider(owner=OWNER)  # everything else from the stack config, as in Pulumi.localstack.yaml
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


def records(n: int, *, ttl: int = 60) -> list[dict]:
    return [
        {"name": f"host{i}", "type": "A", "ttl": ttl, "values": [f"10.0.{i // 250}.{i % 250 + 1}"]} for i in range(n)
    ]


def checked(p: GuardedPlanProvider, zone: str, recs: list[dict], olds: dict | None = None, **flags) -> dict:
    result = p.check(olds or {}, {"zone": zone, "records": recs, **flags})
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def count_calls(client) -> Counter:
    """Route 53 API calls `client` makes from now on, by operation."""
    calls: Counter = Counter()
    client.meta.events.register("before-call.route53", lambda model, **_: calls.update([model.name]))
    return calls


def live(endpoint: str, zone: str) -> dict:
    r53 = boto3.client("route53", endpoint_url=endpoint, **CREDS)
    # By name: a shared LocalStack holds more zones than one page of ListHostedZones.
    (hz,) = [z for z in r53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"] if z["Name"] == f"{zone}."]
    out, kwargs = {}, {"HostedZoneId": hz["Id"]}
    while True:
        page = r53.list_resource_record_sets(**kwargs)
        for s in page["ResourceRecordSets"]:
            out[(s["Name"], s["Type"])] = sorted(v["Value"] for v in s.get("ResourceRecords", []))
        if not page.get("IsTruncated"):
            return out
        kwargs.update(StartRecordName=page["NextRecordName"], StartRecordType=page["NextRecordType"])


def test_a_1000_record_plan_makes_the_change_calls_of_dns_safeguards_apply(endpoint, zone, provider):
    # `dns-safeguards apply` of the same records: the CLI's applier on boto3 and DynamoDB.
    cli_zone = f"cli-{zone}"
    backend = Boto3Route53(boto3.client("route53", endpoint_url=endpoint, **CREDS))
    store = DynamoPlanStore(
        boto3.client("dynamodb", endpoint_url=endpoint, **CREDS), plan_table=PLANS, lease_table=LEASES
    )
    cli_calls = count_calls(backend.client)
    plan = parse_plan({"zone": cli_zone, "generation": 1, "records": records(1000)})
    cli = Applier(backend, store, enactor_id="cli", options=ApplyOptions(create_zone=True)).apply(plan)

    eng = provider.engine()
    calls = count_calls(eng.backend.client)
    created = provider.create(checked(provider, zone, records(1000)))
    assert calls["ChangeResourceRecordSets"] == cli_calls["ChangeResourceRecordSets"] == cli.batches
    assert created.outs["batches"] == cli.batches == 3  # 2,001 records: Route 53's floor of 1,000 per batch
    assert eng.store.generations(scope(f"{zone}.", OWNER)) == [1]  # one generation for the whole plan
    assert len([k for k in live(endpoint, zone) if k[0].startswith("host")]) == 1000


def test_preview_refusal_update_stale_and_retire_through_boto3_and_dynamodb(endpoint, zone, provider):
    created = provider.create(checked(provider, zone, records(10)))
    gen = created.outs["applied_generation"]

    # All ten sets at once: the preview shows the blast-radius refusal, and nothing is written.
    result = provider.check(created.outs, {"zone": zone, "records": records(10, ttl=300)})
    assert [f.property for f in result.failures] == ["records"]
    assert "blast radius: 10 of 10" in result.failures[0].reason
    assert provider.engine().store.generations(scope(f"{zone}.", OWNER)) == [gen]

    changed = records(10)
    changed[0]["values"] = ["192.0.2.1", "192.0.2.2"]
    updated = provider.update(created.id, created.outs, checked(provider, zone, changed, created.outs))
    assert (updated.outs["updates"], updated.outs["batches"]) == (1, 1)
    assert live(endpoint, zone)[(f"host0.{zone}.", "A")] == ["192.0.2.1", "192.0.2.2"]

    # An update based on what this stack applied before the last change is stale.
    again = records(10)
    again[0]["values"] = ["192.0.2.9"]
    with pytest.raises(StaleGeneration, match="changed outside this stack"):
        provider.update(created.id, created.outs, checked(provider, zone, again, created.outs))
    assert live(endpoint, zone)[(f"host0.{zone}.", "A")] == ["192.0.2.1", "192.0.2.2"]

    provider.delete(created.id, {**updated.outs, "retire_on_delete": True})
    assert not [k for k in live(endpoint, zone) if k[0].startswith(("host", "_dnssg.host"))]
