"""The `GuardedRecordSet` dynamic provider, its methods called directly against the embedded
backend (strict Route 53 model + SQLite plan store): what Pulumi would do on up, refresh and
destroy, without the CLI."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading

import pulumi
import pytest

pytest.importorskip("safeguards.backends.strict")
pytest.importorskip("safeguards.stores.sqlite")

from pulumi.dynamic.dynamic import serialize_provider
from pulumi_mocks import ROOT

from infra.guarded_record import (
    TYPE_TOKEN,
    GuardedRecordProvider,
    GuardedRecordSet,
    default_owner,
    resource_id,
)
from infra.policy.validators import GUARDED
from safeguards.applier import Applier, ApplyOptions
from safeguards.backends.strict import StrictRoute53
from safeguards.errors import GuardRefused, StaleGeneration
from safeguards.fence import marker_owners
from safeguards.plan import parse_plan
from safeguards.planstore import scope
from safeguards.stores.sqlite import SqlitePlanStore

Z = "example.com."
OWNER = "pulumi.dns-safeguards.test"


@pytest.fixture
def provider(tmp_path) -> GuardedRecordProvider:
    return GuardedRecordProvider(backend="embedded", state=str(tmp_path), owner=OWNER)


def inputs(provider: GuardedRecordProvider, name: str = "api", values=("192.0.2.1", "192.0.2.2"), **kw) -> dict:
    """What the engine would pass to create/update: the checked inputs (numbers as floats)."""
    raw = {"zone": "example.com", "name": name, "type": "a", "ttl": 60.0, "values": list(values), **kw}
    result = provider.check({}, raw)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def live(tmp_path) -> dict:
    """The zone as Route 53 (the strict model) holds it: key -> RecordSet, and name -> owner."""
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    sets = model.list_record_sets(model.resolve_zone(Z))
    return {r.key: r for r in sets}, marker_owners(sets)


def a(name: str) -> tuple:
    return (f"{name}.{Z}", "A", None)


# ------------------------------------------------------------------------- check and diff


def test_check_normalizes_with_the_library_rules(provider):
    got = inputs(provider, name="API", values=["192.0.2.2", "192.0.2.1"])
    assert (got["zone"], got["name"], got["type"], got["ttl"]) == (Z, "api.example.com.", "A", 60)
    assert got["values"] == ["192.0.2.1", "192.0.2.2"]
    assert (got["min_values"], got["retire_on_delete"], got["adopt"]) == (1, False, False)


@pytest.mark.parametrize(
    ("change", "prop", "words"),
    [
        ({"values": []}, "values", "at least one value"),
        ({"ttl": -1.0}, "ttl", "ttl"),
        ({"values": ["300.1.1.1"]}, "values", "300.1.1.1"),
        ({"name": "www.example.org."}, "name", "outside the zone"),
        ({"type": "CNAME", "values": ["a.example.net", "b.example.net"]}, "values", "exactly one value"),
        ({"min_values": 3.0}, "min_values", "more than its 2 value(s)"),
        ({"set_identifier": "blue"}, "set_identifier", "goes with exactly one routing field"),
        ({"name": "_dnssg.api"}, "name", "reserved"),
    ],
)
def test_check_returns_every_failure_before_any_change(tmp_path, provider, change, prop, words):
    raw = {"zone": "example.com", "name": "api", "type": "A", "ttl": 60.0, "values": ["192.0.2.1", "192.0.2.2"]}
    raw.update(change)
    failures = provider.check({}, raw).failures
    assert failures, change
    assert any(f.property == prop and words in f.reason for f in failures), [(f.property, f.reason) for f in failures]
    assert not (tmp_path / "route53.sqlite").exists()  # check never opens the backend


def test_check_defers_unknown_values_to_the_real_run(provider):
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    result = provider.check({}, {"zone": "example.com", "name": "api", "type": "A", "ttl": 60, "values": unknown})
    assert result.failures == [] and result.inputs["values"] == unknown


def test_diff_replaces_on_identity_and_updates_the_rest(provider):
    old = inputs(provider)
    assert provider.diff("id", old, inputs(provider, values=["192.0.2.2", "192.0.2.1"])).changes is False
    ttl = provider.diff("id", old, inputs(provider, ttl=300.0))
    assert (ttl.changes, ttl.replaces) == (True, [])
    renamed = provider.diff("id", old, inputs(provider, name="api2"))
    assert (renamed.changes, renamed.replaces, renamed.delete_before_replace) == (True, ["name"], False)
    retyped = provider.diff("id", old, inputs(provider, type="AAAA", values=["2001:db8::1"]))
    assert retyped.replaces == ["type"]
    assert provider.diff("id", old, {**old, "retire_on_delete": True}).replaces == []


# ------------------------------------------------------------------------- create, update


def test_create_applies_a_fenced_plan_and_keeps_the_owners_other_names(tmp_path, provider):
    api = provider.create(inputs(provider))
    assert api.id == "api.example.com./A"
    www = provider.create(inputs(provider, name="www", values=["192.0.2.9"]))
    sets, owners = live(tmp_path)
    assert sets[a("api")].values == ("192.0.2.1", "192.0.2.2")
    assert sets[a("www")].values == ("192.0.2.9",)
    assert owners == {"api.example.com.": OWNER, "www.example.com.": OWNER}
    assert www.outs["applied_generation"] > api.outs["applied_generation"]
    assert www.outs["outcome"] == "applied" and www.outs["fqdn"] == "www.example.com."
    # The plan store holds the owner's whole plan for that generation.
    store = SqlitePlanStore(tmp_path / "plans.sqlite")
    plan = store.get_plan(scope(Z, OWNER), www.outs["applied_generation"])
    assert sorted(r.name for r in plan.records) == ["api.example.com.", "www.example.com."]
    assert plan.owner == OWNER


def test_update_changes_values_as_a_new_generation(tmp_path, provider):
    created = provider.create(inputs(provider))
    olds = {**created.outs, "__provider": "x"}
    updated = provider.update(created.id, olds, inputs(provider, values=["192.0.2.1", "192.0.2.3"]))
    assert updated.outs["applied_generation"] > created.outs["applied_generation"]
    sets, _ = live(tmp_path)
    assert sets[a("api")].values == ("192.0.2.1", "192.0.2.3")


def test_create_refuses_to_overwrite_a_record_it_does_not_own_unless_adopted(tmp_path, provider):
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    zone_id = model.resolve_zone(Z, create=True)
    from safeguards.records import Change, RecordSet

    manual = RecordSet(f"api.{Z}", "A", 300, ("198.51.100.7",))
    model.change_record_sets(zone_id, [Change("CREATE", manual)])
    with pytest.raises(GuardRefused, match="already exists with"):
        provider.create(inputs(provider))
    assert live(tmp_path)[0][a("api")] == manual
    provider.create(inputs(provider, adopt=True))
    sets, owners = live(tmp_path)
    assert sets[a("api")].values == ("192.0.2.1", "192.0.2.2") and owners[f"api.{Z}"] == OWNER


# ------------------------------------------------------------------------- stale


def other_writer(tmp_path, generation_doc: dict) -> None:
    """Another enactor of the same owner (the CLI, another pipeline) applies a plan directly."""
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    store = SqlitePlanStore(tmp_path / "plans.sqlite")
    doc = {"zone": Z, "owner": OWNER, "generation": store.allocate_generation(scope(Z, OWNER)), **generation_doc}
    Applier(model, store, enactor_id="cli", options=ApplyOptions()).apply(parse_plan(doc))


def test_update_based_on_a_stale_read_is_rejected(tmp_path, provider):
    created = provider.create(inputs(provider))
    other_writer(tmp_path, {"records": [{"name": "api", "type": "A", "ttl": 60, "values": ["192.0.2.1", "192.0.2.5"]}]})
    with pytest.raises(StaleGeneration, match=r"changed outside this stack .* run 'pulumi refresh'"):
        provider.update(created.id, created.outs, inputs(provider, values=["192.0.2.1", "192.0.2.3"]))
    assert live(tmp_path)[0][a("api")].values == ("192.0.2.1", "192.0.2.5")  # the newer write stands

    # `pulumi refresh` reads the live value; the next update is based on it and goes through.
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["values"] == ["192.0.2.1", "192.0.2.5"]
    provider.update(created.id, refreshed.outs, inputs(provider, values=["192.0.2.1", "192.0.2.3"]))
    assert live(tmp_path)[0][a("api")].values == ("192.0.2.1", "192.0.2.3")


def test_explicit_generation_not_above_the_live_one_is_rejected(tmp_path, provider):
    created = provider.create(inputs(provider))
    live_gen = created.outs["applied_generation"]
    with pytest.raises(StaleGeneration, match=f"generation {live_gen} is live .* refusing to apply generation 1"):
        provider.update(created.id, created.outs, inputs(provider, values=["192.0.2.1", "192.0.2.3"], generation=1.0))
    assert live(tmp_path)[0][a("api")].values == ("192.0.2.1", "192.0.2.2")


def test_read_of_a_deleted_record_reports_it_gone(tmp_path, provider):
    created = provider.create(inputs(provider, retire_on_delete=True))
    other_writer(tmp_path, {"records": [], "retire": ["api"]})
    assert provider.read(created.id, created.outs).id == ""


# ------------------------------------------------------------------------- delete


def test_delete_without_retire_on_delete_is_refused(tmp_path, provider):
    created = provider.create(inputs(provider))
    with pytest.raises(GuardRefused, match="set retire_on_delete=True"):
        provider.delete(created.id, created.outs)
    assert a("api") in live(tmp_path)[0]


def test_retire_delete_removes_the_set_and_its_marker_only(tmp_path, provider):
    api = provider.create(inputs(provider, retire_on_delete=True))
    provider.create(inputs(provider, name="www", values=["192.0.2.9"]))
    provider.delete(api.id, api.outs)
    sets, owners = live(tmp_path)
    assert a("api") not in sets and f"api.{Z}" not in owners
    assert sets[a("www")].values == ("192.0.2.9",) and owners[f"www.{Z}"] == OWNER
    provider.delete(api.id, api.outs)  # already gone: nothing to do, no error


def test_retire_delete_keeps_the_name_while_another_set_lives_there(tmp_path, provider):
    v4 = provider.create(inputs(provider, retire_on_delete=True))
    provider.create(inputs(provider, type="AAAA", values=["2001:db8::1"]))
    provider.delete(v4.id, v4.outs)
    sets, owners = live(tmp_path)
    assert a("api") not in sets
    assert sets[(f"api.{Z}", "AAAA", None)].values == ("2001:db8::1",)
    assert owners[f"api.{Z}"] == OWNER


# ------------------------------------------------------------------------- concurrency


def test_concurrent_operations_of_two_provider_processes_lose_nothing(tmp_path):
    # Two provider instances (as two `pulumi up` processes would have) on the same zone.
    providers = [GuardedRecordProvider(backend="embedded", state=str(tmp_path), owner=OWNER) for _ in range(2)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        p = providers[i % 2]
        try:
            p.create(inputs(p, name=f"host{i}", values=[f"192.0.2.{i + 1}"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sets, owners = live(tmp_path)
    assert sorted(n for n, o in owners.items() if o == OWNER) == [f"host{i}.{Z}" for i in range(6)]
    assert all(sets[a(f"host{i}")].values == (f"192.0.2.{i + 1}",) for i in range(6))


# ------------------------------------------------------------------------- Pulumi plumbing


def test_resource_registers_under_the_type_the_policy_pack_checks(mocks, tmp_path):
    @pulumi.runtime.test
    def program():
        rec = GuardedRecordSet(
            "api",
            zone="example.com",
            name="api",
            type="A",
            ttl=60,
            values=["192.0.2.1"],
            provider=GuardedRecordProvider(backend="embedded", state=str(tmp_path), owner=OWNER),
        )
        return rec.urn

    program()
    (reg,) = [r for r in mocks.registered if r.name == "api"]
    assert reg.typ == TYPE_TOKEN == GUARDED
    assert reg.inputs["values"] == ["192.0.2.1"] and reg.inputs["retire_on_delete"] is False


def test_provider_pickles_by_reference_and_loads_in_the_program_directory(tmp_path, monkeypatch):
    # Inside `pulumi up` the program imports `guarded_record` from infra/ (its sys.path[0]); the
    # dynamic-provider process runs in infra/ as well and must be able to load it again.
    monkeypatch.syspath_prepend(str(ROOT / "infra"))
    import guarded_record

    provider = guarded_record.GuardedRecordProvider(backend="embedded", state=str(tmp_path), owner=OWNER)
    provider.engine()  # an opened engine must not be pickled
    blob = serialize_provider(provider)
    assert len(base64.b64decode(blob)) < 4000
    code = (
        "import base64, sys, dill; p = dill.loads(base64.b64decode(sys.argv[1])); "
        "print(type(p).__module__, p.config.owner, p.config.state, p._engine)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, blob], cwd=ROOT / "infra", capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["guarded_record", OWNER, str(tmp_path), "None"]


def test_configure_fills_unset_settings_from_the_stack_config(tmp_path):
    from pulumi.dynamic import Config, ConfigureRequest

    p = GuardedRecordProvider(owner="explicit")
    p.configure(
        ConfigureRequest(
            Config(
                {
                    "dns-safeguards:backend": "aws",
                    "dns-safeguards:owner": "from-config",
                    "dns-safeguards:planTable": "plans",
                    "aws:region": "eu-west-1",
                    "aws:accessKey": "test",
                    "aws:secretKey": "test",
                    "aws:endpoints": '[{"route53": "http://127.0.0.1:4566", "dynamodb": "http://127.0.0.1:4566"}]',
                },
                "dns-safeguards",
            )
        )
    )
    merged = p.config.merged(p._stack_config)
    assert (merged.backend, merged.owner, merged.region) == ("aws", "explicit", "eu-west-1")
    assert (merged.endpoint_url, merged.plan_table) == ("http://127.0.0.1:4566", "plans")
    assert p._credentials == {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    assert "test" not in str(p.__getstate__())  # credentials are never pickled into the state


def test_helpers():
    assert default_owner("dns-safeguards", "prod/eu 1") == "pulumi.dns-safeguards.prod-eu-1"
    assert len(default_owner("p" * 80, "s")) == 63
    from safeguards.records import RecordSet

    assert resource_id(RecordSet(f"a.{Z}", "A", 60, ("192.0.2.1",), "blue", 10)) == "a.example.com./A/blue"
