"""The narrow interface every Route 53 backend implements (like an httpx transport).

The applier only ever talks to a `Route53Backend`; whether that is AWS, LocalStack, moto or
the strict model is decided at the edge. Implementations map their failures to the library's
exceptions: `BatchRejected` (nothing applied), `Throttled` / `PriorRequestNotComplete`
(nothing applied, retry), `OutcomeUnknown` (maybe applied: read back), `EndpointUnavailable`,
`CredentialsMissing`, `ZoneNotFound`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .records import Change, ChangeInfo, RecordSet


@runtime_checkable
class Route53Backend(Protocol):
    """Read a zone's record sets, submit an all-or-nothing change batch, poll a change."""

    def resolve_zone(self, zone_name: str, *, create: bool = False) -> str:
        """Hosted zone id for canonical `zone_name`; create it when asked, else ZoneNotFound."""
        ...

    def list_record_sets(self, zone_id: str) -> list[RecordSet]:
        """Every record set of the zone (all pages), canonical."""
        ...

    def change_record_sets(self, zone_id: str, changes: Sequence[Change], comment: str = "") -> ChangeInfo:
        """Submit one batch; all of it applies or none (on a faithful backend)."""
        ...

    def get_change(self, change_id: str) -> ChangeInfo:
        """Current status of a submitted batch (PENDING, then INSYNC)."""
        ...
