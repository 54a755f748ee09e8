"""The plan store interface: plans by generation, the zone's applied state, leases with
fencing epochs, and the circuit breaker. Every write is conditional in the store itself.

Implementations: `safeguards.stores.sqlite.SqlitePlanStore` (embedded default) and
`safeguards.stores.dynamodb.DynamoPlanStore` (boto3; AWS, LocalStack, moto).
"""

from __future__ import annotations

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
    """Plans, zone state, leases. All methods take canonical zone names."""

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

    def delete_plan(self, zone: str, generation: int, lease: Lease) -> bool:
        """Delete one plan, conditioned on `lease` still being current and on the plan not
        being the recorded last known good. False if the condition failed."""
        ...

    def acquire_lease(self, zone: str, holder: str, ttl_seconds: float) -> Lease:
        """Take (or renew, for the same holder) the zone's lease. A new holder gets
        epoch + 1. Raises FenceLost if another holder's lease has not expired."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up early (conditional on it still being ours)."""
        ...

    def state(self, zone: str) -> ZoneState:
        """Bookkeeping for `zone` (a default ZoneState if none)."""
        ...

    def record_applied(self, zone: str, generation: int, checksum: str, lease: Lease, *, known_good: bool) -> None:
        """Record a finished apply, conditioned on `lease` (FenceLost otherwise). Never lowers
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
