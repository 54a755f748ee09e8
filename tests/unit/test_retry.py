"""Retry policies: stop rules compose, waits are full jitter within their bounds, only retryable
errors are retried, and the clock is the injected one (no real sleeping)."""

from __future__ import annotations

import random

import pytest

from safeguards.clock import VirtualClock
from safeguards.errors import BackendError, OutcomeUnknown, Throttled
from safeguards.retry import (
    Backoff,
    FullJitter,
    RetryPolicy,
    RetryState,
    call_with_retries,
    is_retryable,
    stop_after_attempt,
    stop_after_delay,
)


def flaky(n: int, exc: BaseException) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= n:
            raise exc
        return "ok"

    return calls, fn


def test_stops_compose_with_or() -> None:
    stop = stop_after_attempt(3) | stop_after_delay(10.0)
    assert not stop(RetryState(2, 9.9))
    assert stop(RetryState(3, 0.0)) and stop(RetryState(1, 10.0))


def test_full_jitter_stays_within_its_bounds() -> None:
    rng = random.Random(7)
    wait = FullJitter(base=0.5, cap=4.0)
    for attempt in range(12):
        assert 0.0 <= wait(attempt, rng) <= min(4.0, 0.5 * 2**attempt)
    floored = FullJitter(base=1.0, cap=1.0, floor=0.5, extra=0.05)
    assert all(0.55 <= floored(a, rng) <= 1.05 for a in range(20))


def test_only_retryable_errors_are_retried_and_the_last_one_propagates() -> None:
    clock = VirtualClock()
    calls, fn = flaky(2, Throttled("busy"))
    assert RetryPolicy(stop=stop_after_attempt(5)).call(fn, clock=clock, rng=random.Random(1)) == "ok"
    assert len(calls) == 3 and clock.now() > 0  # waited on the injected clock
    for error in (BackendError("no"), OutcomeUnknown("maybe")):
        calls, fn = flaky(5, error)
        with pytest.raises(type(error)):
            RetryPolicy().call(fn, clock=clock, rng=random.Random(1))
        assert len(calls) == 1 and not is_retryable(error)
    calls, fn = flaky(10, Throttled("busy"))
    with pytest.raises(Throttled):
        call_with_retries(fn, backoff=Backoff(max_attempts=4), clock=clock, rng=random.Random(1))
    assert len(calls) == 4


def test_poll_returns_the_last_result_and_whether_it_was_done() -> None:
    clock = VirtualClock()
    results = iter(["PENDING", "PENDING", "INSYNC"])
    policy = RetryPolicy(stop=stop_after_delay(100.0), wait=FullJitter(1.0, 1.0, floor=1.0))
    assert policy.poll(lambda: next(results), lambda s: s == "INSYNC", clock=clock, rng=random.Random(0)) == (
        "INSYNC",
        True,
    )
    never = RetryPolicy(stop=stop_after_attempt(3), wait=FullJitter(1.0, 1.0))
    assert never.poll(lambda: "PENDING", lambda s: s == "INSYNC", clock=clock, rng=random.Random(0)) == (
        "PENDING",
        False,
    )
