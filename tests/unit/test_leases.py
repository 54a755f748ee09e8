"""The lease keeper's wait for a busy lease: its policy follows the options in force (it is built
once per options object, and again when the options are replaced)."""

from __future__ import annotations

import random

import pytest

from safeguards.applier import ApplyOptions
from safeguards.backends.strict import StrictRoute53
from safeguards.checkpoints import NO_CHECKPOINTS
from safeguards.clock import VirtualClock
from safeguards.errors import LeaseLost
from safeguards.events import Events
from safeguards.leases import LeaseKeeper
from safeguards.ports import Ports
from safeguards.retry import Backoff
from safeguards.stores.memory import MemoryPlanStore

ZONE = "example.com."


def _keeper(options: ApplyOptions) -> tuple[LeaseKeeper, MemoryPlanStore, VirtualClock]:
    clock = VirtualClock()
    store = MemoryPlanStore(clock=clock)
    ports = Ports(StrictRoute53(clock=clock), store, options, clock, random.Random(1), Events("e1", NO_CHECKPOINTS))
    return LeaseKeeper(ports), store, clock


def test_a_busy_lease_is_waited_for_as_long_as_the_options_in_force_say() -> None:
    opts = ApplyOptions(lease_wait=10.0, lease_ttl=1000.0, backoff=Backoff(base=0.5, cap=2.0))
    keeper, store, clock = _keeper(opts)
    store.acquire_lease(ZONE, "other", 1000.0)
    start = clock.now()
    with pytest.raises(LeaseLost), keeper.held(ZONE):
        pass
    first = clock.now() - start
    assert 10.0 <= first < 10.0 + 2.05
    keeper.ports.options = ApplyOptions(lease_wait=100.0, lease_ttl=1000.0, backoff=Backoff(base=0.5, cap=2.0))
    start = clock.now()
    with pytest.raises(LeaseLost), keeper.held(ZONE):
        pass
    assert 100.0 <= clock.now() - start < 100.0 + 2.05


def test_a_lease_freed_while_waiting_is_taken() -> None:
    keeper, store, clock = _keeper(ApplyOptions(lease_wait=60.0))
    store.acquire_lease(ZONE, "other", 5.0)
    with keeper.held(ZONE) as lease:
        assert lease.holder == "e1" and lease.epoch == 2
        assert clock.now() >= 1_700_000_005.0
    with keeper.held(ZONE) as again:  # no wait: ours was given back
        assert again.epoch == 2
