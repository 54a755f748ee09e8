"""The `DnsAutomation` component's resource graph, checked with Pulumi mocks (no CLI, no AWS)."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi_mocks import ACCOUNT, Mocks

from infra.automation import (
    ROLE_TAG,
    DnsAutomation,
    DnsAutomationArgs,
    absolute_name,
    enactor_policy_document,
    managed_name_patterns,
    normalized_record_name,
)

PIPELINE = f"arn:aws:iam::{ACCOUNT}:role/dns-pipeline"
TABLE = "aws:dynamodb/table:Table"
POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ZONE = "aws:route53/zone:Zone"


def args(**kw) -> DnsAutomationArgs:
    base = dict(
        zone="Example.com.",
        managed_names=["api", "www.example.com", "@"],
        record_types=["A", "CNAME"],
        plan_table_name="dnssg-plans",
        lease_table_name="dnssg-leases",
        trusted_principals=[PIPELINE],
    )
    base.update(kw)
    return DnsAutomationArgs(**base)


def build(mocks: Mocks, a: DnsAutomationArgs) -> dict:
    """Run the component under the mocks; return its resolved outputs."""
    seen: dict = {}

    @pulumi.runtime.test
    def program():
        comp = DnsAutomation("dns", a)
        return pulumi.Output.all(
            zone_id=comp.zone_id,
            zone_arn=comp.zone_arn,
            name_servers=comp.name_servers,
            plan_table=comp.plan_table_name,
            lease_table=comp.lease_table_name,
            role_arn=comp.enactor_role_arn,
            policy_arn=comp.enactor_policy_arn,
        ).apply(seen.update)

    program()
    return seen


def enactor_policy(mocks: Mocks) -> dict:
    (policy,) = mocks.of_type(POLICY)
    return json.loads(policy.inputs["policy"])


def statement(doc: dict, sid: str) -> dict:
    (found,) = [s for s in doc["Statement"] if s.get("Sid") == sid]
    return found


def test_tables_have_the_plan_store_keys_and_are_protected(mocks):
    build(mocks, args())
    tables = {t.inputs["tags"][ROLE_TAG]: t.inputs for t in mocks.of_type(TABLE)}
    assert sorted(tables) == ["lease-table", "plan-table"]
    plans, leases = tables["plan-table"], tables["lease-table"]
    assert (plans["hashKey"], plans["rangeKey"]) == ("zone", "generation")
    assert sorted((a["name"], a["type"]) for a in plans["attributes"]) == [("generation", "N"), ("zone", "S")]
    assert leases["hashKey"] == "zone" and "rangeKey" not in leases
    assert [(a["name"], a["type"]) for a in leases["attributes"]] == [("zone", "S")]
    for t in (plans, leases):
        assert t["billingMode"] == "PAY_PER_REQUEST"
        assert t["pointInTimeRecovery"]["enabled"] is True
        assert t["deletionProtectionEnabled"] is True
        assert t["serverSideEncryption"]["enabled"] is True
    assert (plans["name"], leases["name"]) == ("dnssg-plans", "dnssg-leases")


def test_zone_is_created_protected_with_canonical_name(mocks):
    build(mocks, args())
    (zone,) = mocks.of_type(ZONE)
    assert zone.inputs["name"] == "example.com"
    assert zone.inputs["forceDestroy"] is False
    assert zone.inputs["tags"][ROLE_TAG] == "zone"


def test_enactor_may_only_create_and_delete_managed_names_in_its_zone(mocks):
    build(mocks, args())
    doc = enactor_policy(mocks)
    change = statement(doc, "ChangeManagedRecordsOnly")
    assert change["Action"] == ["route53:ChangeResourceRecordSets"]
    assert change["Resource"] == ["arn:aws:route53:::hostedzone/Z0MOCKZONE"]
    names = change["Condition"]["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    assert names == sorted(
        [
            "_dnssg-fence.example.com",
            "api.example.com",
            "_dnssg.api.example.com",
            "www.example.com",
            "_dnssg.www.example.com",
            "example.com",
            "_dnssg.example.com",
        ]
    )
    equals = change["Condition"]["ForAllValues:StringEquals"]
    assert equals["route53:ChangeResourceRecordSetsActions"] == ["CREATE", "DELETE"]  # never UPSERT
    assert equals["route53:ChangeResourceRecordSetsRecordTypes"] == ["A", "CNAME", "TXT"]  # TXT: fence, markers


def test_enactor_policy_scopes_every_resource_but_the_zone_lookup(mocks):
    build(mocks, args())
    doc = enactor_policy(mocks)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ReadZone"] == {
        "Sid": "ReadZone",
        "Effect": "Allow",
        "Action": ["route53:ListResourceRecordSets"],
        "Resource": ["arn:aws:route53:::hostedzone/Z0MOCKZONE"],
    }
    assert by_sid["PollChanges"]["Resource"] == ["arn:aws:route53:::change/*"]
    assert by_sid["PlanStore"]["Resource"] == [
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/dnssg-plans",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/dnssg-leases",
    ]
    assert "dynamodb:ConditionCheckItem" in by_sid["PlanStore"]["Action"]
    unscoped = [s for s in doc["Statement"] if s["Resource"] == "*"]
    assert unscoped == [by_sid["FindZoneByName"]]
    assert by_sid["FindZoneByName"]["Action"] == ["route53:ListHostedZonesByName"]
    actions = [a for s in doc["Statement"] for a in s["Action"]]
    assert not [a for a in actions if a.endswith("*")]
    assert [s["Sid"] for s in doc["Statement"] if s["Effect"] != "Allow"] == ["NeverTheApexDelegation"]


def test_policy_is_attached_to_a_role_trusted_by_the_named_principal_only(mocks):
    build(mocks, args())
    (role,) = mocks.of_type(ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": [PIPELINE]}}]
    (attachment,) = mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    (policy,) = mocks.of_type(POLICY)
    assert attachment.inputs["policyArn"] == f"arn:aws:iam::{ACCOUNT}:policy/{policy.outputs['name']}"
    assert attachment.inputs["role"] == role.outputs["name"]


def test_explicit_trusted_principals_and_services(mocks):
    build(mocks, args(trusted_services=["lambda.amazonaws.com"], trusted_principals=["arn:aws:iam::1:role/ci"]))
    (role,) = mocks.of_type(ROLE)
    principal = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]
    assert principal == {"AWS": ["arn:aws:iam::1:role/ci"], "Service": ["lambda.amazonaws.com"]}
    assert "aws:index/getCallerIdentity:getCallerIdentity" not in [t for t, _ in mocks.calls]


def test_outputs(mocks):
    out = build(mocks, args())
    (role,) = mocks.of_type(ROLE)
    assert out == {
        "zone_id": "Z0MOCKZONE",
        "zone_arn": "arn:aws:route53:::hostedzone/Z0MOCKZONE",
        "name_servers": ["ns-1.awsdns-00.com", "ns-2.awsdns-00.net"],
        "plan_table": "dnssg-plans",
        "lease_table": "dnssg-leases",
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{role.outputs['name']}",
        "policy_arn": out["policy_arn"],
    }
    assert out["policy_arn"].startswith(f"arn:aws:iam::{ACCOUNT}:policy/")


def test_existing_zone_is_looked_up_not_created(mocks):
    out = build(mocks, args(existing_zone_id="ZEXISTING"))
    assert mocks.of_type(ZONE) == []
    assert ("aws:route53/getZone:getZone", {"zoneId": "ZEXISTING"}) in mocks.calls
    assert out["zone_id"] == "ZEXISTING" and out["name_servers"] == ["ns-9.awsdns-09.org"]
    change = statement(enactor_policy(mocks), "ChangeManagedRecordsOnly")
    assert change["Resource"] == ["arn:aws:route53:::hostedzone/ZEXISTING"]


def test_auto_named_tables_flow_into_the_policy(mocks):
    out = build(mocks, args(plan_table_name=None, lease_table_name=None))
    resources = statement(enactor_policy(mocks), "PlanStore")["Resource"]
    assert resources == [
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{out['plan_table']}",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{out['lease_table']}",
    ]
    assert out["plan_table"] != out["lease_table"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("API.Example.COM.", "api.example.com"),
        ("*.example.com", "\\052.example.com"),
        ("_dnssg-fence.example.com.", "_dnssg-fence.example.com"),
        ("a b.example.com", "a\\040b.example.com"),
    ],
)
def test_normalized_record_name_follows_route53_rules(name, expected):
    assert normalized_record_name(name) == expected


def test_names_relative_apex_and_absolute():
    assert absolute_name("@", "example.com.") == "example.com"
    assert absolute_name("api", "example.com") == "api.example.com"
    assert absolute_name("API.example.com.", "example.com") == "api.example.com"
    assert absolute_name("example.org", "example.com") == "example.org.example.com"


def test_patterns_pass_through_with_their_markers():
    got = managed_name_patterns("example.com", [], ["*.svc.example.com"])
    assert got == sorted(["_dnssg-fence.example.com", "_dnssg.*.svc.example.com", "*.svc.example.com"])


def test_record_types_are_uppercased_and_always_include_txt():
    doc = enactor_policy_document(
        zone="example.com",
        zone_arn="arn:aws:route53:::hostedzone/Z",
        plan_table_arn="p",
        lease_table_arn="l",
        managed_names=["api"],
        record_types=["aaaa", "a"],
    )
    types = doc["Statement"][0]["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsRecordTypes"]
    assert types == ["A", "AAAA", "TXT"]


# ------------------------------------------------------------------------- issue 16: IAM holes


def test_the_apex_ns_and_soa_are_explicitly_denied(mocks):
    """A plan with apex records and an NS type: the allow list would admit the apex NS; the Deny
    takes it back (Deny wins in IAM)."""
    build(mocks, args(record_types=["A", "NS"]))
    deny = statement(enactor_policy(mocks), "NeverTheApexDelegation")
    assert deny["Effect"] == "Deny" and deny["Action"] == ["route53:ChangeResourceRecordSets"]
    assert deny["Resource"] == ["arn:aws:route53:::hostedzone/Z0MOCKZONE"]
    cond = deny["Condition"]["ForAnyValue:StringEquals"]
    assert cond["route53:ChangeResourceRecordSetsRecordTypes"] == ["NS", "SOA"]
    assert cond["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == ["example.com"]


def test_without_delegations_every_ns_and_soa_change_is_denied():
    doc = enactor_policy_document(
        zone="example.com",
        zone_arn="arn:aws:route53:::hostedzone/Z1",
        plan_table_arn="p",
        lease_table_arn="l",
        managed_names=["@"],
        record_types=["A", "NS"],
    )
    (deny,) = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {
        "ForAnyValue:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["NS", "SOA"]}
    }


@pytest.mark.parametrize(
    "pattern", ["*", "*.*", "*.com", "*example.com", "*.example.com", "api*.example.com", "*.x.org"]
)
def test_name_patterns_broader_than_a_subtree_are_refused(mocks, pattern):
    with pytest.raises(ValueError, match="pattern"):
        managed_name_patterns("example.com", [], [pattern])
    with pytest.raises(ValueError, match="pattern"):
        DnsAutomation("dns", args(managed_name_patterns=[pattern]))


@pytest.mark.parametrize(
    "principals", [[], ["*"], [f"arn:aws:iam::{ACCOUNT}:root"], [ACCOUNT]], ids=["none", "star", "root", "account"]
)
def test_the_trust_policy_needs_an_explicit_principal(mocks, principals):
    with pytest.raises(ValueError, match="principal"):
        DnsAutomation("dns", args(trusted_principals=principals))
    assert mocks.of_type(ROLE) == []
