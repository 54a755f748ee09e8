"""The `GuardedPlan` dynamic provider, its methods called directly against the embedded backend
(strict Route 53 model + SQLite plan store), as Pulumi would on preview, up, refresh and destroy.

The figures of issue 19: a 1,000-record plan as one resource makes exactly the change calls of
`dns-safeguards apply` of the same file, in one generation; a preview that trips the
blast-radius guard shows the refusal and writes nothing."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import subprocess
import sys

import pulumi
import pytest
import yaml
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi_mocks import ROOT

from infra.guarded_plan import (
    PREVIEW_LINES,
    TYPE_TOKEN,
    GuardedPlan,
    GuardedPlanProvider,
    plan_inputs,
)
from infra.guarded_record import GuardedRecordProvider
from safeguards import (
    Applier,
    ApplyOptions,
    Change,
    GuardRefused,
    RecordSet,
    SqlitePlanStore,
    StaleGeneration,
    StrictRoute53,
    VerificationFailed,
    load_plan,
    parse_plan,
    plan_to_document,
)
from safeguards.fence import fence_record_name
from safeguards.planstore import scope

Z = "example.com."
OWNER = "pulumi.dns-safeguards.test"
EXAMPLE = ROOT / "examples" / "example.com.yaml"


@pytest.fixture
def provider(tmp_path) -> GuardedPlanProvider:
    return GuardedPlanProvider(backend="embedded", state=str(tmp_path), owner=OWNER)


def doc(n: int, *, ttl: int = 60, salt: int = 0, retire=(), canary=()) -> dict:
    """A plan document of `n` single-value A records host0..host<n-1>."""
    records = [
        {"name": f"host{i}", "type": "A", "ttl": ttl, "values": [f"10.{salt}.{i // 250}.{i % 250 + 1}"]}
        for i in range(n)
    ]
    return {"zone": "example.com", "generation": 1, "records": records, "retire": list(retire), "canary": list(canary)}


def wire(props: dict) -> dict:
    """`props` as the dynamic-provider server hands them over: serialized and read back (numbers
    become floats), exactly what it does around every provider call."""
    loop = asyncio.new_event_loop()
    try:
        return rpc.deserialize_properties(loop.run_until_complete(rpc.serialize_properties(props, {})))
    finally:
        loop.close()


def checked(p: GuardedPlanProvider, document: dict, olds: dict | None = None, **flags) -> dict:
    """What the engine passes to create/update: the checked inputs, over the wire."""
    raw = {k: document.get(k) for k in ("zone", "records", "retire", "canary")}
    result = p.check(wire(olds or {}), wire({**raw, **flags}))
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return wire(result.inputs)


def live(tmp_path) -> dict:
    """The zone as Route 53 (the strict model) holds it; our guard records and the apex SOA/NS left out."""
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    sets = model.list_record_sets(model.resolve_zone(Z))
    ours = [r for r in sets if not r.name.startswith("_dnssg") and not (r.name == Z and r.type in ("SOA", "NS"))]
    return {(r.name, r.type, r.set_identifier): r.values for r in ours}


def generations(tmp_path) -> list[int]:
    return SqlitePlanStore(tmp_path / "plans.sqlite").generations(scope(Z, OWNER))


# ------------------------------------------------------------------------- check and preview


def test_check_lists_every_problem_of_the_plan_before_any_change(tmp_path, provider):
    bad = doc(2)
    bad["records"][0]["values"] = ["300.1.1.1"]
    bad["records"][1]["ttl"] = -1
    bad["retire"] = ["host1"]
    bad["canary"] = ["nothere"]
    raw = {k: bad[k] for k in ("zone", "records", "retire", "canary")}
    failures = {(f.property, f.reason.split(": ", 1)[1]) for f in provider.check({}, raw).failures}
    assert failures == {
        ("records", "bad IPv4 address '300.1.1.1'"),
        ("records", "ttl must be an integer in 0..2147483647, got int -1"),
        ("retire", "also has records in this plan (retire it, or keep it, not both)"),
        ("canary", "not the name of a record in this plan"),
    }
    assert not (tmp_path / "route53.sqlite").exists()  # an invalid plan never reaches the backend


def test_check_passes_every_record_field_to_the_library(provider):
    # Fields the library knows (weights today, other routing as it grows) are not filtered here.
    typo = doc(1)
    typo["records"][0]["wieght"] = 5
    (failure,) = provider.check({}, {"zone": "example.com", "records": typo["records"]}).failures
    assert failure.reason.endswith("unknown key 'wieght' (did you mean 'weight'?)")


def test_check_defers_unknown_values_to_the_real_run(provider):
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    result = provider.check({}, {"zone": "example.com", "records": unknown})
    assert result.failures == [] and result.inputs["records"] == unknown


def test_preview_shows_the_per_record_diff_from_the_library_and_writes_nothing(tmp_path, provider):
    created = provider.create(checked(provider, doc(4)))
    calls_before = dict(provider.engine().backend.calls)
    changed = doc(4)
    changed["records"][0]["values"] = ["192.0.2.99"]
    changed["records"].append({"name": "new", "type": "AAAA", "ttl": 60, "values": ["2001:db8::1"]})
    changed["records"].pop(3)
    changed["retire"] = ["host3"]
    lines = checked(provider, changed, created.outs)["preview"]
    assert lines[0] == "1 to create, 1 to update, 1 to delete, 2 unchanged (live generation 1)"
    assert "+ new.example.com. AAAA ['2001:db8::1'] TTL 60" in lines
    assert "~ host0.example.com. A ['10.0.0.1'] TTL 60 => ['192.0.2.99'] TTL 60" in lines
    assert "- host3.example.com. A ['10.0.0.4'] TTL 60" in lines
    calls = provider.engine().backend.calls
    assert calls["ChangeResourceRecordSets"] == calls_before["ChangeResourceRecordSets"]  # read, never written
    assert generations(tmp_path) == [1]


def test_preview_of_a_change_that_trips_the_blast_radius_guard_shows_the_refusal(tmp_path, provider):
    created = provider.create(checked(provider, doc(10)))
    before = live(tmp_path)
    everything = doc(10, ttl=300)  # all 10 sets updated: more than 30% of them
    result = provider.check(created.outs, {k: everything[k] for k in ("zone", "records")})
    (failure,) = result.failures
    assert failure.property == "records"
    assert "blast radius: 10 of 10 managed record sets would be updated or deleted" in failure.reason
    assert failure.reason.endswith("use force=True (dns-safeguards:force) if this is intended")
    assert result.inputs["preview"][0].startswith("0 to create, 10 to update")
    assert live(tmp_path) == before and generations(tmp_path) == [1]

    # `force` (for one `pulumi up`) lifts only that guard; the apply is one generation.
    forced = checked(provider, everything, created.outs, force=True)
    updated = provider.update(created.id, created.outs, forced)
    assert (updated.outs["updates"], updated.outs["applied_generation"]) == (10, 2)
    assert all(v == before[k] for k, v in live(tmp_path).items()) and generations(tmp_path) == [1, 2]


def test_preview_shows_a_name_dropped_without_retire_as_a_never_empty_refusal(provider):
    created = provider.create(checked(provider, doc(3)))
    dropped = doc(3)
    dropped["records"].pop()
    failures = provider.check(created.outs, dropped).failures
    assert any("host2.example.com.: would be left with no records" in f.reason for f in failures)
    assert checked(provider, {**dropped, "retire": ["host2"]}, created.outs)["preview"][0].startswith(
        "0 to create, 0 to update, 1 to delete"
    )


def test_preview_keeps_a_bounded_number_of_lines(provider):
    lines = checked(provider, doc(PREVIEW_LINES + 50))["preview"]
    assert len(lines) == 1 + PREVIEW_LINES + 1 and lines[-1] == "... and 50 more"


# ------------------------------------------------------------------------- one generation, one apply


def test_create_applies_the_whole_example_plan_as_one_generation(tmp_path, provider):
    plan = load_plan(EXAMPLE)
    created = provider.create(checked(provider, plan_to_document(plan)))
    assert created.id == f"{Z}#{OWNER}"
    assert (created.outs["outcome"], created.outs["creates"], created.outs["applied_generation"]) == ("applied", 11, 1)
    assert created.outs["batches"] == 2  # the canary (api) in its own stage, verified first
    assert generations(tmp_path) == [1]
    assert live(tmp_path) == {r.key: r.values for r in plan.records}  # every set of the file, exactly
    stored = SqlitePlanStore(tmp_path / "plans.sqlite").get_plan(scope(Z, OWNER), 1)
    assert stored.records == plan.records and stored.canary == plan.canary and stored.owner == OWNER
    assert created.outs["records"] == plan_inputs(plan)["records"]


def test_routing_policies_and_aliases_round_trip_through_the_state(tmp_path, provider):
    recs = [
        {"name": "api", "type": "A", "ttl": 60, "set_identifier": "eu", "region": "eu-west-1", "values": ["192.0.2.1"]},
        {"name": "api", "type": "A", "ttl": 60, "set_identifier": "us", "region": "us-east-1", "values": ["192.0.2.2"]},
        {"name": "db", "type": "A", "ttl": 60, "set_identifier": "p", "failover": "PRIMARY", "values": ["192.0.2.3"]},
        {"name": "db", "type": "A", "ttl": 60, "set_identifier": "s", "failover": "SECONDARY", "values": ["192.0.2.4"]},
        {"name": "www", "type": "A", "alias": {"zone_id": "Z2FDTNDATAQYW2", "dns_name": "lb.example.net"}},
    ]
    document = {"zone": "example.com", "records": recs}
    inputs = checked(provider, document)
    assert "+ www.example.com. A alias lb.example.net. (Z2FDTNDATAQYW2)" in inputs["preview"]
    created = provider.create(inputs)
    assert (created.outs["creates"], created.outs["records"]["api.example.com./A/eu"]["region"]) == (5, "eu-west-1")
    olds = wire(created.outs)
    again = checked(provider, document, olds)
    assert again["preview"][0].startswith("0 to create, 0 to update, 0 to delete, 5 unchanged")
    assert provider.diff(created.id, olds, again).changes is False
    assert wire(provider.read(created.id, olds).outs)["records"] == olds["records"]


def test_a_1000_record_plan_makes_the_change_calls_of_dns_safeguards_apply_in_one_generation(tmp_path, provider):
    # The same file through the CLI, in its own state directory.
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(doc(1000)))
    cli = subprocess.run(
        [sys.executable, "-m", "safeguards", "--state", str(tmp_path / "cli"), "apply", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    cli_batches = json.loads(cli.stdout)["batches"]

    calls = provider.engine().backend.calls
    calls.clear()
    created = provider.create(checked(provider, yaml.safe_load(path.read_text())))
    assert calls["ChangeResourceRecordSets"] == created.outs["batches"] == cli_batches
    assert cli_batches == 3  # 1,000 sets + 1,000 ownership markers + the fence: Route 53's floor
    assert generations(tmp_path) == [1] and len(live(tmp_path)) == 1000


def test_update_is_one_generation_and_refuses_what_changed_outside_this_stack(tmp_path, provider):
    created = provider.create(checked(provider, doc(5)))
    changed = doc(5)
    changed["records"][1]["values"] = ["192.0.2.2", "192.0.2.3"]
    updated = provider.update(created.id, created.outs, checked(provider, changed, created.outs))
    assert (updated.outs["applied_generation"], updated.outs["updates"], updated.outs["batches"]) == (2, 1, 1)

    # Another enactor of the same owner (the CLI, a pipeline) changes one set.
    store = SqlitePlanStore(tmp_path / "plans.sqlite")
    other = {**doc(5), "owner": OWNER, "generation": store.allocate_generation(scope(Z, OWNER))}
    other["records"][1]["values"] = ["192.0.2.7"]
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    Applier(model, store, enactor_id="cli", options=ApplyOptions()).apply(parse_plan(other))

    again = doc(5)
    again["records"][1]["values"] = ["192.0.2.2", "192.0.2.4"]
    with pytest.raises(StaleGeneration, match=r"changed outside this stack .* run 'pulumi refresh'"):
        provider.update(created.id, updated.outs, checked(provider, again, updated.outs))
    assert live(tmp_path)[("host1.example.com.", "A", None)] == ("192.0.2.7",)  # the newer write stands

    # `pulumi refresh` takes the live sets; the next update is based on them and goes through.
    refreshed = provider.read(created.id, updated.outs)
    assert refreshed.outs["records"]["host1.example.com./A"]["values"] == ["192.0.2.7"]
    provider.update(created.id, refreshed.outs, checked(provider, again, refreshed.outs))
    assert live(tmp_path)[("host1.example.com.", "A", None)] == ("192.0.2.2", "192.0.2.4")


def test_refresh_of_a_set_below_its_minimum_then_up_puts_the_plan_back(tmp_path, provider):
    plan = doc(3)
    plan["records"][0].update(values=["192.0.2.1", "192.0.2.2", "192.0.2.3"], min_values=2)
    created = provider.create(checked(provider, plan))
    # Someone in the console leaves host0 with one value, below the plan's minimum.
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    old = RecordSet("host0.example.com.", "A", 60, ("192.0.2.1", "192.0.2.2", "192.0.2.3"))
    model.change_record_sets(
        model.resolve_zone(Z), [Change("DELETE", old), Change("CREATE", old.with_values(old.values[:1]))]
    )

    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["records"]["host0.example.com./A"] == {
        "name": "host0.example.com.",
        "type": "A",
        "ttl": 60,
        "values": ["192.0.2.1"],
        "min_values": 2,
    }
    news = checked(provider, plan, refreshed.outs)
    assert provider.diff(created.id, refreshed.outs, news).changes is True
    updated = provider.update(created.id, refreshed.outs, news)
    assert updated.outs["updates"] == 1
    assert live(tmp_path)[("host0.example.com.", "A", None)] == ("192.0.2.1", "192.0.2.2", "192.0.2.3")


def test_a_failed_stage_rolls_the_whole_change_back(tmp_path, provider):
    created = provider.create(checked(provider, doc(4, canary=["host0"])))
    before = live(tmp_path)

    class FailsOnHost1:
        """A rollout gate (e.g. health) that finds host1 broken after the main stage."""

        name = "gate"

        def verify(self, zone, expected):
            return [f"{r.name} unhealthy" for r in expected if r.name.startswith("host1.")]

    eng = provider.engine()
    eng.options = dataclasses.replace(eng.options, verifiers=(FailsOnHost1(),))
    changed = doc(4, canary=["host0"])
    changed["records"][0]["values"] = ["192.0.2.10"]  # canary stage: passes
    changed["records"][1]["values"] = ["192.0.2.11"]  # main stage: fails
    with pytest.raises(VerificationFailed, match="stage 'main' failed verification"):
        provider.update(created.id, created.outs, checked(provider, changed, created.outs))
    assert live(tmp_path) == before  # the canary's verified change is rolled back too

    # The state still holds what is live again, so the next `pulumi up` (gate fixed) goes through.
    eng.options = dataclasses.replace(eng.options, verifiers=())
    updated = provider.update(created.id, created.outs, checked(provider, changed, created.outs))
    assert (updated.outs["outcome"], updated.outs["updates"]) == ("applied", 2)


def test_flags_alone_are_recorded_without_a_new_generation(tmp_path, provider):
    created = provider.create(checked(provider, doc(2)))
    news = checked(provider, doc(2), created.outs, retire_on_delete=True)
    assert provider.diff(created.id, created.outs, news).changes is True
    updated = provider.update(created.id, created.outs, news)
    assert updated.outs["retire_on_delete"] is True and updated.outs["applied_generation"] == 1
    assert generations(tmp_path) == [1]
    assert (
        provider.diff(created.id, updated.outs, checked(provider, doc(2), updated.outs, retire_on_delete=True)).changes
        is False
    )


def test_diff_replaces_on_zone_only(provider):
    old = checked(provider, doc(2))
    other = checked(provider, {**doc(2), "zone": "example.org", "records": doc(2)["records"]})
    assert provider.diff("id", old, other).replaces == ["zone"]
    ttl = provider.diff("id", old, checked(provider, doc(2, ttl=300)))
    assert (ttl.changes, ttl.replaces) == (True, [])


# ------------------------------------------------------------------------- delete, adoption


def test_delete_is_refused_unless_retire_on_delete_then_retires_every_name(tmp_path, provider):
    created = provider.create(checked(provider, doc(4)))
    with pytest.raises(GuardRefused, match="retire_on_delete=True"):
        provider.delete(created.id, created.outs)
    assert len(live(tmp_path)) == 4
    provider.delete(created.id, {**created.outs, "retire_on_delete": True})
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    names = {r.name for r in model.list_record_sets(model.resolve_zone(Z))}
    assert names == {Z, fence_record_name(Z, OWNER)}  # records and ownership markers gone, the fence stays
    provider.delete(created.id, {**created.outs, "retire_on_delete": True})  # nothing left: no error
    assert generations(tmp_path) == [1, 2]


def test_takes_over_the_record_sets_a_stack_made_one_per_resource(tmp_path, provider):
    # Migration: the per-record resources (same owner) dropped from the state, the plan created.
    per_record = GuardedRecordProvider(backend="embedded", state=str(tmp_path), owner=OWNER)
    for r in doc(3)["records"]:
        per_record.create(per_record.check({}, {"zone": "example.com", **r}).inputs)
    assert len(generations(tmp_path)) == 3
    calls = provider.engine().backend.calls
    calls.clear()
    created = provider.create(checked(provider, doc(3)))
    assert (created.outs["creates"], created.outs["updates"], created.outs["deletes"]) == (0, 0, 0)
    assert calls["ChangeResourceRecordSets"] == 1  # the fence alone: nothing else moves


# ------------------------------------------------------------------------- Pulumi plumbing


def test_resource_registers_under_its_type(mocks, tmp_path):
    @pulumi.runtime.test
    def program():
        res = GuardedPlan(
            "plan",
            **plan_inputs(load_plan(EXAMPLE)),
            provider=GuardedPlanProvider(backend="embedded", state=str(tmp_path), owner=OWNER),
        )
        return res.urn

    program()
    (reg,) = [r for r in mocks.registered if r.name == "plan"]
    assert reg.typ == TYPE_TOKEN
    assert len(reg.inputs["records"]) == 11 and reg.inputs["canary"] == ["api.example.com."]


def test_provider_pickles_by_reference_and_loads_in_the_program_directory(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "infra"))
    import guarded_plan

    p = guarded_plan.GuardedPlanProvider(backend="embedded", state=str(tmp_path), owner=OWNER)
    p.engine()  # an opened engine must not be pickled
    blob = serialize_provider(p)
    assert len(base64.b64decode(blob)) < 4000
    code = (
        "import base64, sys, dill; p = dill.loads(base64.b64decode(sys.argv[1])); "
        "print(type(p).__module__, p.config.owner, p.config.state, p._engine)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, blob], cwd=ROOT / "infra", capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["guarded_plan", OWNER, str(tmp_path), "None"]


def test_configure_fills_unset_settings_from_the_stack_config():
    from pulumi.dynamic import Config, ConfigureRequest

    p = GuardedPlanProvider(owner="explicit")
    stack = {
        "dns-safeguards:backend": "aws",
        "dns-safeguards:owner": "from-config",
        "dns-safeguards:planTable": "plans",
        "aws:region": "eu-west-1",
        "aws:accessKey": "test",
        "aws:secretKey": "test",
        "aws:endpoints": '[{"route53": "http://127.0.0.1:4566", "dynamodb": "http://127.0.0.1:4566"}]',
    }
    p.configure(ConfigureRequest(Config(stack, "dns-safeguards")))
    merged = p.config.merged(p._stack_config)
    assert (merged.backend, merged.owner, merged.region) == ("aws", "explicit", "eu-west-1")
    assert (merged.endpoint_url, merged.plan_table) == ("http://127.0.0.1:4566", "plans")
    assert "test" not in str(p.__getstate__())  # credentials are never pickled into the state


def test_benchmark_counts_side_by_side_at_small_sizes():
    # `python -m benchmarks --only pulumi` at 10 records, so the benchmark cannot rot.
    from benchmarks import pulumi_calls

    plan, per_set, cli = pulumi_calls.plan_resource(10), pulumi_calls.per_record(10), pulumi_calls.cli_apply(10)
    assert (plan["create"].changes, per_set["create"].changes, cli["create"].changes) == (1, 10, 1)
    assert (plan["create"].generations, per_set["create"].generations) == (1, 10)
    assert (plan["create"].waits, per_set["create"].waits) == (1, 10)
    assert plan["rewrite"].refused.startswith("blast radius") and plan["rewrite"].changes == 0
    assert plan["rewrite, force"].changes == cli["rewrite, force"].changes == 1
    assert per_set["rewrite"].changes == 10 and not per_set["rewrite"].refused
