"""DynamoPlanStore's fencing against LocalStack's DynamoDB (moto, via the dns-safeguards plugin),
with threads released together by a barrier: the generation allocator, the lease race and the
refusal of an outdated lease epoch.

What LocalStack's moto guarantees under concurrent requests, as measured here: single-item
conditional writes (PutItem/UpdateItem with a condition, ADD) behave atomically. TransactWriteItems
does not: moto deep-copies the tables a transaction touches, applies its items one by one, and on
cancellation restores the copies, erasing whatever other requests wrote in between (and letting a
concurrent transaction see a half-applied one). `put_plan` is such a transaction, cancelled in the
ordinary flow (the allocator is already at the plan's generation), so concurrent planners can lose
plans and hand out a generation twice on LocalStack. That test asserts the property and reports
the gap as an xfail when it shows; AWS's DynamoDB serialises transactions.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

import pytest
from _support import WAIT_S, Env, make_env, plan, rs, tag

from safeguards.errors import FenceLost, InvalidInput
from safeguards.planstore import Lease

pytestmark = pytest.mark.dnssg_localstack

THREADS = 8


@pytest.fixture
def env(localstack_strict: str) -> Env:
    return make_env(localstack_strict, create_zone=False)


def together(n: int, fn: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run fn(0..n-1) in n threads released at once; ("ok", result) or ("error", exception) each."""
    barrier = threading.Barrier(n)
    out: list[tuple[str, Any]] = [("missing", None)] * n

    def run(i: int) -> None:
        barrier.wait(WAIT_S)
        try:
            out[i] = ("ok", fn(i))
        except Exception as exc:  # the test inspects it
            out[i] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return out


def test_allocate_generation_from_8_threads_is_distinct_and_dense(env: Env) -> None:
    zone = f"alloc-{tag()}.example."
    per_thread = 10
    results = together(THREADS, lambda i: [env.store.allocate_generation(zone) for _ in range(per_thread)])
    assert all(kind == "ok" for kind, _ in results), results
    got = [g for _, gens in results for g in gens]
    assert sorted(got) == list(range(1, THREADS * per_thread + 1))  # no duplicate, no gap
    for _, gens in results:
        assert gens == sorted(gens)  # each allocator sees its own numbers rise


def test_lease_race_has_exactly_one_winner(env: Env) -> None:
    for round_ in range(5):
        zone = f"lease-{round_}-{tag()}.example."
        results = together(THREADS, lambda i, zone=zone: env.store.acquire_lease(zone, f"e{i}", 60.0))
        winners = [r for kind, r in results if kind == "ok"]
        losers = [r for kind, r in results if kind == "error"]
        assert len(winners) == 1, results
        assert winners[0].epoch == 1
        assert len(losers) == THREADS - 1 and all(isinstance(e, FenceLost) for e in losers), losers
        assert all(f"held by {winners[0].holder} (epoch 1)" in str(e) for e in losers)

        # Expired: a second race to take it over, again one winner, with the next epoch.
        env.clock.advance(61)
        results = together(THREADS, lambda i, zone=zone: env.store.acquire_lease(zone, f"f{i}", 60.0))
        winners = [r for kind, r in results if kind == "ok"]
        assert len(winners) == 1 and winners[0].epoch == 2, results


def test_outdated_epoch_is_refused(env: Env) -> None:
    zone = f"fence-{tag()}.example."
    p1 = plan(zone, 1, rs(zone, "api", "192.0.2.1"))
    assert env.store.put_plan(p1)
    a = env.store.acquire_lease(zone, "A", 60.0)
    assert a.epoch == 1
    env.clock.advance(61)  # A stalls past its lease
    b = env.store.acquire_lease(zone, "B", 60.0)
    assert b.epoch == 2

    with pytest.raises(FenceLost, match=r"epoch 1 of A is no longer current \(B holds epoch 2\)"):
        env.store.record_applied(zone, 1, p1.checksum, a, known_good=True)
    assert env.store.state(zone).applied_generation is None
    assert env.store.delete_plan(zone, 1, a) is False
    assert env.store.generations(zone) == [1]
    # A forged lease with B's name but the old epoch is refused just the same.
    assert env.store.delete_plan(zone, 1, Lease(zone, "B", 1, a.expires_at)) is False

    env.store.release_lease(a)  # not A's any more: B's lease must stay
    with pytest.raises(FenceLost, match=r"held by B \(epoch 2\)"):
        env.store.acquire_lease(zone, "A", 60.0)

    env.store.record_applied(zone, 1, p1.checksum, b, known_good=True)
    assert (env.store.state(zone).applied_generation, env.store.state(zone).last_known_good) == (1, 1)
    env.store.release_lease(b)
    assert env.store.acquire_lease(zone, "A", 60.0).epoch == 3  # epochs only rise


def test_put_plan_never_reuses_a_generation(env: Env) -> None:
    zone = f"put-{tag()}.example."
    p = plan(zone, 1, rs(zone, "api", "192.0.2.1"))
    assert env.store.put_plan(p) is True
    assert env.store.put_plan(p) is False  # the same content again: idempotent
    with pytest.raises(InvalidInput, match="already stored with other content"):
        env.store.put_plan(plan(zone, 1, rs(zone, "api", "192.0.2.2")))
    assert env.store.allocate_generation(zone) == 2  # put_plan lifted the allocator


def test_concurrent_planners_get_distinct_generations_and_keep_their_plans(env: Env) -> None:
    """8 planners each allocate and store 5 plans at once. The property: every generation handed
    out once, every plan stored as put. On LocalStack's moto it breaks (see the module doc); the
    test then reports the figures as an expected failure instead of hiding the gap."""
    per_thread, rounds = 5, 4
    anomalies: list[str] = []
    for round_ in range(rounds):
        zone = f"planners-{round_}-{tag()}.example."

        def planner(i: int, zone: str = zone) -> list[tuple[int, str, bool | str]]:
            done = []
            for k in range(per_thread):
                gen = env.store.allocate_generation(zone)
                p = plan(zone, gen, rs(zone, "api", f"10.{i}.{k}.1"))
                try:
                    stored: bool | str = env.store.put_plan(p)
                except InvalidInput:
                    stored = "refused"
                done.append((gen, p.checksum, stored))
            return done

        results = together(THREADS, planner)
        assert all(kind == "ok" for kind, _ in results), results
        puts = [x for _, done in results for x in done]
        dup = sorted(g for g, n in collections.Counter(g for g, _, _ in puts).items() if n > 1)
        not_stored = [(g, s) for g, _, s in puts if s is not True]
        lost = [g for g, checksum, s in puts if s is True and _stored_checksum(env, zone, g) != checksum]
        if dup or not_stored or lost:
            anomalies.append(
                f"round {round_}: {len(puts)} allocations, duplicates {dup}, put_plan not True {not_stored}, "
                f"stored then lost or overwritten {lost}"
            )
            break  # one round is enough to show it
    if anomalies:
        pytest.xfail("LocalStack's moto DynamoDB: TransactWriteItems is not isolated; " + "; ".join(anomalies))


def _stored_checksum(env: Env, zone: str, generation: int) -> str | None:
    stored = env.store.get_plan(zone, generation)
    return stored.checksum if stored else None
