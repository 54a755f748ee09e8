"""The October 2025 race replayed over real HTTP against LocalStack, with threads as enactors.

The interleaving is forced with checkpoint gates (threading.Event, no sleeps): enactor A picks a
plan, passes its freshness check, writes part of it and stalls; the planner publishes newer plans;
enactor B applies the newest and cleans up; A resumes (see /work/shared/outage-race.md). A monitor
reads the zone at every checkpoint of every enactor, so the invariants are checked on what Route 53
held at each step:

- the naive enactor (unconditional UPSERTs, clean-up by age) empties endpoints and moves them back
  to an older plan, on the stock and the strict provider alike: the harness has teeth;
- the guarded applier on the strict provider holds I1-I5: A ends StaleGeneration (or FenceLost,
  when it stalls before renewing its lease), the newest plan is live, no endpoint is ever empty;
- on stock LocalStack the same guarded interleaving lets A's stale batch through, because the stock
  provider accepts a DELETE of values that are no longer live: the gap is asserted as observed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from _support import Actor, Env, Gate, Monitor, NaiveEnactor, hooks, make_env, plan, read_pointers, rs

from safeguards.applier import ApplyOptions, ApplyResult
from safeguards.errors import FenceLost, StaleGeneration
from safeguards.guards import GuardOptions
from safeguards.plan import Plan

pytestmark = pytest.mark.dnssg_localstack

ENDPOINTS = ("ep1", "ep2", "ep3")  # ep1 is every plan's canary: a guarded apply takes two batches
KEEP = 2  # clean-up deletes plans more than KEEP generations older than the one applied
# Every generation moves every endpoint; the race is about fencing, not about step size.
OPTIONS = ApplyOptions(guards=GuardOptions(max_change_fraction=1.0))


def content(zone: str, generation: int) -> tuple:
    """Generation g: each endpoint keeps one address and gets one that names g."""
    return tuple(rs(zone, e, f"10.0.{i}.1", f"10.0.{i}.{100 + generation}") for i, e in enumerate(ENDPOINTS, 1))


def publish(env: Env) -> Plan:
    """The planner: allocate the next generation and store its plan."""
    gen = env.store.allocate_generation(env.zone)
    p = plan(env.zone, gen, *content(env.zone, gen), canary=(f"ep1.{env.zone}",))
    assert env.store.put_plan(p)
    return p


def guarded_round(env: Env, name: str, *parts: Any) -> Callable[[], tuple[ApplyResult, list[int]]]:
    """One round of guarded enactor `name` (checkpoint hooks `parts`): pick the newest plan, apply
    it, clean up. Returned as a function, to run in an enactor thread."""

    def round_() -> tuple[ApplyResult, list[int]]:
        applier = env.applier(name, checkpoint=hooks(*parts))
        newest = env.store.get_plan(env.zone, env.store.generations(env.zone)[-1])
        assert newest is not None
        result = applier.apply(newest)
        return result, applier.cleanup(env.zone, keep=KEEP)

    return round_


def fqdns(env: Env) -> list[str]:
    return [f"{e}.{env.zone}" for e in ENDPOINTS]


def values_of(env: Env, generation: int) -> dict[str, tuple[str, ...]]:
    return {r.name: r.values for r in content(env.zone, generation)}


# ---------------------------------------------------------------------- the naive enactor


@pytest.mark.parametrize("provider", ["stock", "strict"])
def test_naive_enactor_empties_endpoints(provider: str, request: pytest.FixtureRequest) -> None:
    env = make_env(request.getfixturevalue(f"localstack_{provider}"), options=OPTIONS)
    names = fqdns(env)
    monitor = Monitor(env, names)

    publish(env)
    assert Actor("B", NaiveEnactor(env, names, name="B", checkpoint=monitor).run_round).join().error is None

    publish(env)  # g2, picked by A
    a_stall = Gate("batch.before", lambda ctx: ctx["index"] == 2)
    a = Actor("A", NaiveEnactor(env, names, name="A", checkpoint=hooks(monitor, a_stall)).run_round)
    assert a_stall.wait()["generation"] == 2  # ep1 holds g2; A stalls before ep2

    newest = [publish(env) for _ in range(3)][-1]  # g3..g5
    b_cleanup = Gate("cleanup.before")
    b = Actor("B", NaiveEnactor(env, names, name="B", checkpoint=hooks(monitor, b_cleanup)).run_round)
    assert b_cleanup.wait()["generation"] == 1  # B applied g5 everywhere and starts cleaning up
    assert monitor.observe().values == values_of(env, newest.generation)

    a_stall.release()  # A's freshness check is stale now: it writes g2 over g5 on ep2, ep3
    assert a.join().error is None and a.result == 2
    b_cleanup.release()  # B deletes g2, now live on ep2 and ep3, and their records with it
    assert b.join().error is None and b.result == 5

    final = monitor.observe()
    assert final.values[names[0]] == values_of(env, 5)[names[0]]
    assert final.values[names[1]] == final.values[names[2]] == ()  # I1 broken: empty endpoints
    seen_empty = [e for e in monitor.emptied() if " at test/" not in e]  # by the enactors' steps
    assert seen_empty == [f"{names[1]} at B/cleanup.after", f"{names[2]} at B/cleanup.after"]
    # I2 broken: ep2 and ep3 went back from g5 to g2 while g5 was the newest plan.
    assert [e.split(":")[0] for e in monitor.pointer_went_down()] == names[1:]
    # Step 7: the store says g5 is applied, ep2 and ep3 are empty and still point at g2, a plan
    # that no longer exists.
    assert env.store.state(env.zone).applied_generation == 5
    assert env.store.generations(env.zone) == [3, 4, 5]
    pointers = read_pointers(env.backend.list_record_sets(env.zone_id), names)
    assert pointers == {names[0]: 5, names[1]: 2, names[2]: 2}


# ---------------------------------------------------------------------- the guarded applier

MID_APPLY = ("batch.before", 2)  # between A's two batches, after renewing its lease
AFTER_CHECK = ("fence.checked", None)  # right after A's freshness check, before any write


@dataclass
class Replay:
    """What happened in one replay of the race with guarded enactors."""

    env: Env
    monitor: Monitor
    a: Actor  # finished
    b_result: ApplyResult
    b_deleted: list[int]
    before_a_resumed: bytes  # the zone as B left it


def replay_guarded(endpoint: str, stall_at: tuple[str, int | None]) -> Replay:
    """g1 live (applied by B); A picks g2 and stalls at `stall_at` past its lease; the planner
    publishes g3..g5; B applies g5 and cleans up; A resumes and runs to its end."""
    env = make_env(endpoint, options=OPTIONS)
    monitor = Monitor(env, fqdns(env))

    publish(env)
    first = Actor("B", guarded_round(env, "B", monitor)).join()
    assert first.error is None and first.result[0].outcome == "applied" and env.live() == 1

    publish(env)  # g2, picked by A
    checkpoint, index = stall_at
    a_stall = Gate(checkpoint, lambda ctx: index is None or ctx.get("index") == index)
    a = Actor("A", guarded_round(env, "A", monitor, a_stall))
    assert a_stall.wait()["generation"] == 2
    if index == 2:
        canary = content(env.zone, 2)[0]
        assert env.sets()[canary.key] == canary  # ep1 already holds g2
        fence = env.fence()
        assert fence is not None and (fence.generation, fence.done) == (2, False)

    [publish(env) for _ in range(3)]  # g3..g5
    env.clock.advance(OPTIONS.lease_ttl + 1)  # A stalled past its lease: B may take over
    b = Actor("B", guarded_round(env, "B", monitor)).join()
    assert b.error is None, b.error
    b_result, deleted = b.result
    assert b_result.outcome == "applied" and b_result.generation == 5 and env.live() == 5

    before = env.snapshot()
    a_stall.release()
    a.join()
    return Replay(env, monitor, a, b_result, deleted, before)


@pytest.mark.parametrize(
    ("stall_at", "ends_with"),
    [
        # Its lease renewed, only Route 53's check of the fence inside the batch can stop it.
        (MID_APPLY, StaleGeneration),
        # Its lease renewal before the first batch finds B's epoch: fenced by the lease.
        (AFTER_CHECK, FenceLost),
    ],
    ids=["mid-apply", "after-freshness-check"],
)
def test_guarded_applier_holds_every_invariant_on_strict(
    localstack_strict: str, stall_at: tuple[str, int | None], ends_with: type[Exception]
) -> None:
    r = replay_guarded(localstack_strict, stall_at)
    env, monitor, a = r.env, r.monitor, r.a
    assert r.b_deleted == [1, 2]  # neither live nor the last known good: g5 is both

    assert isinstance(a.error, ends_with), a.error
    assert "\n" not in str(a.error)
    if isinstance(a.error, StaleGeneration):
        assert (a.error.ours, a.error.live) == (2, 5)
    assert env.snapshot() == r.before_a_resumed  # I5: A's rejected attempt changed nothing

    final = monitor.observe()
    fence = env.fence()
    assert final.fence == 5 and fence is not None and fence.done
    assert final.values == values_of(env, 5)  # I4: the newest plan is live everywhere
    assert monitor.emptied() == []  # I1: no endpoint was ever seen empty
    assert monitor.fence_went_down() == []  # I2: the live generation never went down
    state = env.store.state(env.zone)  # I3: clean-up kept the live plan and the last known good
    assert (state.applied_generation, state.last_known_good) == (5, 5)
    # A renews its lease before storing its plan, so a plan clean-up removed never comes back.
    assert env.store.generations(env.zone) == [3, 4, 5]
    assert len(monitor.seen) >= 20  # the monitor really watched every step

    # One more round of a healthy enactor: nothing to apply, the store is clean.
    c = Actor("C", guarded_round(env, "C", monitor)).join()
    assert c.error is None, c.error
    assert c.result[0].outcome == "noop" and env.store.generations(env.zone) == [3, 4, 5]
    assert monitor.emptied() == [] and monitor.fence_went_down() == []


def test_a_resumed_enactor_does_not_keep_a_lease_it_took_over(localstack_strict: str) -> None:
    """A stalled enactor that finds its lease taken gives back the one its renewal took, so the
    zone is free at once (it used to stay locked for the lease TTL)."""
    r = replay_guarded(localstack_strict, AFTER_CHECK)
    assert isinstance(r.a.error, FenceLost)
    r.env.store.acquire_lease(r.env.zone, "C", 60.0)  # at once, no waiting: the zone must be free


def test_stock_localstack_lets_the_stale_write_through(localstack_stock: str) -> None:
    """The gap: the mid-apply interleaving on stock LocalStack. A's second batch DELETEs the fence
    as A wrote it (g2, state=applying) while g5's fence is live; stock accepts a DELETE of values
    that are not live, so A's stale batch lands and the live generation goes back to 2. Only A's
    bookkeeping is fenced (its lease epoch is outdated), after Route 53 took the write."""
    r = replay_guarded(localstack_stock, MID_APPLY)
    env, monitor, a = r.env, r.monitor, r.a
    assert isinstance(a.error, FenceLost), a.error  # refused when recording, after the fact
    final = monitor.observe()
    assert final.fence == 2  # I2 broken: g2 is live again over g5
    assert monitor.fence_went_down() == ["fence 5 -> 2 at A/batch.after"]  # right after A's stale batch
    names = fqdns(env)
    want2, want5 = values_of(env, 2), values_of(env, 5)
    assert final.values == {names[0]: want5[names[0]], names[1]: want2[names[1]], names[2]: want2[names[2]]}
    assert env.store.state(env.zone).applied_generation == 5  # the store and Route 53 now disagree
