"""The zone's fence record and the per-name ownership markers, as TXT record sets.

The fence (`_dnssg-fence.<zone>`) holds the generation and checksum of the plan being or last
applied, the owner and the enactor that wrote it, and a sequence number bumped by every batch.
Every batch DELETEs the fence exactly as read and CREATEs its successor, so Route 53 rejects a
batch built on a stale read: the check happens in the store, at write time. One fence per zone
costs two records per batch, not per name, so the guard adds no API calls.

Ownership markers (`_dnssg.<name>`) say which owner manages a name. They change only when a
name is created, adopted or retired, never on updates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .records import RecordSet, fence_name, owner_name

FENCE_TTL = 60
_VERSION = "dnssg1"


@dataclass(frozen=True, slots=True)
class Fence:
    """The parsed fence: what generation is live (or being applied) on the zone."""

    generation: int
    checksum: str
    owner: str
    writer: str
    seq: int
    done: bool

    def render(self, zone: str) -> RecordSet:
        """The TXT record set that stores this fence."""
        text = (
            f"v={_VERSION} gen={self.generation} sum={self.checksum} owner={self.owner} "
            f"by={self.writer} seq={self.seq} state={'done' if self.done else 'applying'}"
        )
        return RecordSet(fence_name(zone), "TXT", FENCE_TTL, (f'"{text}"',))


def parse_fence(rrset: RecordSet | None) -> Fence | None:
    """Fence from its record set; None when absent or not ours (a foreign value is never
    trusted as a generation)."""
    if rrset is None or rrset.type != "TXT" or len(rrset.values) != 1:
        return None
    fields = dict(part.split("=", 1) for part in rrset.values[0].strip('"').split() if "=" in part)
    if fields.get("v") != _VERSION:
        return None
    try:
        return Fence(
            generation=int(fields["gen"]),
            checksum=fields["sum"],
            owner=fields["owner"],
            writer=fields["by"],
            seq=int(fields["seq"]),
            done=fields.get("state") == "done",
        )
    except (KeyError, ValueError):
        return None


def find_fence(observed: Iterable[RecordSet], zone: str) -> RecordSet | None:
    """The fence record set among `observed`, if any."""
    name = fence_name(zone)
    for r in observed:
        if r.name == name and r.type == "TXT":
            return r
    return None


def marker(name: str, owner: str) -> RecordSet:
    """The ownership marker record set of `name`."""
    return RecordSet(owner_name(name), "TXT", FENCE_TTL, (f'"v={_VERSION} owner={owner}"',))


def marker_owners(observed: Iterable[RecordSet]) -> dict[str, str]:
    """Managed name → owner, read from the ownership markers among `observed`."""
    owners: dict[str, str] = {}
    prefix = owner_name("")
    for r in observed:
        if r.type == "TXT" and r.name.startswith(prefix) and len(r.values) == 1:
            fields = dict(p.split("=", 1) for p in r.values[0].strip('"').split() if "=" in p)
            if fields.get("v") == _VERSION and "owner" in fields:
                owners[r.name[len(prefix) :]] = fields["owner"]
    return owners
