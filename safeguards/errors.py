"""The library's exceptions: one base, a few kinds that map 1:1 to CLI exit codes.

Every message is one line a person can act on: it names the zone, the record set and the
numbers involved. `problems` carries every problem found, not only the first.
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


class FenceLost(SafeguardsError):
    """A plan-store write was refused because our lease epoch is no longer current (another
    enactor took over the zone). Exit code 4, like a stale generation."""

    exit_code = 4


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


class ZoneNotFound(InvalidInput):
    """No hosted zone with that name exists on the backend."""
