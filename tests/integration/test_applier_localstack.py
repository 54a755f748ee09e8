"""The applier deployed against LocalStack (strict Route 53 provider, moto DynamoDB), through the
real library over HTTP: zone creation, table creation, every guard, read-back, and the CLI once.

A refused apply must leave the zone byte-identical (ListResourceRecordSets compared as bytes) and
must not burn its generation in the plan store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import Env, make_env, plan, rs, tag

from safeguards.errors import GuardRefused, InvalidInput, StaleGeneration
from safeguards.fence import parse_fence
from safeguards.plan import load_plan
from safeguards.records import Change, fence_name, owner_name
from safeguards.stores.schema import ensure_tables
from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION

pytestmark = pytest.mark.dnssg_localstack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "example.com.yaml"


@pytest.fixture
def env(localstack_strict: str) -> Env:
    return make_env(localstack_strict)


def base(zone: str) -> tuple:
    return (
        rs(zone, "api", "192.0.2.1", "192.0.2.2", "192.0.2.3"),
        rs(zone, "www", "192.0.2.10"),
        rs(zone, "mail", "192.0.2.20"),
        rs(zone, "db", "192.0.2.30", "192.0.2.31"),
    )


def test_deploy_creates_zone_and_tables_then_applies_and_reads_back(localstack_strict: str) -> None:
    env = make_env(localstack_strict, create_zone=False)
    # ensure_tables is idempotent on existing tables with the right keys ...
    ensure_tables(env.store.client, env.plan_table, env.lease_table)
    # ... and refuses a table whose keys differ (the lease table has no sort key).
    with pytest.raises(InvalidInput, match="has keys"):
        ensure_tables(env.store.client, env.lease_table, env.plan_table)

    records = base(env.zone)
    applier = env.applier(create_zone=True)
    result = applier.apply(plan(env.zone, 1, *records))
    assert result.outcome == "applied" and result.batches == 1 and len(result.change_ids) == 1

    env.zone_id = env.backend.resolve_zone(env.zone)  # created by the apply
    sets = env.sets()
    for r in records:
        assert sets[r.key] == r
        assert (owner_name(r.name), "TXT", None) in sets
    fence = parse_fence(sets[(fence_name(env.zone), "TXT", None)])
    assert fence is not None and (fence.generation, fence.done, fence.writer) == (1, True, "a")
    state = env.store.state(env.zone)
    assert (state.applied_generation, state.last_known_good, state.consecutive_failures) == (1, 1, 0)
    assert env.store.generations(env.zone) == [1]
    assert env.backend.get_change(result.change_ids[0]).status == "INSYNC"

    before = env.snapshot()
    assert env.applier("b").apply(plan(env.zone, 1, *records)).outcome == "noop"
    assert env.snapshot() == before


def test_update_is_compare_and_set_and_read_back(env: Env) -> None:
    records = base(env.zone)
    env.applier().apply(plan(env.zone, 1, *records))
    new_api = rs(env.zone, "api", "192.0.2.1", "192.0.2.2", "192.0.2.4")
    result = env.applier().apply(plan(env.zone, 2, new_api, *records[1:]))
    assert result.outcome == "applied"
    diff = result.diff
    assert diff is not None and [o.values for o, _ in diff.updates] == [records[0].values]
    sets = env.sets()
    assert sets[new_api.key] == new_api
    assert all(sets[r.key] == r for r in records[1:])
    fence = env.fence()
    assert fence is not None and fence.generation == 2 and fence.seq == 2 and fence.done


def test_never_empty_refusal_leaves_the_zone_byte_identical(env: Env) -> None:
    records = base(env.zone)
    env.applier().apply(plan(env.zone, 1, *records))
    before = env.snapshot()
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(plan(env.zone, 2, *records[1:]))  # api omitted: a deletion
    assert exc.value.guard == "never-empty" and exc.value.exit_code == 3
    assert f"api.{env.zone}" in str(exc.value) and "\n" not in str(exc.value)
    assert env.snapshot() == before
    assert env.store.generations(env.zone) == [1]  # the refused plan was not stored
    assert env.store.state(env.zone).consecutive_failures == 1

    # An explicit retire is allowed and removes the marker with the records.
    env.applier().apply(plan(env.zone, 2, *records[1:], retire=(f"api.{env.zone}",)))
    sets = env.sets()
    assert records[0].key not in sets and (owner_name(records[0].name), "TXT", None) not in sets
    assert env.store.state(env.zone).consecutive_failures == 0


def test_capacity_guard_refuses_dropping_most_values(env: Env) -> None:
    records = base(env.zone)
    env.applier().apply(plan(env.zone, 1, *records))
    before = env.snapshot()
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(plan(env.zone, 2, rs(env.zone, "api", "192.0.2.1"), *records[1:]))  # 3 -> 1 values
    assert exc.value.guard == "capacity"
    assert env.snapshot() == before


def test_blast_radius_refuses_then_force_applies(env: Env) -> None:
    records = base(env.zone)
    env.applier().apply(plan(env.zone, 1, *records))
    moved = [r.with_values([v.replace("192.0.2.", "198.51.100.") for v in r.values]) for r in records]
    before = env.snapshot()
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(plan(env.zone, 2, *moved))
    assert exc.value.guard == "blast-radius" and "4 of 4" in str(exc.value)
    assert env.snapshot() == before
    env.applier().apply(plan(env.zone, 2, *moved), force=True)
    sets = env.sets()
    assert all(sets[r.key] == r for r in moved) and env.live() == 2


def test_ownership_guard_leaves_foreign_records_alone_unless_adopted(env: Env) -> None:
    foreign = rs(env.zone, "legacy", "192.0.2.50")
    env.backend.change_record_sets(env.zone_id, [Change("CREATE", foreign)], "written by someone else")
    p = plan(env.zone, 1, rs(env.zone, "legacy", "192.0.2.51"))
    before = env.snapshot()
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(p)
    assert exc.value.guard == "ownership" and env.snapshot() == before
    env.applier().apply(p, adopt=True)
    sets = env.sets()
    assert sets[foreign.key].values == ("192.0.2.51",)
    assert (owner_name(foreign.name), "TXT", None) in sets


def test_stale_generation_exits_4_and_changes_nothing(env: Env) -> None:
    records = base(env.zone)
    env.applier().apply(plan(env.zone, 7, *records))
    before = env.snapshot()
    with pytest.raises(StaleGeneration) as exc:
        env.applier("b").apply(
            plan(env.zone, 5, rs(env.zone, "api", "192.0.2.1", "192.0.2.2", "192.0.2.9"), *records[1:])
        )
    assert (exc.value.exit_code, exc.value.ours, exc.value.live) == (4, 5, 7)
    assert env.snapshot() == before
    # Same number, other content: stale too (generations are never reused).
    with pytest.raises(StaleGeneration):
        env.applier("b").apply(
            plan(env.zone, 7, rs(env.zone, "api", "192.0.2.1", "192.0.2.2", "192.0.2.9"), *records[1:])
        )
    assert env.snapshot() == before


def test_cli_apply_end_to_end(localstack_strict: str, tmp_path: Path) -> None:
    """`python -m safeguards --endpoint-url URL --plan-table T apply <example>` with test credentials.

    The example plan is applied under a fresh zone name (its text with example.com replaced), so the
    test neither collides with other users of a shared LocalStack nor depends on what a previous
    run left there."""
    t = tag()
    zone = f"cli{t}.example"
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(EXAMPLE.read_text().replace("example.com", zone))
    expected = load_plan(plan_file)
    env_vars = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": TEST_REGION,
        "COLUMNS": "200",
    }
    cmd = [
        sys.executable, "-m", "safeguards", "--endpoint-url", localstack_strict,
        "--plan-table", f"cli-plans-{t}", "--lease-table", f"cli-leases-{t}",
        "--state", str(tmp_path / "state"), "--enactor-id", "cli-test",
        "apply", "--create-zone",  # a zone is never created unasked
    ]  # fmt: skip

    first = subprocess.run([*cmd, str(plan_file)], capture_output=True, text=True, env=env_vars, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"applied: {zone}. generation 1" in " ".join(first.stdout.split())

    # Read back through the library: every record of the plan is live, the fence says done.
    check = make_env(localstack_strict, create_zone=False)
    check.zone = expected.zone
    check.zone_id = check.backend.resolve_zone(expected.zone)
    sets = check.sets()
    for r in expected.records:
        assert sets[r.key] == r
    fence = check.fence()
    assert fence is not None and (fence.generation, fence.checksum, fence.writer, fence.done) == (
        1, expected.checksum, "cli-test", True,
    )  # fmt: skip

    again = subprocess.run([*cmd, "--json", str(plan_file)], capture_output=True, text=True, env=env_vars, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "noop"

    # A refused plan with one problem: one error line, exit code 3, nothing changed.
    before = check.snapshot()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        plan_file.read_text().replace("generation: 1", "generation: 2").replace("  - name: sip\n", "  - name: sip2\n")
    )
    refused = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, env=env_vars, timeout=120)
    assert refused.returncode == 3, (refused.stdout, refused.stderr)
    head, *details = refused.stderr.strip().splitlines()
    assert head.startswith("error: refused by never-empty guard: sip.")  # the whole error on one line
    assert details == []  # one problem: one line
    assert check.snapshot() == before
