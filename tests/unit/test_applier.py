"""The safeguarded applier against the strict Route 53 model: each guard, the compare-and-set
path (including lost responses), rollback, repair, clean-up and the circuit. Every test would
fail if the safeguard it names were removed."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest

from safeguards.applier import Applier, ApplyOptions
from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import (
    BackendError,
    CircuitOpen,
    FenceLost,
    GuardRefused,
    InvalidInput,
    StaleGeneration,
    VerificationFailed,
)
from safeguards.fence import parse_fence
from safeguards.plan import Plan
from safeguards.records import RecordSet, fence_name
from safeguards.retry import Backoff
from safeguards.stores.sqlite import SqlitePlanStore

Z = "example.com."


def rs(name: str, *values: str, rtype: str = "A", ttl: int = 60) -> RecordSet:
    return RecordSet(Z if name == "@" else f"{name}.{Z}", rtype, ttl, tuple(sorted(values)))


def make_plan(gen: int, *records: RecordSet, **kw) -> Plan:
    return Plan(Z, gen, tuple(sorted(records)), **kw)


BASE = (
    rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.3"),
    rs("www", "192.0.2.10"),
    rs("mail", "192.0.2.20"),
    rs("db", "192.0.2.30", "192.0.2.31"),
)


class Env:
    def __init__(self, tmp_path, **opts) -> None:
        self.clock = VirtualClock()
        self.model = StrictRoute53(clock=self.clock)
        self.zone_id = self.model.resolve_zone(Z, create=True)
        self.store = SqlitePlanStore(tmp_path / "plans.sqlite", clock=self.clock)
        self.options = ApplyOptions(**opts)

    def applier(self, enactor: str = "a", **kw) -> Applier:
        return Applier(self.model, self.store, enactor_id=enactor, options=self.options, clock=self.clock, **kw)

    def snapshot(self) -> bytes:
        return self.model.snapshot(self.zone_id)

    def sets(self) -> dict:
        return {r.key: r for r in self.model.list_record_sets(self.zone_id)}

    def live(self) -> int | None:
        fence = parse_fence(self.sets().get((fence_name(Z), "TXT", None)))
        return fence.generation if fence else None


@pytest.fixture
def env(tmp_path) -> Env:
    return Env(tmp_path)


def test_first_apply_creates_records_fence_and_markers(env: Env) -> None:
    result = env.applier().apply(make_plan(1, *BASE))
    assert result.outcome == "applied" and result.batches == 1
    sets = env.sets()
    for r in BASE:
        assert sets[r.key] == r
    assert env.live() == 1
    assert ("_dnssg.api.example.com.", "TXT", None) in sets
    assert env.applier().apply(make_plan(1, *BASE)).outcome == "noop"


def test_update_is_delete_exact_plus_create_in_one_batch(env: Env) -> None:
    env.applier().apply(make_plan(1, *BASE))
    seen: list = []
    original = env.model.change_record_sets

    def spy(zone_id, changes, comment=""):
        seen.append(list(changes))
        return original(zone_id, changes, comment)

    env.model.change_record_sets = spy  # type: ignore[method-assign]
    new_api = rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.4")
    env.applier().apply(make_plan(2, new_api, *BASE[1:]))
    (batch,) = seen
    actions = [(c.action, c.rrset.name, c.rrset.type) for c in batch]
    assert ("DELETE", fence_name(Z), "TXT") in actions and ("CREATE", fence_name(Z), "TXT") in actions
    assert ("DELETE", "api.example.com.", "A") in actions and ("CREATE", "api.example.com.", "A") in actions
    assert all(c.action != "UPSERT" for c in batch)
    assert env.sets()[new_api.key] == new_api and env.live() == 2


def test_older_generation_is_stale_and_changes_nothing(env: Env) -> None:
    env.applier().apply(make_plan(7, *BASE))
    before = env.snapshot()
    with pytest.raises(StaleGeneration) as exc:
        env.applier("b").apply(make_plan(5, rs("api", "192.0.2.99"), *BASE[1:]))
    assert exc.value.exit_code == 4 and exc.value.live == 7 and exc.value.ours == 5
    assert env.snapshot() == before


def test_same_generation_with_other_content_is_stale(env: Env) -> None:
    env.applier().apply(make_plan(3, *BASE))
    with pytest.raises(StaleGeneration):
        env.applier("b").apply(make_plan(3, rs("api", "192.0.2.99", "192.0.2.98", "192.0.2.97"), *BASE[1:]))


def test_the_store_checks_the_fence_at_write_time(env: Env) -> None:
    """An enactor that passed its freshness check and then stalled is rejected by Route 53
    itself, because its batch DELETEs the fence as it read it."""
    env.applier().apply(make_plan(1, *BASE))
    newer = make_plan(3, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.5"), *BASE[1:])
    stale = make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.6"), *BASE[1:])
    fired = []

    def stall_then_let_b_win(name: str, **ctx) -> None:
        if name == "batch.before" and not fired:
            fired.append(ctx)
            env.clock.advance(env.options.lease_ttl + 1)  # stalled past its lease
            env.applier("b").apply(newer)

    slow = env.applier("a", checkpoint=stall_then_let_b_win)
    with pytest.raises(StaleGeneration):
        slow.apply(stale)
    assert env.live() == 3
    assert env.sets()[newer.records[0].key] == newer.records[0]


def test_without_the_fence_delete_the_stale_write_would_win(env: Env) -> None:
    """Teeth: make the batch's DELETEs match whatever is there at write time (an unconditional
    write, like UPSERT) and the same interleaving lets the stale plan overwrite the newer one.
    This is what the exact-match DELETE of the fence prevents."""
    env.applier().apply(make_plan(1, *BASE))
    newer = make_plan(3, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.5"), *BASE[1:])
    stale = make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.6"), *BASE[1:])
    real_change = env.model.change_record_sets

    def unconditional(zone_id, changes, comment=""):
        current = {r.key: r for r in env.model.list_record_sets(zone_id)}
        fixed = [
            dataclasses.replace(c, rrset=current[c.rrset.key]) if c.action == "DELETE" else c
            for c in changes
            if c.action != "DELETE" or c.rrset.key in current
        ]
        return real_change(zone_id, fixed, comment)

    env.model.change_record_sets = unconditional  # type: ignore[method-assign]
    fired = []

    def stall(name: str, **ctx) -> None:
        if name == "batch.before" and not fired:
            fired.append(1)
            env.clock.advance(env.options.lease_ttl + 1)
            env.applier("b").apply(newer)

    with contextlib.suppress(FenceLost):  # only its bookkeeping is fenced; Route 53 took the write
        env.applier("a", checkpoint=stall).apply(stale)
    assert env.live() == 2  # the older generation went live over the newer one: I2 broken


def test_lost_response_is_recognised_as_our_own_success(env: Env) -> None:
    env.applier().apply(make_plan(1, *BASE))
    env.model.faults.lose_response(1)
    result = env.applier().apply(make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.7"), *BASE[1:]))
    assert result.outcome == "applied"
    assert env.live() == 2 and env.sets()[("api.example.com.", "A", None)].values[-1] == "192.0.2.7"


def test_timeout_before_apply_is_retried_from_a_fresh_read(env: Env) -> None:
    env.applier().apply(make_plan(1, *BASE))
    env.model.faults.timeout_before_apply(1)
    env.applier().apply(make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.8"), *BASE[1:]))
    assert env.live() == 2


def test_throttling_backs_off_with_jitter_then_succeeds(env: Env) -> None:
    env.applier().apply(make_plan(1, *BASE))
    env.model.faults.throttle(3)
    slept = env.clock.slept
    env.applier().apply(make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.9"), *BASE[1:]))
    assert env.live() == 2 and env.clock.slept > slept


def test_persistent_throttling_gives_up_cleanly_and_changes_nothing(tmp_path) -> None:
    env = Env(tmp_path, backoff=Backoff(base=0.1, cap=1.0, max_attempts=3))
    env.applier().apply(make_plan(1, *BASE))
    before = env.snapshot()
    env.model.faults.throttle(100)
    with pytest.raises(BackendError):
        env.applier().apply(make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.9"), *BASE[1:]))
    assert env.snapshot() == before
    assert env.store.state(Z).consecutive_failures == 1


def test_a_plan_that_empties_a_name_is_refused_and_changes_nothing(env: Env) -> None:
    env.applier().apply(make_plan(1, *BASE))
    before = env.snapshot()
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(make_plan(2, *BASE[1:]))  # api omitted: it would be deleted
    assert exc.value.exit_code == 3 and exc.value.guard == "never-empty"
    assert "api.example.com." in str(exc.value)
    assert env.snapshot() == before
    # Retiring it explicitly is allowed, and removes its ownership marker too.
    env.applier().apply(make_plan(2, *BASE[1:], retire=("api.example.com.",)))
    sets = env.sets()
    assert ("api.example.com.", "A", None) not in sets and ("_dnssg.api.example.com.", "TXT", None) not in sets


def test_blast_radius_refuses_then_force_applies(env: Env) -> None:
    env.applier().apply(make_plan(1, *BASE))
    moved = [r.with_values([v.replace("192.0.2.", "198.51.100.") for v in r.values]) for r in BASE]
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(make_plan(2, *moved))
    assert exc.value.guard == "blast-radius" and "4 of 4" in str(exc.value)
    env.applier().apply(make_plan(2, *moved), force=True)
    assert env.live() == 2


def test_names_we_do_not_own_are_not_touched_unless_adopted(env: Env) -> None:
    foreign = rs("legacy", "192.0.2.50")
    env.model.change_record_sets(env.zone_id, [__import__("safeguards").Change("CREATE", foreign)])
    p = make_plan(1, rs("legacy", "192.0.2.51"))
    before = env.snapshot()
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(p)
    assert exc.value.guard == "ownership" and env.snapshot() == before
    env.applier().apply(p, adopt=True)
    assert env.sets()[foreign.key].values == ("192.0.2.51",)


def test_declared_checksum_must_match(env: Env) -> None:
    p = Plan(Z, 1, tuple(sorted(BASE)), declared_checksum="f" * 64)
    with pytest.raises(GuardRefused) as exc:
        env.applier().apply(p)
    assert exc.value.guard == "checksum"
    assert env.live() is None


def test_failed_verification_restores_as_a_revision_of_the_failed_generation(tmp_path) -> None:
    class RejectApi:
        name = "probe"

        def verify(self, zone, expected):
            return [f"{r.name} unhealthy" for r in expected if r.name.startswith("api.")]

    env = Env(tmp_path)
    env.applier().apply(make_plan(1, *BASE))
    good = env.sets()
    env.options = ApplyOptions(verifiers=(RejectApi(),))
    bad = make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.66"), *BASE[1:], canary=("api.example.com.",))
    with pytest.raises(VerificationFailed) as exc:
        env.applier().apply(bad)
    assert exc.value.exit_code == 5 and "restored the previous content (verified)" in str(exc.value)
    assert "g2.r1 (content of g1)" in str(exc.value)
    after = env.sets()
    assert after[("api.example.com.", "A", None)] == good[("api.example.com.", "A", None)]
    fence = parse_fence(after[(fence_name(Z), "TXT", None)])
    # The failed generation keeps its number one revision up: it is never re-applied, and the
    # planner's next generation (3) outranks the restore.
    assert fence is not None and (fence.generation, fence.rev, fence.content, fence.done) == (2, 1, 1, True)
    with pytest.raises(StaleGeneration, match="rolled back to the content of g1"):
        env.applier().apply(bad)


def test_canary_stage_goes_first_and_a_failed_canary_stops_the_rest(tmp_path) -> None:
    env = Env(tmp_path)
    env.applier().apply(make_plan(1, *BASE))
    order: list[str] = []

    class Gate:
        name = "gate"

        def verify(self, zone, expected):
            order.append(",".join(sorted(r.name for r in expected)))
            return ["canary failed"] if any(r.name.startswith("www.") for r in expected) else []

    env.options = ApplyOptions(verifiers=(Gate(),))
    p = make_plan(2, BASE[0], rs("www", "192.0.2.11"), rs("mail", "192.0.2.21"), BASE[3], canary=("www.example.com.",))
    with pytest.raises(VerificationFailed):
        env.applier().apply(p)
    assert order[0] == "www.example.com."
    assert env.sets()[("mail.example.com.", "A", None)].values == ("192.0.2.20",)  # main stage never ran


def test_rollback_after_1_then_2_restores_1_above_2(env: Env) -> None:
    one = make_plan(1, *BASE)
    env.applier().apply(one)
    env.applier().apply(make_plan(2, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.4"), *BASE[1:]))
    result = env.applier().rollback(Z)
    assert result.rolled_back_to == 1 and (result.generation, result.revision) == (2, 1)
    sets = env.sets()
    for r in one.records:
        assert sets[r.key] == r
    assert env.live() == result.generation


def test_repair_restores_a_name_emptied_behind_our_back(env: Env) -> None:
    from safeguards import Change

    env.applier().apply(make_plan(1, *BASE))
    api = env.sets()[("api.example.com.", "A", None)]
    env.model.change_record_sets(env.zone_id, [Change("DELETE", api)])  # the 2025 empty record
    result = env.applier().repair(Z)
    # Under the live generation, one revision up: never a number the planner will use.
    assert result.outcome == "repaired" and (result.generation, result.revision) == (1, 1)
    assert env.sets()[api.key] == api
    assert env.store.generations(Z) == [1]
    assert env.applier().repair(Z).outcome == "noop"


def test_cleanup_never_deletes_live_or_last_known_good(env: Env) -> None:
    for g in range(1, 7):
        api = rs("api", "192.0.2.1", "192.0.2.2", f"192.0.2.{100 + g}")
        env.applier().apply(make_plan(g, api, *BASE[1:]))
    deleted = env.applier().cleanup(Z, keep=2)
    assert deleted == [1, 2, 3]
    assert env.store.generations(Z) == [4, 5, 6]
    for bad in (0, -5):  # the live plan is always kept: a keep below 1 is refused, nothing deleted
        with pytest.raises(InvalidInput, match="keep must be at least 1"):
            env.applier().cleanup(Z, keep=bad)
    assert env.store.generations(Z) == [4, 5, 6]
    assert env.applier().cleanup(Z, keep=1) == [4]
    assert env.store.generations(Z) == [5, 6]


def test_circuit_opens_after_repeated_failures_and_needs_a_reset(tmp_path) -> None:
    env = Env(tmp_path, circuit_threshold=2)
    env.applier().apply(make_plan(1, *BASE))
    for gen in (2, 3):
        with pytest.raises(GuardRefused):
            env.applier().apply(make_plan(gen, *BASE[1:]))
    with pytest.raises(CircuitOpen) as exc:
        env.applier().apply(make_plan(4, *BASE))
    assert exc.value.exit_code == 6
    assert env.applier().status(Z).state.circuit_open
    env.applier().reset_circuit(Z)
    env.applier().apply(make_plan(4, rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.9"), *BASE[1:]))
    assert env.live() == 4


def test_batches_respect_limits_with_the_fence_in_every_batch(env: Env) -> None:
    big = [rs(f"n{i:04d}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(1500)]
    result = env.applier().apply(make_plan(1, *big))
    # 1500 sets + 1500 markers = 3000 records; 998 per batch after the fence's two.
    assert result.batches == 4
    assert env.live() == 1 and env.model.calls["ChangeResourceRecordSets"] == 4


def test_pending_changes_are_waited_for_on_the_clock(tmp_path) -> None:
    env = Env(tmp_path)
    env.model = StrictRoute53(clock=env.clock, insync_after=60.0)
    env.zone_id = env.model.resolve_zone(Z, create=True)
    start = env.clock.now()
    env.applier().apply(make_plan(1, *BASE))
    assert env.clock.now() - start >= 60.0
    assert env.model.calls["GetChange"] >= 2
