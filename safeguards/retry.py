"""Retry policies as small composable values (after tenacity's stop/wait): when to stop, how long
to wait, and what to retry, bound to an injected clock and random source.

    RetryPolicy(stop=stop_after_attempt(8) | stop_after_delay(60), wait=FullJitter(0.2, 20.0))

Waits are exponential backoff with full jitter (AWS architecture blog's "full jitter"): retries of
many enactors spread out instead of arriving together. What is retried is decided by the error
itself (`BackendError.retryable`), the one source of truth; loops that poll rather than catch
(INSYNC, a lagging read, a busy lease) use `RetryPolicy.poll` with the same stop and wait values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .clock import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class RetryState:
    """Where a retry loop is: attempts made so far and seconds since the first."""

    attempt: int
    elapsed: float


class Stop(Protocol):
    def __call__(self, state: RetryState) -> bool: ...


@dataclass(frozen=True)
class _AnyStop:
    parts: tuple[Stop, ...]

    def __call__(self, state: RetryState) -> bool:
        return any(p(state) for p in self.parts)

    def __or__(self, other: Stop) -> _AnyStop:
        return _AnyStop((*self.parts, other))


@dataclass(frozen=True)
class stop_after_attempt:  # lower case: reads as a policy, like tenacity's
    """Stop once `attempts` attempts were made."""

    attempts: int

    def __call__(self, state: RetryState) -> bool:
        return state.attempt >= self.attempts

    def __or__(self, other: Stop) -> _AnyStop:
        return _AnyStop((self, other))


@dataclass(frozen=True)
class stop_after_delay:
    """Stop once `seconds` have passed since the first attempt."""

    seconds: float

    def __call__(self, state: RetryState) -> bool:
        return state.elapsed >= self.seconds

    def __or__(self, other: Stop) -> _AnyStop:
        return _AnyStop((self, other))


@dataclass(frozen=True)
class FullJitter:
    """Wait before retry `attempt` (0-based): uniform in [0, min(cap, base * 2**min(attempt,
    max_exponent))], then at least `floor`, plus `extra`."""

    base: float = 0.2
    cap: float = 20.0
    floor: float = 0.0
    extra: float = 0.0
    max_exponent: int = 62

    def __call__(self, attempt: int, rng: random.Random) -> float:
        wait = rng.uniform(0.0, min(self.cap, self.base * (2 ** min(attempt, self.max_exponent))))
        return max(self.floor, wait) + self.extra


def is_retryable(exc: BaseException) -> bool:
    """The error says whether trying again is safe (`BackendError.retryable`)."""
    return bool(getattr(exc, "retryable", False))


@dataclass(frozen=True)
class RetryPolicy:
    """When to stop, how long to wait, what to retry."""

    stop: Stop = field(default_factory=lambda: stop_after_attempt(8))
    wait: Callable[[int, random.Random], float] = field(default_factory=FullJitter)
    retry_if: Callable[[BaseException], bool] = is_retryable

    def call(
        self,
        fn: Callable[[], T],
        *,
        clock: Clock,
        rng: random.Random,
        on_retry: Callable[[int, BaseException, float], None] | None = None,
    ) -> T:
        """Call `fn`; on an error `retry_if` accepts, wait and call again until `stop`; the last
        error propagates."""
        now = clock.now  # looked up once per call (a clock behind a proxy pays per lookup)
        start = now()
        attempt = 0
        sleep: Callable[[float], None] | None = None
        while True:
            try:
                return fn()
            except BaseException as exc:
                attempt += 1
                if not self.retry_if(exc) or self.stop(RetryState(attempt, now() - start)):
                    raise
                wait = self.wait(attempt - 1, rng)
                if on_retry is not None:
                    on_retry(attempt, exc, wait)
                if sleep is None:
                    sleep = clock.sleep
                sleep(wait)

    def poll(
        self, fn: Callable[[], T], done: Callable[[T], bool], *, clock: Clock, rng: random.Random
    ) -> tuple[T, bool]:
        """Call `fn` until `done(result)` or `stop`, waiting between calls; (last result, done)."""
        start = clock.now()
        attempt = 0
        while True:
            result = fn()
            if done(result):
                return result, True
            attempt += 1
            if self.stop(RetryState(attempt, clock.now() - start)):
                return result, False
            clock.sleep(self.wait(attempt - 1, rng))


@dataclass(frozen=True)
class Backoff:
    """The applier's backoff settings: full jitter from `base` up to `cap`, at most
    `max_attempts` attempts in all. `policy()` is the `RetryPolicy` they describe."""

    base: float = 0.2
    cap: float = 20.0
    max_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        return FullJitter(self.base, self.cap)(attempt, rng)

    def policy(self, **changes: object) -> RetryPolicy:
        values: dict[str, object] = {
            "stop": stop_after_attempt(self.max_attempts),
            "wait": FullJitter(self.base, self.cap),
        }
        values.update(changes)
        return RetryPolicy(**values)  # type: ignore[arg-type]


def call_with_retries(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    clock: Clock,
    rng: random.Random,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call `fn` under `backoff`'s policy: retryable errors are retried with full jitter, at most
    `backoff.max_attempts` attempts in all; the last error propagates."""
    return backoff.policy().call(fn, clock=clock, rng=rng, on_retry=on_retry)
