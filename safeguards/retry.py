"""Exponential backoff with full jitter, bounded (AWS architecture blog's "full jitter"):
retries of many enactors spread out instead of arriving together."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .clock import Clock
from .errors import Throttled

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delay before retry `attempt` (0-based) is uniform in [0, min(cap, base * 2**attempt)]."""

    base: float = 0.2
    cap: float = 20.0
    max_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.base * (2**attempt)))


def call_with_retries(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    clock: Clock,
    rng: random.Random,
    retry_on: tuple[type[BaseException], ...] = (Throttled,),
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call `fn`; on a retryable error wait (full jitter) and call again, at most
    `backoff.max_attempts` times in all; the last error propagates."""
    attempt = 0
    while True:
        try:
            return fn()
        except retry_on as exc:
            attempt += 1
            if attempt >= backoff.max_attempts:
                raise
            wait = backoff.delay(attempt - 1, rng)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            clock.sleep(wait)
