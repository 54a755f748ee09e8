"""The enactor's lease on a zone: taken before writing (waiting, with jitter, at most
`lease_wait`), renewed before every batch and while waiting for INSYNC, given back at the end.

Safety never rests on the lease (every write is a compare-and-set on the fence); it keeps
enactors from stepping on each other's feet and fences plan-store writes by its epoch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import LeaseLost, SafeguardsError
from .planstore import Lease
from .ports import Ports
from .retry import FullJitter, RetryPolicy, stop_after_delay

if TYPE_CHECKING:
    from .applier import ApplyOptions


class LeaseKeeper:
    """Takes, renews and gives back one enactor's leases."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        # The waiting policy and the options it was built from: a policy is immutable and keeps
        # no state between calls, so it is built once per options object, not once per acquire.
        self._policy: tuple[ApplyOptions, RetryPolicy] | None = None

    @contextlib.contextmanager
    def held(self, zone: str) -> Iterator[Lease]:
        """The zone's lease for the duration of the block (a placeholder when leases are off)."""
        p = self.ports
        if not p.options.use_lease:
            yield Lease(zone, p.enactor, 0, float("inf"))
            return
        lease = self._acquire(zone)
        try:
            yield lease
        finally:
            # Lost already? Then the next holder's epoch fences us out anyway.
            with contextlib.suppress(SafeguardsError):
                p.store.release_lease(lease)

    def _acquire(self, zone: str) -> Lease:
        p = self.ports
        cached = self._policy
        if cached is None or cached[0] is not p.options:
            cached = self._policy = (p.options, _waiting(p.options))
        # Looked up once for every attempt of this wait (a busy lease is asked for again and again).
        acquire, enactor, ttl = p.store.acquire_lease, p.enactor, p.options.lease_ttl
        return cached[1].call(lambda: acquire(zone, enactor, ttl), clock=p.clock, rng=p.rng)

    def renew(self, lease: Lease, generation: int, where: str) -> None:
        """Extend our lease; if another enactor held it in between, stop (and give back the one
        the renewal just took, so nobody waits out its TTL)."""
        p = self.ports
        if not p.options.use_lease:
            return
        renewed = p.store.acquire_lease(lease.zone, p.enactor, p.options.lease_ttl)
        if renewed.epoch != lease.epoch:
            with contextlib.suppress(SafeguardsError):
                p.store.release_lease(renewed)
            raise LeaseLost(
                f"{lease.zone}: lease lost while applying generation {generation} (epoch {lease.epoch} "
                f"became {renewed.epoch}); stopping {where}"
            )


def _waiting(options: ApplyOptions) -> RetryPolicy:
    """How long and how often to ask for a busy lease: up to `lease_wait`, with jitter."""
    b = options.backoff
    return RetryPolicy(
        stop=stop_after_delay(options.lease_wait),
        wait=FullJitter(b.base, b.cap, extra=0.05, max_exponent=6),
        retry_if=_lease_busy,
    )


def _lease_busy(exc: BaseException) -> bool:
    return isinstance(exc, LeaseLost)
