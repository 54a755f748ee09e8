"""The Pulumi program (`infra/__main__.py`) run under mocks with stack configuration: which
resources it declares for the embedded and the AWS backend, from the example plan file: one
`GuardedPlan` by default, one `GuardedRecordSet` per set with `resource: records`."""

from __future__ import annotations

import json
import runpy

import pulumi
import pytest
from pulumi_mocks import ROOT, Mocks

from infra.guarded_plan import TYPE_TOKEN as PLAN_TYPE
from infra.policy import validators
from safeguards.plan import load_plan

PLAN = ROOT / "examples" / "example.com.yaml"


@pytest.fixture
def config():
    def set_config(**values):
        pulumi.runtime.set_all_config(
            {f"dns-safeguards:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        )

    yield set_config
    pulumi.runtime.set_all_config({})


def run_program(mocks: Mocks) -> None:
    @pulumi.runtime.test
    def program():
        runpy.run_path(str(ROOT / "infra"), run_name="__main__")

    program()


def guarded(mocks: Mocks) -> dict:
    return {r.name: r.inputs for r in mocks.of_type(validators.GUARDED)}


def plans(mocks: Mocks) -> list:
    return mocks.of_type(PLAN_TYPE)


def test_default_declares_the_whole_plan_file_as_one_guarded_plan(mocks, config):
    config(planFile="examples/example.com.yaml", backend="embedded", zone="example.com")
    run_program(mocks)
    plan = load_plan(PLAN)
    (res,) = plans(mocks)
    assert res.name == "plan" and not guarded(mocks)
    assert not [r for r in mocks.registered if r.typ.startswith("aws:")]
    records = res.inputs["records"]
    assert len(records) == len(plan.records) == 11
    assert records["app.example.com./A/blue"]["weight"] == 90
    assert records["example.com./A"]["min_values"] == 2
    assert res.inputs["canary"] == [str(n) for n in plan.canary] and res.inputs["retire"] == list(plan.retire)
    assert (res.inputs["force"], res.inputs["adopt"], res.inputs["retire_on_delete"]) == (False, False, False)


def test_plan_resource_flags_from_the_stack_config(mocks, config):
    config(planFile=str(PLAN), backend="embedded", force=True, adopt=True, retireOnDelete=True)
    run_program(mocks)
    (res,) = plans(mocks)
    assert (res.inputs["force"], res.inputs["adopt"], res.inputs["retire_on_delete"]) == (True, True, True)


def test_plan_resource_refuses_the_per_record_retire_list(mocks, config):
    config(planFile=str(PLAN), backend="embedded", retireOnDelete=["sip"])
    with pytest.raises(ValueError, match="list the names under 'retire' in the plan file"):
        run_program(mocks)


def test_unknown_resource_kind_is_refused(mocks, config):
    config(planFile=str(PLAN), backend="embedded", resource="zones")
    with pytest.raises(ValueError, match="must be 'plan' or 'records'"):
        run_program(mocks)


def test_records_form_declares_one_guarded_record_per_plan_set_and_no_aws(mocks, config):
    config(planFile="examples/example.com.yaml", backend="embedded", zone="example.com", resource="records")
    run_program(mocks)
    plan = load_plan(PLAN)
    records = guarded(mocks)
    assert len(records) == len(plan.records) == 11
    assert not [r for r in mocks.registered if r.typ.startswith("aws:")]
    assert sorted(records)[:4] == ["_sip._tcp-srv", "apex-a", "apex-caa", "apex-mx"]
    assert records["app-a-blue"]["set_identifier"] == "blue" and records["app-a-blue"]["weight"] == 90
    assert records["apex-a"]["min_values"] == 2 and records["www-cname"]["min_values"] == 1
    assert records["api-a"]["values"] == ["192.0.2.20", "192.0.2.21", "192.0.2.22"]
    assert {r["retire_on_delete"] for r in records.values()} == {False}
    assert not plans(mocks)


@pytest.mark.parametrize(("resource", "retire"), [("plan", True), ("records", ["sip"])])
def test_aws_backend_adds_the_component_scoped_to_the_plans_names(mocks, config, resource, retire):
    config(
        planFile=str(PLAN),
        retireOnDelete=retire,
        managedNames=["canary"],
        resource=resource,
        trustedPrincipals=["arn:aws:iam::123456789012:role/dns-pipeline"],
    )
    run_program(mocks)
    (policy,) = mocks.of_type("aws:iam/policy:Policy")
    change = json.loads(policy.inputs["policy"])["Statement"][0]
    names = change["Condition"]["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    assert {"example.com", "api.example.com", "_sip._tcp.example.com", "canary.example.com"} <= set(names)
    types = change["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsRecordTypes"]
    assert types == ["A", "AAAA", "CAA", "CNAME", "MX", "SRV", "TXT"]
    tables = sorted(t.inputs["name"] for t in mocks.of_type("aws:dynamodb/table:Table"))
    assert tables == ["dns-safeguards-leases-test", "dns-safeguards-plans-test"]
    if resource == "records":
        records = guarded(mocks)
        assert records["sip-a"]["retire_on_delete"] is True and records["api-a"]["retire_on_delete"] is False
    else:
        (res,) = plans(mocks)
        assert res.inputs["retire_on_delete"] is True and len(res.inputs["records"]) == 11
    # Every policy rule passes on what the program declares.
    for r in mocks.registered:
        props = r.inputs
        assert validators.iam_problems(r.typ, props) == []
        assert validators.table_protection_problems(r.typ, props) == []
        assert validators.empty_values_problems(r.typ, props) == []
        assert validators.ttl_problems(r.typ, props) == []


def test_zone_config_must_match_the_plan_file(mocks, config):
    config(planFile=str(PLAN), backend="embedded", zone="example.org")
    with pytest.raises(ValueError, match=r"plan file is for example\.com\."):
        run_program(mocks)
