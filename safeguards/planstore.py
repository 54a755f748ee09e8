"""The plan store interface: plans by generation, the zone's applied state, leases with
fencing epochs, and the circuit breaker. Every write is conditional in the store itself.

Implementations: `safeguards.stores.sqlite.SqlitePlanStore` (embedded default) and
`safeguards.stores.dynamodb.DynamoPlanStore` (boto3; AWS, LocalStack, moto).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .plan import Plan


@dataclass(frozen=True)
class Lease:
    """Permission to enact a zone. `epoch` rises with every new holder: it is the fencing
    token every plan-store write is conditioned on."""

    zone: str
    holder: str
    epoch: int
    expires_at: float


@dataclass(frozen=True)
class ZoneState:
    """What the plan store records about a zone (Route 53's fence record is the truth for
    what is live; this is the enactors' bookkeeping)."""

    zone: str
    applied_generation: int | None = None
    applied_checksum: str | None = None
    last_known_good: int | None = None
    circuit_open: bool = False
    circuit_reason: str = ""
    consecutive_failures: int = 0


@runtime_checkable
class PlanStore(Protocol):
    """Plans, zone state, leases. Methods take a scope key (`scope(zone, owner)`: the canonical
    zone name for the default owner); `put_plan` derives it from the plan's zone and owner."""

    def allocate_generation(self, zone: str) -> int:
        """Next generation for `zone` (max stored + 1), reserved by a conditional write."""
        ...

    def put_plan(self, plan: Plan) -> bool:
        """Store `plan` if its generation is free (True). Same generation and checksum already
        stored: False (idempotent). Same generation, other content: InvalidInput."""
        ...

    def get_plan(self, zone: str, generation: int) -> Plan | None:
        """The stored plan, or None."""
        ...

    def generations(self, zone: str) -> list[int]:
        """Stored generations, ascending."""
        ...

    def delete_plan(self, zone: str, generation: int, lease: Lease, *, pinned_below: int | None = None) -> bool:
        """Delete one plan, conditioned on `lease` still being current, on the plan not being the
        recorded last known good and (with `pinned_below`) on the plan not pinned at or above
        that generation. False if a condition failed."""
        ...

    def pin_plan(self, zone: str, generation: int, under: int) -> bool:
        """Mark a plan as the content a rollback makes live under generation `under` (pins only
        rise), before the rollback writes: clean-up decided on an older read cannot delete it.
        False if the plan is gone."""
        ...

    def acquire_lease(self, zone: str, holder: str, ttl_seconds: float) -> Lease:
        """Take (or renew, for the same holder) the zone's lease. A new holder gets
        epoch + 1. Raises LeaseLost if another holder's lease has not expired and that holder's
        process is not provably dead (same host, process gone: taken over at once)."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up early (conditional on it still being ours)."""
        ...

    def state(self, zone: str) -> ZoneState:
        """Bookkeeping for `zone` (a default ZoneState if none)."""
        ...

    def record_applied(self, zone: str, generation: int, checksum: str, lease: Lease, *, known_good: bool) -> None:
        """Record a finished apply, conditioned on `lease` (LeaseLost otherwise). Never lowers
        applied_generation; sets last_known_good when `known_good`."""
        ...

    def record_failure(self, zone: str, reason: str, *, threshold: int) -> ZoneState:
        """Count a failure or refusal; open the circuit at `threshold` consecutive ones."""
        ...

    def record_success(self, zone: str) -> None:
        """Reset the consecutive-failure count (not an open circuit)."""
        ...

    def reset_circuit(self, zone: str) -> None:
        """Close the circuit (a person decided to)."""
        ...


#: The plan store keeps each owner of a zone apart: generations, leases, last known good, the
#: circuit and clean-up are per (zone, owner). The default owner keeps the bare zone as its key, so
#: stores written before shared zones existed are read as they are.
SCOPE_SEPARATOR = "#"


def scope(zone: str, owner: str) -> str:
    """The plan-store key of `owner`'s plans and state in `zone` (``zone`` or ``zone#owner``)."""
    from .plan import DEFAULT_OWNER

    return zone if owner == DEFAULT_OWNER else f"{zone}{SCOPE_SEPARATOR}{owner}"


def this_process() -> str:
    """``host:pid`` of the calling process, recorded with every lease it takes."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_dead(proc: str | None) -> bool:
    """True only when `proc` (``host:pid``) names a process on this host that no longer exists:
    its lease can be taken over at once instead of waiting out the TTL. Any doubt is False."""
    if not proc or ":" not in proc:
        return False
    host, _, pid_text = proc.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but is not ours to signal
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers signal 0; /proc says it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
