"""The library's exceptions: one base, a few kinds that map 1:1 to CLI exit codes.

Every message is one line a person can act on: it names the zone, the record set and the
numbers involved. `problems` carries every problem found, not only the first.

The tree, with each class's CLI exit code (README, "Exit codes"; `exit_code` on the class)::

    SafeguardsError ..................... 1  base; anything raised on purpose
    ├── InvalidInput .................... 2  bad plan, name, option, file, endpoint URL, configuration
    │   ├── PlanInvalid ................. 2  a plan failed validation (every problem listed)
    │   ├── ZoneNotFound ................ 2  no such hosted zone (never created implicitly)
    │   ├── ValueOutOfRange ............. 2  a number the stores cannot hold (generation >= 2**63)
    │   └── BatchInvalid ................ 2  Route 53 rejected a batch no other writer caused
    ├── GuardRefused .................... 3  a safety guard refused; nothing applied
    │   └── PlanIntegrityError .......... 3  stored plan altered, unsigned or wrongly signed
    ├── StaleGeneration ................. 4  a newer generation is live, or a decision's read moved
    │   └── Superseded .................. 4  a newer writer owns the zone: our pending step is dropped
    ├── LeaseLost (FenceLost) ........... 4  our lease epoch is no longer current
    ├── VerificationFailed .............. 5  a rollout gate failed; rolled back
    ├── CircuitOpen ..................... 6  repeated failures; a person must `reset`
    ├── BackendError .................... 1  a backend call failed
    │   ├── BatchRejected ............... 1  Route 53 rejected a whole batch
    │   ├── Throttled ................... 1  rate exceeded or 5xx (retryable)
    │   │   ├── PriorRequestNotComplete . 1  (retryable)
    │   │   └── StateLocked ............. 1  the local state's database stayed locked (retryable)
    │   ├── OutcomeUnknown .............. 1  the request may or may not have been applied
    │   ├── EndpointUnavailable ......... 1  cannot connect
    │   └── CredentialsMissing .......... 1  the endpoint refused the credentials
    │       └── CredentialsNotFound ..... 2  no credentials configured: nothing was tried
    ├── RestoreIncomplete ............... 8  a failed gate's restore did not complete: says what is live
    └── StateUnusable ................... 7  the local state (SQLite) cannot be used as it is
        ├── StateReadOnly ............... 7  directory or file not writable
        ├── StateCorrupt ................ 7  not a database, or damaged
        └── StateFull ................... 7  disk (or quota) full; the transaction was rolled back
"""

from __future__ import annotations

from collections.abc import Sequence


class SafeguardsError(Exception):
    """Base of every error the library raises on purpose. CLI exit code 1."""

    exit_code: int = 1

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems: tuple[str, ...] = tuple(problems) or (message,)

    def __str__(self) -> str:
        return self.message


class InvalidInput(SafeguardsError):
    """Bad input: a malformed plan, a name outside the zone, a missing file. Exit code 2."""

    exit_code = 2


class PlanInvalid(InvalidInput):
    """A plan failed validation; `problems` lists every problem, one line each."""


class GuardRefused(SafeguardsError):
    """A safety guard refused the change (never-empty, capacity, blast radius, ownership,
    checksum, health quorum). Nothing was applied. Exit code 3."""

    exit_code = 3

    def __init__(self, message: str, *, guard: str = "", problems: Sequence[str] = ()) -> None:
        super().__init__(message, problems=problems)
        self.guard = guard


class StaleGeneration(SafeguardsError):
    """A generation newer than (or equal to, with other content) ours is live. Exit code 4."""

    exit_code = 4

    def __init__(self, message: str, *, ours: int = 0, live: int = 0) -> None:
        super().__init__(message)
        self.ours = ours
        self.live = live


class VerificationFailed(SafeguardsError):
    """A rollout gate failed after a stage; completed stages were rolled back. Exit code 5."""

    exit_code = 5


class CircuitOpen(SafeguardsError):
    """The applier's circuit is open after repeated failures; a person must reset it. Exit code 6."""

    exit_code = 6


class LeaseLost(SafeguardsError):
    """A plan-store write was refused because our lease epoch is no longer current (another
    enactor took over the zone), or the lease is held by another live enactor. Exit code 4,
    like a stale generation."""

    exit_code = 4


#: The former name of `LeaseLost` (it never meant the fence record), kept for callers.
FenceLost = LeaseLost


class Superseded(StaleGeneration):
    """A newer writer owns the zone now: the fence we last wrote (or decided from) was replaced
    while we waited, so our pending step (a restore after a failed gate, a rollback decided
    earlier) is not carried out. Names the live generation. Exit code 4."""


class RestoreIncomplete(SafeguardsError):
    """A failed gate's automatic restore did not complete (or could not be verified); the
    message names exactly what is live. A person must look (`status`, then `repair`). Exit 8."""

    exit_code = 8


class PlanIntegrityError(GuardRefused):
    """A stored plan does not match its checksum, or is unsigned or wrongly signed where a
    signature is required: never applied, rolled back to or repaired from. Exit code 3."""

    def __init__(self, message: str) -> None:
        super().__init__(message, guard="integrity")


class BackendError(SafeguardsError):
    """A backend (Route 53, DynamoDB, SQLite) call failed."""

    retryable: bool = False


class BatchRejected(BackendError):
    """Route 53 rejected a whole change batch (InvalidChangeBatch): nothing of it was applied.

    For a compare-and-set batch this means something changed since we read it."""


class Throttled(BackendError):
    """Rate exceeded (Throttling) or a 5xx: nothing was applied; safe to retry with backoff."""

    retryable = True


class PriorRequestNotComplete(Throttled):
    """Route 53 is still processing an earlier change to this zone: safe to retry."""


class OutcomeUnknown(BackendError):
    """The request may or may not have been applied (timeout, connection reset, lost response).

    Read back before deciding anything."""


class EndpointUnavailable(BackendError):
    """The endpoint cannot be reached (connection refused, DNS failure)."""


class CredentialsMissing(BackendError):
    """No AWS credentials were found for a boto3 backend."""


class BatchInvalid(InvalidInput):
    """Route 53 rejected a batch that no other writer could have caused (the fence and every
    set it deletes are as read): the batch itself is invalid. Route 53's own message is kept;
    never retried. Exit code 2."""


class ZoneNotFound(InvalidInput):
    """No hosted zone with that name exists on the backend."""


class ValueOutOfRange(InvalidInput):
    """A number (generation, option) outside what the plan stores can hold: SQLite and DynamoDB
    keys are signed 64-bit, so generations stop at 2**63 - 1. Exit code 2."""


class CredentialsNotFound(CredentialsMissing):
    """No AWS credentials are configured for a boto3 backend: nothing was sent anywhere, the
    configuration is what needs fixing. Exit code 2 (invalid input)."""

    exit_code = 2


class StateLocked(Throttled):
    """The local state's SQLite database stayed locked by another process past the busy timeout.
    Nothing of this transaction was written; retry when the other process is done. Exit code 1."""


class StateUnusable(SafeguardsError):
    """The local state (the SQLite files of the embedded default or the SQLite plan store) cannot
    be used as it is; a person must fix the state directory. Nothing was written. Exit code 7."""

    exit_code = 7


class StateReadOnly(StateUnusable):
    """The state directory or one of its files is not writable (permissions, read-only mount)."""


class StateCorrupt(StateUnusable):
    """A state file is not a SQLite database or is damaged."""


class StateFull(StateUnusable):
    """The disk (or a quota) holding the state is full; the transaction was rolled back."""
