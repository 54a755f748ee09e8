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

#: Where a ListResourceRecordSets page starts: (name, type, set identifier); type and identifier
#: may be None (start at the name's first set).
PageStart = tuple[str, "str | None", "str | None"]


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


@runtime_checkable
class RangedListing(Protocol):
    """Optional: one ListResourceRecordSets page from anywhere in the zone (StartRecordName,
    StartRecordType, StartRecordIdentifier, MaxItems). A backend that has it lets the enactor read
    only the names a decision or a read-back needs (`Ports.read_names`); one without it is read
    whole, as before."""

    def list_record_sets_page(
        self, zone_id: str, start: PageStart | None = None, max_items: int = 300
    ) -> tuple[list[RecordSet], PageStart | None]:
        """The sets of one page in Route 53's listing order, starting at `start` (None: the first
        set of the zone), and where the next page starts (None: the zone ends there). One request."""
        ...
