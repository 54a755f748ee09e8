"""What every part of the enactor shares: the backend, the plan store, the options, the clock and
random source, the event channel, and Route 53 reads with retries. One value, passed once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from .backend import Route53Backend
from .clock import Clock
from .events import Events
from .fence import ZoneView
from .plan import DEFAULT_OWNER
from .planstore import PlanStore

if TYPE_CHECKING:
    from .applier import ApplyOptions

T = TypeVar("T")


@dataclass
class Ports:
    """The enactor's side effects, in one place."""

    backend: Route53Backend
    store: PlanStore
    options: ApplyOptions
    clock: Clock
    rng: random.Random
    events: Events

    @property
    def enactor(self) -> str:
        return self.events.enactor

    def call(self, fn: Callable[[], T], zone: str = "") -> T:
        """A Route 53 call under the backoff policy: retryable errors (throttling, 5xx,
        PriorRequestNotComplete) are retried with full jitter, logged as they happen."""
        return self.options.backoff.policy().call(
            fn,
            clock=self.clock,
            rng=self.rng,
            on_retry=lambda n, exc, wait: self.events("retry", zone, attempt=n, error=type(exc).__name__, wait=wait),
        )

    def read(self, zone_id: str, zone: str, owner: str = DEFAULT_OWNER) -> ZoneView:
        """The zone as one read sees it, for decisions of `owner`."""
        return ZoneView.of(zone, self.call(lambda: self.backend.list_record_sets(zone_id), zone), owner)

    def zone_id(self, zone: str, *, create: bool = False) -> str:
        return self.call(lambda: self.backend.resolve_zone(zone, create=create), zone)
