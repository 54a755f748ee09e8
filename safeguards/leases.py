"""The enactor's lease on a zone: taken before writing (waiting, with jitter, at most
`lease_wait`), renewed before every batch and while waiting for INSYNC, given back at the end.

Safety never rests on the lease (every write is a compare-and-set on the fence); it keeps
enactors from stepping on each other's feet and fences plan-store writes by its epoch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import LeaseLost, SafeguardsError
from .planstore import Lease
from .ports import Ports
from .retry import FullJitter, RetryPolicy, stop_after_delay


class LeaseKeeper:
    """Takes, renews and gives back one enactor's leases."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

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
        b = p.options.backoff
        policy = RetryPolicy(
            stop=stop_after_delay(p.options.lease_wait),
            wait=FullJitter(b.base, b.cap, extra=0.05, max_exponent=6),
            retry_if=lambda exc: isinstance(exc, LeaseLost),
        )
        return policy.call(
            lambda: p.store.acquire_lease(zone, p.enactor, p.options.lease_ttl), clock=p.clock, rng=p.rng
        )

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
