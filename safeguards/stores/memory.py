"""An in-memory plan store with exactly `SqlitePlanStore`'s semantics, for the race harness: the
explorer runs a world per schedule, and a SQLite database per world (schema, transactions, a
JSON parse per `get_plan`) cost more than the code under test. One process, no persistence;
every method is atomic under one lock, like one SQLite transaction.

Each method mirrors the SQL of `safeguards.stores.sqlite` (same conditions, same errors, same
messages); tests/race/test_memory_store.py runs random operation sequences on both and compares
every answer. Leases are all this process's, so a holder is never "provably dead" here.
`fork()` copies the store cheaply (plans are immutable and shared).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import InvalidInput, LeaseLost
from ..plan import Plan, plan_from_json
from ..planstore import Lease, ZoneState, scope

_MAX = 2**63 - 1


class _Stored:
    __slots__ = ("checksum", "pinned", "plan")

    def __init__(self, plan: Plan, pinned: int | None = None) -> None:
        self.plan = plan
        self.checksum = plan.checksum
        self.pinned = pinned


class _State:
    __slots__ = (
        "applied_checksum",
        "applied_generation",
        "circuit_open",
        "circuit_reason",
        "consecutive_failures",
        "last_known_good",
        "next_generation",
    )

    def __init__(self) -> None:
        self.next_generation = 1
        self.applied_generation: int | None = None
        self.applied_checksum: str | None = None
        self.last_known_good: int | None = None
        self.circuit_open = False
        self.circuit_reason = ""
        self.consecutive_failures = 0

    def copy(self) -> _State:
        other = _State.__new__(_State)
        for name in _State.__slots__:
            setattr(other, name, getattr(self, name))
        return other


#: Plans read back from their JSON, by what the JSON holds (see `_read_back`); this process's.
_READ_BACK: dict[tuple[str, str, int, str, str | None], Plan] = {}
_READ_BACK_LIMIT = 4096


def _read_back(plan: Plan) -> Plan:
    """`plan_from_json(plan.to_json())`, kept: the JSON is the canonical content (which the
    checksum names), the generation, the checksum and the signature, so plans equal in those
    read back as equal plans, and an immutable one can be shared (a harness stores the same
    plans in thousands of worlds)."""
    key = (plan.zone, plan.owner, plan.generation, plan.checksum, plan.signature)
    stored = _READ_BACK.get(key)
    if stored is None:
        stored = plan_from_json(plan.to_json())
        if len(_READ_BACK) >= _READ_BACK_LIMIT:
            _READ_BACK.clear()
        _READ_BACK[key] = stored
    return stored


def _same(plans: dict[str, dict[int, _Stored]], zone: str, generation: int, plan: Plan) -> Plan:
    row = plans.get(zone, {}).get(generation)
    return row.plan if row is not None and row.checksum == plan.checksum else plan


class MemoryPlanStore:
    """`PlanStore` in memory. Thread-safe (one lock); one process."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._plans: dict[str, dict[int, _Stored]] = {}
        self._states: dict[str, _State] = {}
        self._leases: dict[str, Lease] = {}

    def fork(self, *, clock: Clock | None = None) -> MemoryPlanStore:
        """An independent copy (on `clock`, default this store's clock)."""
        other = MemoryPlanStore(clock=clock or self.clock)
        with self._lock:
            other._plans = {
                z: {g: _Stored(s.plan, s.pinned) for g, s in plans.items()} for z, plans in self._plans.items()
            }
            other._states = {z: st.copy() for z, st in self._states.items()}
            other._leases = dict(self._leases)
        return other

    def memo_state(self) -> tuple[Any, ...]:
        """Everything this store's answers from now on depend on, as a hashable value (for a
        harness that reuses a deterministic run's result per starting state): each plan by
        generation, checksum, signature and pin (plans are immutable and a checksum names their
        content), the bookkeeping and the leases."""
        with self._lock:
            plans = tuple(
                (z, tuple((g, s.checksum, s.plan.signature, s.pinned) for g, s in rows.items()))
                for z, rows in self._plans.items()
            )
            states = tuple((z, tuple(getattr(st, n) for n in _State.__slots__)) for z, st in self._states.items())
            return (plans, states, tuple(self._leases.items()))

    def memo_delta(self) -> tuple[Any, ...]:
        """The whole state, to be put back with `memo_apply` on a store whose `memo_state` was
        equal to this one's before the run (plans and leases are immutable: shared)."""
        with self._lock:
            plans = {z: {g: (s.plan, s.pinned) for g, s in rows.items()} for z, rows in self._plans.items()}
            return (plans, {z: st.copy() for z, st in self._states.items()}, dict(self._leases))

    def memo_apply(self, delta: tuple[Any, ...]) -> None:
        """Put back a `memo_delta`. A plan stored before keeps its object (`get_plan` returns
        the same object every time); its content is the delta's, as the states were equal."""
        plans, states, leases = delta
        with self._lock:
            before = self._plans
            self._plans = {
                z: {g: _Stored(_same(before, z, g, plan), pinned) for g, (plan, pinned) in rows.items()}
                for z, rows in plans.items()
            }
            self._states = {z: st.copy() for z, st in states.items()}
            self._leases = dict(leases)

    def _ensure_zone(self, zone: str) -> _State:
        st = self._states.get(zone)
        if st is None:
            st = self._states[zone] = _State()
        return st

    # ------------------------------------------------------------------ plans

    def allocate_generation(self, zone: str) -> int:
        """Next free generation (above every stored one), reserved atomically."""
        with self._lock:
            st = self._ensure_zone(zone)
            top = max(self._plans.get(zone, {}), default=0)
            gen = max(st.next_generation, top + 1)
            st.next_generation = gen + 1
            return gen

    def put_plan(self, plan: Plan) -> bool:
        """Store `plan` unless its generation is taken (same content: False; other: InvalidInput)."""
        key = scope(plan.zone, plan.owner)
        with self._lock:
            st = self._ensure_zone(key)
            plans = self._plans.setdefault(key, {})
            row = plans.get(plan.generation)
            if row is not None:
                if row.checksum == plan.checksum:
                    return False
                raise InvalidInput(
                    f"{plan.zone}: generation {plan.generation} is already stored with other content "
                    f"(checksum {row.checksum[:12]}…, ours {plan.checksum[:12]}…); generations are never reused"
                )
            # Stored as SQLite stores it: what `get_plan` returns is the plan read back from its JSON.
            plans[plan.generation] = _Stored(_read_back(plan))
            st.next_generation = max(st.next_generation, plan.generation + 1)
            return True

    def get_plan(self, zone: str, generation: int) -> Plan | None:
        """The stored plan, or None (plans are immutable: the same object every time)."""
        with self._lock:
            row = self._plans.get(zone, {}).get(generation)
        return row.plan if row is not None else None

    def generations(self, zone: str) -> list[int]:
        """Stored generations, ascending."""
        with self._lock:
            return sorted(self._plans.get(zone, ()))

    def kept(self, zone: str) -> tuple[Collection[int], int | None]:
        """The generations stored (a live view: read it at once) and the last known good: what
        the race harness's I3 check reads after every store write, without sorting a list or
        building a `ZoneState`."""
        with self._lock:
            st = self._states.get(zone)
            return self._plans.get(zone, {}).keys(), st.last_known_good if st is not None else None

    def delete_plan(self, zone: str, generation: int, lease: Lease, *, pinned_below: int | None = None) -> bool:
        """Delete one plan if `lease` is still current, the plan is not the last known good and
        (with `pinned_below`) no rollback pinned it at or above that generation."""
        with self._lock:
            if not self._holds(lease):
                return False
            plans = self._plans.get(zone)
            row = plans.get(generation) if plans is not None else None
            if row is None or plans is None:
                return False
            st = self._states.get(zone)
            if st is not None and st.last_known_good == generation:
                return False
            if row.pinned is not None and row.pinned >= (pinned_below if pinned_below is not None else _MAX):
                return False
            del plans[generation]
            return True

    def pin_plan(self, zone: str, generation: int, under: int) -> bool:
        """Pin a plan as rollback content under generation `under` (pins only rise)."""
        with self._lock:
            row = self._plans.get(zone, {}).get(generation)
            if row is None:
                return False
            row.pinned = max(row.pinned or 0, under)
            return True

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, zone: str, holder: str, ttl_seconds: float) -> Lease:
        """Take or renew the zone's lease; a new holder gets epoch + 1 (every holder is in this
        process, so none is provably dead: an unexpired lease is waited out)."""
        now = self.clock.now()
        with self._lock:
            row = self._leases.get(zone)
            if row is None:
                epoch = 1
            elif row.holder == holder:
                if row.expires_at == now + ttl_seconds:
                    return row  # renewed at the same instant (virtual time): that very lease
                epoch = row.epoch
            elif row.expires_at <= now:
                epoch = row.epoch + 1
            else:
                raise LeaseLost(
                    f"{zone}: lease held by {row.holder} (epoch {row.epoch}) for {row.expires_at - now:.0f} s more"
                )
            lease = self._leases[zone] = Lease(zone, holder, epoch, now + ttl_seconds)
            return lease

    def release_lease(self, lease: Lease) -> None:
        """Expire our lease now (the epoch stays, so the next holder still gets a higher one)."""
        with self._lock:
            row = self._leases.get(lease.zone)
            if row is not None and row.holder == lease.holder and row.epoch == lease.epoch:
                self._leases[lease.zone] = Lease(row.zone, row.holder, row.epoch, 0.0)

    def _holds(self, lease: Lease) -> bool:
        row = self._leases.get(lease.zone)
        return row is not None and row.holder == lease.holder and row.epoch == lease.epoch

    # ------------------------------------------------------------------ zone state

    def state(self, zone: str) -> ZoneState:
        """Bookkeeping for `zone`."""
        with self._lock:
            st = self._states.get(zone)
            if st is None:
                return ZoneState(zone)
            return ZoneState(
                zone,
                st.applied_generation,
                st.applied_checksum,
                st.last_known_good,
                st.circuit_open,
                st.circuit_reason,
                st.consecutive_failures,
            )

    def record_applied(self, zone: str, generation: int, checksum: str, lease: Lease, *, known_good: bool) -> None:
        """Record a finished apply under `lease`; never lowers the applied generation."""
        with self._lock:
            if not self._holds(lease):
                raise LeaseLost(f"{zone}: lease epoch {lease.epoch} of {lease.holder} is no longer current")
            st = self._ensure_zone(zone)
            if st.applied_generation is None or st.applied_generation < generation:
                st.applied_generation, st.applied_checksum = generation, checksum
            if known_good and (st.last_known_good is None or st.last_known_good < generation):
                st.last_known_good = generation

    def record_failure(self, zone: str, reason: str, *, threshold: int) -> ZoneState:
        """Count a failure; open the circuit at `threshold` consecutive failures."""
        with self._lock:
            st = self._ensure_zone(zone)
            st.consecutive_failures += 1
            st.circuit_reason = reason
            if st.consecutive_failures >= threshold:
                st.circuit_open = True
        return self.state(zone)

    def record_success(self, zone: str) -> None:
        """Reset the consecutive-failure count (not an open circuit)."""
        with self._lock:
            st = self._states.get(zone)
            if st is not None and not st.circuit_open:
                st.consecutive_failures = 0

    def reset_circuit(self, zone: str) -> None:
        """Close the circuit."""
        with self._lock:
            st = self._ensure_zone(zone)
            st.circuit_open, st.consecutive_failures, st.circuit_reason = False, 0, ""

    def close(self) -> None:
        """Nothing to close."""
