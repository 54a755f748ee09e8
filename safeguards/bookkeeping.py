"""The enactor's side of the plan store: verified reads of stored plans, storing a plan once its
guards passed, recording what was applied (fenced by the lease), and the circuit breaker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .errors import (
    BackendError,
    CircuitOpen,
    GuardRefused,
    InvalidInput,
    PlanIntegrityError,
    RestoreIncomplete,
    SafeguardsError,
    StaleGeneration,
    VerificationFailed,
)
from .plan import Plan, ensure_valid
from .planstore import Lease
from .ports import Ports
from .signing import verify_plan

T = TypeVar("T")


class Bookkeeping:
    """Plans and zone state in the plan store, as one enactor uses them."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def stored(self, zone: str, generation: int, *, checksum: str | None = None) -> Plan | None:
        """A stored plan, verified: its content must match the checksum stored with it (and the
        fence's, when given), obey every rule a plan file must, and carry a valid signature when
        this enactor has a key. Altered plans are refused, never used."""
        p = self.ports
        plan = p.store.get_plan(zone, generation)
        if plan is None:
            return None
        if plan.declared_checksum and plan.declared_checksum != plan.checksum:
            raise PlanIntegrityError(
                f"{zone}: stored generation {generation} does not match its checksum (stored "
                f"{plan.declared_checksum[:12]}…, content {plan.checksum[:12]}…): it was altered; refusing to use it"
            )
        if checksum is not None and checksum != plan.checksum:
            raise PlanIntegrityError(
                f"{zone}: stored generation {generation} is not the content the fence names (fence "
                f"{checksum[:12]}…, stored {plan.checksum[:12]}…); refusing to use it"
            )
        ensure_valid(plan)
        if p.options.signer is not None:
            verify_plan(plan, p.options.signer, where="plan store")
        return plan

    def store(self, plan: Plan) -> None:
        """Store `plan` (only once its guards passed, so a refused plan does not burn its number)."""
        try:
            self.ports.store.put_plan(plan)
        except InvalidInput as exc:
            # Another writer holds this generation number with other content: ours lost the race.
            raise StaleGeneration(str(exc), ours=plan.generation, live=plan.generation) from exc

    def record(self, plan: Plan, lease: Lease) -> None:
        """Record a finished apply, fenced by the lease epoch."""
        p = self.ports
        if p.options.use_lease:
            p.store.record_applied(lease.zone, plan.generation, plan.checksum, lease, known_good=True)
        p.events("store.recorded", plan.zone, plan.generation, plan.checksum)

    def check_circuit(self, zone: str) -> None:
        st = self.ports.store.state(zone)
        if st.circuit_open:
            raise CircuitOpen(
                f"{zone}: circuit open after {st.consecutive_failures} consecutive failures "
                f"(last: {st.circuit_reason}); run 'dns-safeguards reset --zone {zone}' once resolved"
            )

    def counted(self, zone: str, body: Callable[[], T]) -> T:
        """Run `body`; count guard refusals, failed gates and backend failures toward the circuit
        (a stale generation is not a failure: a newer plan is live)."""
        p = self.ports
        try:
            result = body()
        except StaleGeneration:
            raise
        except (GuardRefused, VerificationFailed, RestoreIncomplete, BackendError) as exc:
            try:
                st = p.store.record_failure(zone, str(exc), threshold=p.options.circuit_threshold)
            except SafeguardsError as store_exc:
                # The store may be down with everything else: the original error is the one to report.
                p.events("circuit.unrecorded", zone, reason=str(store_exc))
                raise exc from None
            if st.circuit_open:
                p.events("circuit.open", zone, reason=str(exc))
            raise
        p.store.record_success(zone)
        return result
