"""The policy pack's rules, called as functions with the argument objects the engine would pass
(props wrapped in pulumi-policy's unknown-checking proxy). No PolicyPack is constructed: that
would wait for the engine."""

from __future__ import annotations

import json
import runpy
import sys

import pulumi_policy
import pytest
from pulumi_mocks import ROOT
from pulumi_policy.policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra import automation
from infra.policy import validators as v

RECORD = v.RECORD
GUARDED = v.GUARDED


def run(validate, resource_type: str, props: dict, config: dict | None = None) -> list[str]:
    """Call a pulumi-policy validation callback the way the analyzer does; collect violations."""
    found: list[str] = []
    args = ResourceValidationArgs(
        resource_type, unknown_checking_proxy(props), f"urn:pulumi:test::p::{resource_type}::r", "r", None, None, config
    )
    validate(args, lambda message, urn=None: found.append(message))
    return found


def record(**kw) -> dict:
    props = {"zoneId": "ZOTHER", "name": "www.example.org", "type": "A", "ttl": 300, "records": ["192.0.2.1"]}
    props.update(kw)
    return props


def guarded(**kw) -> dict:
    props = {"zone": "example.com.", "name": "api.example.com.", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}
    props.update(kw)
    return props


# ------------------------------------------------------------------------- empty values


def test_record_with_values_passes_and_without_fails():
    assert run(v.validate_no_empty_values, RECORD, record()) == []
    (problem,) = run(v.validate_no_empty_values, RECORD, record(records=[]))
    assert "www.example.org A has no values" in problem
    assert run(v.validate_no_empty_values, RECORD, {k: x for k, x in record().items() if k != "records"}) != []


def test_alias_record_carries_no_values_and_passes():
    alias = record(
        records=None, ttl=None, aliases=[{"name": "lb.example.org", "zoneId": "Z2", "evaluateTargetHealth": True}]
    )
    assert run(v.validate_no_empty_values, RECORD, alias) == []
    assert run(v.validate_ttl_bounds, RECORD, alias) == []


def test_guarded_record_with_no_values_fails():
    assert run(v.validate_no_empty_values, GUARDED, guarded()) == []
    (problem,) = run(v.validate_no_empty_values, GUARDED, guarded(values=[]))
    assert "api.example.com. A" in problem


# ------------------------------------------------------------------------- TTL


@pytest.mark.parametrize("rtype", [RECORD, GUARDED])
def test_ttl_too_low_or_too_high_fails(rtype):
    make = record if rtype == RECORD else guarded
    assert run(v.validate_ttl_bounds, rtype, make(ttl=300)) == []
    assert run(v.validate_ttl_bounds, rtype, make(ttl=30)) == []
    (low,) = run(v.validate_ttl_bounds, rtype, make(ttl=5))
    assert "TTL 5 s outside the allowed 30..86400 s" in low
    assert run(v.validate_ttl_bounds, rtype, make(ttl=86401)) != []


def test_ttl_bounds_come_from_the_config():
    config = {"minTtl": 60, "maxTtl": 600}
    (problem,) = run(v.validate_ttl_bounds, RECORD, record(ttl=30), config)
    assert "60..600" in problem
    assert run(v.validate_ttl_bounds, RECORD, record(ttl=600), config) == []
    assert run(v.validate_ttl_bounds, RECORD, record(ttl=601), config) != []


def test_other_resource_types_are_not_judged_on_ttl():
    assert run(v.validate_ttl_bounds, "aws:s3/bucket:Bucket", {"ttl": 1}) == []


# ------------------------------------------------------------------------- raw records in managed zones


def test_plain_record_in_a_managed_zone_fails_by_id_and_by_name():
    config = {"managedZoneIds": ["ZMANAGED"], "managedZoneNames": ["example.com"]}
    (by_id,) = run(v.validate_records_guarded, RECORD, record(zoneId="ZMANAGED"), config)
    assert "GuardedRecordSet" in by_id and "ZMANAGED" in by_id
    (by_name,) = run(v.validate_records_guarded, RECORD, record(zoneId="Z9", name="WWW.Example.com."), config)
    assert "example.com." in by_name
    assert run(v.validate_records_guarded, RECORD, record(name="notexample.com"), config) == []
    assert run(v.validate_records_guarded, RECORD, record(), config) == []
    # The guarded resource itself is the sanctioned path.
    assert run(v.validate_records_guarded, GUARDED, guarded(), config) == []


def _resource(rtype: str, props: dict, name: str) -> PolicyResource:
    return PolicyResource(rtype, unknown_checking_proxy(props), f"urn:{name}", name, None, None, None, [], {})


def test_stack_check_finds_plain_records_in_zones_of_our_component():
    zone = _resource(v.ZONE, {"name": "example.com", "zoneId": "ZNEW", "tags": {v.ROLE_TAG: "zone"}}, "dns-zone")
    foreign_zone = _resource(v.ZONE, {"name": "example.net", "zoneId": "ZFOREIGN", "tags": {}}, "other-zone")
    raw = _resource(RECORD, record(zoneId="ZNEW", name="api"), "raw")
    raw_by_name = _resource(RECORD, record(zoneId=UNKNOWN_STRING_VALUE, name="db.example.com"), "raw2")
    fine = _resource(RECORD, record(zoneId="ZFOREIGN", name="www.example.net"), "fine")
    found: list[tuple[str, str]] = []
    args = StackValidationArgs([zone, foreign_zone, raw, raw_by_name, fine])
    v.validate_stack_records_guarded(args, lambda message, urn=None: found.append((urn, message)))
    assert sorted(urn for urn, _ in found) == ["urn:raw", "urn:raw2"]


def test_stack_check_survives_unknown_zone_ids_in_a_first_preview():
    zone = _resource(v.ZONE, {"name": "example.com", "zoneId": UNKNOWN_STRING_VALUE, "tags": {v.ROLE_TAG: "zone"}}, "z")
    raw = _resource(RECORD, record(zoneId=UNKNOWN_STRING_VALUE, name="api.example.com"), "raw")
    found: list[str] = []
    v.validate_stack_records_guarded(StackValidationArgs([zone, raw]), lambda message, urn=None: found.append(urn))
    assert found == ["urn:raw"]


# ------------------------------------------------------------------------- tables


def table(**kw) -> dict:
    props = {
        "name": "dnssg-plans",
        "hashKey": "zone",
        "rangeKey": "generation",
        "pointInTimeRecovery": {"enabled": True},
        "deletionProtectionEnabled": True,
        "tags": {v.ROLE_TAG: "plan-table"},
    }
    props.update(kw)
    return props


def test_protected_plan_table_passes_and_missing_pitr_fails():
    assert run(v.validate_tables_protected, v.TABLE, table()) == []
    (pitr,) = run(v.validate_tables_protected, v.TABLE, table(pointInTimeRecovery={"enabled": False}))
    assert "point-in-time recovery" in pitr
    both = run(v.validate_tables_protected, v.TABLE, table(pointInTimeRecovery=None, deletionProtectionEnabled=False))
    assert len(both) == 2 and "deletion protection" in both[1]


def test_tables_are_selected_by_tag_or_configured_name():
    unrelated = table(tags={}, name="sessions", hashKey="id", rangeKey=None, pointInTimeRecovery=None)
    assert run(v.validate_tables_protected, v.TABLE, unrelated) == []
    assert run(v.validate_tables_protected, v.TABLE, unrelated, {"tableNames": ["sessions"]}) != []
    lease = table(tags={v.ROLE_TAG: "lease-table"}, rangeKey=None, deletionProtectionEnabled=None)
    (problem,) = run(v.validate_tables_protected, v.TABLE, lease)
    assert problem.startswith("lease-table dnssg-plans: deletion protection")


# ------------------------------------------------------------------------- IAM


APEX_DENY = {
    "Sid": "NeverTheApexDelegation",
    "Effect": "Deny",
    "Action": ["route53:ChangeResourceRecordSets"],
    "Resource": ["arn:aws:route53:::hostedzone/Z1"],
    "Condition": {"ForAnyValue:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["NS", "SOA"]}},
}


def iam(
    *statements: dict, tags: dict | None = None, rtype: str = "aws:iam/policy:Policy", deny_apex: bool = True
) -> tuple[str, dict]:
    """A policy resource; an enactor's (tagged, the default) carries the apex Deny unless told not to."""
    enactor = tags is None
    extra = [APEX_DENY] if enactor and deny_apex else []
    doc = {"Version": "2012-10-17", "Statement": [*statements, *extra]}
    return rtype, {"policy": json.dumps(doc), "tags": {v.ROLE_TAG: "enactor"} if enactor else tags}


GOOD_CHANGE = {
    "Sid": "Change",
    "Effect": "Allow",
    "Action": ["route53:ChangeResourceRecordSets"],
    "Resource": ["arn:aws:route53:::hostedzone/Z1"],
    "Condition": {
        "ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["api.example.com"]},
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsActions": ["CREATE", "DELETE"]},
    },
}


def test_the_components_own_policy_passes():
    doc = automation.enactor_policy_document(
        zone="example.com",
        zone_arn="arn:aws:route53:::hostedzone/Z1",
        plan_table_arn="arn:aws:dynamodb:us-east-1:1:table/p",
        lease_table_arn="arn:aws:dynamodb:us-east-1:1:table/l",
        managed_names=["api", "www"],
        record_types=["A"],
    )
    props = {"policy": json.dumps(doc), "tags": {v.ROLE_TAG: "enactor"}}
    assert run(v.validate_enactor_iam, "aws:iam/policy:Policy", props) == []


@pytest.mark.parametrize("action", ["route53:*", "dynamodb:*", "*", "route53:Change*"])
def test_wildcard_actions_fail(action):
    rtype, props = iam({**GOOD_CHANGE, "Action": [action]})
    problems = run(v.validate_enactor_iam, rtype, props)
    assert any(f"wildcard action {action!r}" in p for p in problems)


def test_resource_star_fails_except_for_the_zone_lookup_alone():
    lookup = {"Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"}
    assert run(v.validate_enactor_iam, *iam(GOOD_CHANGE, lookup)) == []
    wider = {**lookup, "Action": ["route53:ListHostedZonesByName", "route53:GetChange"]}
    (problem,) = run(v.validate_enactor_iam, *iam(GOOD_CHANGE, wider))
    assert 'Resource "*"' in problem and "route53:GetChange" in problem
    table_star = {"Sid": "T", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": ["*"]}
    assert run(v.validate_enactor_iam, *iam(table_star)) != []


def test_change_without_conditions_or_with_upsert_fails():
    bare = {k: x for k, x in GOOD_CHANGE.items() if k != "Condition"}
    problems = run(v.validate_enactor_iam, *iam(bare))
    assert len(problems) == 2 and "ChangeResourceRecordSetsActions" in problems[0]
    upsert = json.loads(json.dumps(GOOD_CHANGE))
    upsert["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsActions"].append("UPSERT")
    (problem,) = run(v.validate_enactor_iam, *iam(upsert))
    assert "UPSERT allowed" in problem


def test_not_action_and_deny_statements():
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:route53:::hostedzone/Z1"}
    assert any("NotAction" in p for p in run(v.validate_enactor_iam, *iam(not_action)))
    deny_all = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert run(v.validate_enactor_iam, *iam(GOOD_CHANGE, deny_all)) == []


def test_untagged_policies_are_judged_when_they_touch_dns_and_ignored_otherwise():
    s3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    assert run(v.validate_enactor_iam, *iam(s3, tags={})) == []
    r53 = {"Effect": "Allow", "Action": "route53:*", "Resource": "*"}
    assert len(run(v.validate_enactor_iam, *iam(r53, tags={}, rtype="aws:iam/rolePolicy:RolePolicy"))) == 2


# ------------------------------------------------------------------------- the pack itself


def test_pack_module_declares_every_policy(monkeypatch):
    built: list[dict] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kw: built.append(kw))
    monkeypatch.syspath_prepend(str(ROOT / "infra" / "policy"))
    monkeypatch.delitem(sys.modules, "validators", raising=False)
    runpy.run_path(str(ROOT / "infra" / "policy"), run_name="__main__")
    (pack,) = built
    assert pack["name"] == "dns-safeguards"
    assert pack["enforcement_level"] is pulumi_policy.EnforcementLevel.MANDATORY
    assert sorted(p.name for p in pack["policies"]) == [
        "enactor-least-privilege",
        "managed-zones-only-through-guarded-records",
        "plan-tables-protected",
        "record-sets-never-empty",
        "record-ttl-bounds",
        "stack-zones-only-through-guarded-records",
    ]


def test_tags_and_type_tokens_agree_with_the_component():
    assert v.ROLE_TAG == automation.ROLE_TAG
    assert set(v.UNSCOPED_ACTIONS) == {a.lower() for a in automation.UNSCOPED_ROUTE53_ACTIONS}


# ------------------------------------------------------------------------- issue 16: every hole refused


def change_with(**condition_changes) -> dict:
    stmt = json.loads(json.dumps(GOOD_CHANGE))
    for op, keys in condition_changes.items():
        stmt["Condition"][op.replace("__", ":")] = keys
    return stmt


@pytest.mark.parametrize(
    ("resource", "action"),
    [
        ("arn:aws:route53:::hostedzone/*", "route53:ChangeResourceRecordSets"),
        ("arn:aws:route53:::hostedzone/*", "route53:ListResourceRecordSets"),
        ("arn:aws:dynamodb:us-east-1:1:table/*", "dynamodb:PutItem"),
        ("arn:aws:dynamodb:*:*:table/dnssg-plans", "dynamodb:GetItem"),
        ("arn:aws:route53:::change/*", "route53:ListResourceRecordSets"),
    ],
)
def test_wildcard_zone_and_table_arns_are_refused(resource, action):
    stmt = {**GOOD_CHANGE, "Action": [action], "Resource": [resource]}
    problems = run(v.validate_enactor_iam, *iam(stmt))
    assert any("wildcard resource" in p and resource in p for p in problems), problems


def test_the_change_arn_wildcard_stays_allowed_for_get_change():
    poll = {
        "Sid": "Poll",
        "Effect": "Allow",
        "Action": ["route53:GetChange"],
        "Resource": ["arn:aws:route53:::change/*"],
    }
    assert run(v.validate_enactor_iam, *iam(GOOD_CHANGE, poll)) == []


@pytest.mark.parametrize("names", [["*"], ["*.com"], ["*example.com"], ["api*"], ["api.example.com", "*"]])
def test_name_conditions_wider_than_a_subtree_are_refused(names):
    stmt = change_with(
        ForAllValues__StringLike={"route53:ChangeResourceRecordSetsNormalizedRecordNames": names},
    )
    problems = run(v.validate_enactor_iam, *iam(stmt))
    assert any("record name condition" in p for p in problems), problems


def test_a_subtree_pattern_is_allowed():
    stmt = change_with(
        ForAllValues__StringLike={"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["*.svc.example.com"]}
    )
    assert run(v.validate_enactor_iam, *iam(stmt)) == []


@pytest.mark.parametrize("values", [["*"], ["CREATE", "DELETE", "*"], ["UP*"], ["CREATE", "?PSERT"]])
def test_an_actions_condition_with_wildcards_allows_upsert_and_is_refused(values):
    stmt = json.loads(json.dumps(GOOD_CHANGE))
    del stmt["Condition"]["ForAllValues:StringEquals"]
    stmt["Condition"]["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsActions"] = values
    problems = run(v.validate_enactor_iam, *iam(stmt))
    assert any("UPSERT allowed" in p for p in problems), problems


def test_a_non_forallvalues_actions_condition_is_no_restriction():
    stmt = json.loads(json.dumps(GOOD_CHANGE))
    del stmt["Condition"]["ForAllValues:StringEquals"]
    stmt["Condition"]["StringLike"] = {"route53:ChangeResourceRecordSetsActions": ["*"]}
    assert any("ChangeResourceRecordSetsActions" in p for p in run(v.validate_enactor_iam, *iam(stmt)))


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("route53:DeleteHostedZone", "arn:aws:route53:::hostedzone/Z1"),
        ("dynamodb:DeleteTable", "arn:aws:dynamodb:us-east-1:1:table/dnssg-plans"),
        ("dynamodb:UpdateContinuousBackups", "arn:aws:dynamodb:us-east-1:1:table/dnssg-plans"),
        ("dynamodb:UpdateTable", "arn:aws:dynamodb:us-east-1:1:table/dnssg-plans"),
    ],
)
@pytest.mark.parametrize("tags", [None, {}], ids=["enactor", "untagged"])
def test_explicit_destructive_actions_are_refused(action, resource, tags):
    stmt = {"Sid": "Destroy", "Effect": "Allow", "Action": [action], "Resource": [resource]}
    problems = run(v.validate_enactor_iam, *iam(stmt, tags=tags))
    assert any(action in p and "destroys" in p for p in problems), problems


def role(**props) -> dict:
    base = {
        "assumeRolePolicy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::1:role/ci"}}
                ],
            }
        ),
        "tags": {v.ROLE_TAG: "enactor"},
    }
    base.update(props)
    return base


def test_route53_star_in_a_roles_inline_policy_is_refused():
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}
    inline = [{"name": "dns", "policy": json.dumps(doc)}]
    for tags in ({v.ROLE_TAG: "enactor"}, {}):
        problems = run(v.validate_enactor_iam, v.ROLE, role(inlinePolicies=inline, tags=tags))
        assert any("inline policy dns" in p and "wildcard action 'route53:*'" in p for p in problems), problems
    fine = [{"name": "logs", "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]})}]
    assert run(v.validate_enactor_iam, v.ROLE, role(inlinePolicies=fine)) == []


@pytest.mark.parametrize("name", ["AmazonRoute53FullAccess", "AmazonDynamoDBFullAccess", "AdministratorAccess"])
@pytest.mark.parametrize("rtype", [*v.ATTACHMENT_TYPES, v.ROLE])
def test_attaching_broad_aws_managed_policies_is_refused(name, rtype):
    arn = f"arn:aws:iam::aws:policy/{name}"
    props = role(managedPolicyArns=[arn]) if rtype == v.ROLE else {"policyArn": arn, "role": "enactor"}
    (problem,) = run(v.validate_enactor_iam, rtype, props)
    assert name in problem and "UPSERT" in problem
    ours = {"policyArn": "arn:aws:iam::1:policy/dns-enactor", "role": "enactor"}
    assert run(v.validate_enactor_iam, v.ATTACHMENT_TYPES[0], ours) == []


@pytest.mark.parametrize("principal", ["*", "arn:aws:iam::123456789012:root", "123456789012", {"AWS": "*"}])
def test_an_enactor_role_trusting_a_whole_account_is_refused(principal):
    principal = principal if isinstance(principal, dict) else {"AWS": principal}
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}]}
    (problem,) = run(v.validate_enactor_iam, v.ROLE, role(assumeRolePolicy=json.dumps(trust)))
    assert "whole account" in problem
    assert run(v.validate_enactor_iam, v.ROLE, role()) == []


def test_an_enactor_policy_without_the_apex_deny_is_refused():
    (problem,) = run(v.validate_enactor_iam, *iam(GOOD_CHANGE, deny_apex=False))
    assert "NS and SOA" in problem
    ns_only = {
        **APEX_DENY,
        "Condition": {"ForAnyValue:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["NS"]}},
    }
    assert run(v.validate_enactor_iam, *iam(GOOD_CHANGE, ns_only, deny_apex=False)) != []


def test_the_components_policy_for_a_plan_with_apex_and_ns_records_passes_and_denies_the_apex():
    doc = automation.enactor_policy_document(
        zone="example.com",
        zone_arn="arn:aws:route53:::hostedzone/Z1",
        plan_table_arn="arn:aws:dynamodb:us-east-1:1:table/p",
        lease_table_arn="arn:aws:dynamodb:us-east-1:1:table/l",
        managed_names=["@", "sub"],
        record_types=["A", "NS"],
    )
    props = {"policy": json.dumps(doc), "tags": {v.ROLE_TAG: "enactor"}}
    assert run(v.validate_enactor_iam, "aws:iam/policy:Policy", props) == []
    assert v._denies_apex_delegation(doc["Statement"])


@pytest.mark.parametrize("name", ["api", "@", "*", "www"])
def test_a_plain_record_with_a_relative_name_and_an_unknown_zone_id_is_refused(name):
    config = {"managedZoneNames": ["example.com"]}
    (problem,) = run(v.validate_records_guarded, RECORD, record(zoneId=UNKNOWN_STRING_VALUE, name=name), config)
    assert "GuardedRecordSet" in problem and "unknown" in problem
    zone = _resource(v.ZONE, {"name": "example.com", "zoneId": UNKNOWN_STRING_VALUE, "tags": {v.ROLE_TAG: "zone"}}, "z")
    raw = _resource(RECORD, record(zoneId=UNKNOWN_STRING_VALUE, name=name), "raw")
    found: list[str] = []
    v.validate_stack_records_guarded(StackValidationArgs([zone, raw]), lambda message, urn=None: found.append(urn))
    assert found == ["urn:raw"]
    # Known elsewhere, or a full name outside the managed zones: not ours to judge.
    assert run(v.validate_records_guarded, RECORD, record(zoneId="ZOTHER", name=name), config) == []
    outside = record(zoneId=UNKNOWN_STRING_VALUE, name="www.example.org")
    assert run(v.validate_records_guarded, RECORD, outside, config) == []


def test_an_untagged_plan_table_without_pitr_is_refused():
    untagged = table(tags={}, pointInTimeRecovery=None)
    problems = run(v.validate_tables_protected, v.TABLE, untagged)
    assert any("point-in-time recovery" in p for p in problems)
    assert any("not tagged" in p for p in problems)
    by_name = table(tags={}, name="dns-safeguards-plans-prod", hashKey="pk", rangeKey=None, pointInTimeRecovery=None)
    assert any("point-in-time recovery" in p for p in run(v.validate_tables_protected, v.TABLE, by_name))


def test_an_enactor_role_scoped_to_one_owner_may_write_only_that_owners_fence_and_names() -> None:
    from infra.automation import enactor_policy_document

    doc = enactor_policy_document(
        zone="shared.test.",
        zone_arn="arn:aws:route53:::hostedzone/Z1",
        plan_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/plans",
        lease_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/leases",
        managed_names=["a1", "a2"],
        record_types=["A"],
        owner="team-a",
    )
    names = doc["Statement"][0]["Condition"]["ForAllValues:StringLike"][
        "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    ]
    assert "_dnssg-fence-team-a.shared.test" in names
    assert "_dnssg-fence.shared.test" not in names  # the default owner's fence is not team-a's to write
    assert {"a1.shared.test", "a2.shared.test", "_dnssg.a1.shared.test", "_dnssg.a2.shared.test"} <= set(names)
