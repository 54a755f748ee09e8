"""Record sets and changes as Route 53 sees them: plain frozen values, no I/O.

A `RecordSet` is always canonical: lower-case FQDN with a trailing dot, values in Route 53's
wire form, sorted. Two sets are the same set when their `key` (name, type, set identifier) is
equal, and the same content when they compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SUPPORTED_TYPES: tuple[str, ...] = ("A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "NS")

#: Route 53's per-request limits (ChangeResourceRecordSets).
MAX_RECORDS_PER_BATCH = 1000
MAX_VALUE_CHARS_PER_BATCH = 32000
MAX_NAME_OCTETS = 255
MAX_LABEL_OCTETS = 63
MAX_TTL = 2147483647

Action = Literal["CREATE", "DELETE", "UPSERT"]
ChangeStatus = Literal["PENDING", "INSYNC"]

RecordKey = tuple[str, str, "str | None"]


def fqdn(name: str) -> str:
    """Lower-case `name` and give it exactly one trailing dot; decodes Route 53's octal escapes."""
    name = name.strip()
    if "\\" in name:
        name = _unescape_octal(name)
    name = name.lower().rstrip(".")
    return name + "."


def _unescape_octal(name: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(name):
        if name[i] == "\\" and i + 3 < len(name) + 0 and name[i + 1 : i + 4].isdigit():
            out.append(chr(int(name[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def in_zone(name: str, zone: str) -> bool:
    """True when FQDN `name` is `zone` itself or below it (both canonical)."""
    return name == zone or name.endswith("." + zone)


def relative(name: str, zone: str) -> str:
    """`name` relative to `zone`, "@" for the apex (both canonical)."""
    if name == zone:
        return "@"
    return name[: -(len(zone) + 1)]


@dataclass(frozen=True, slots=True, order=True)
class RecordSet:
    """One Route 53 resource record set, canonical (see module doc)."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]
    set_identifier: str | None = None
    weight: int | None = None

    @property
    def key(self) -> RecordKey:
        """Identity of the set in the zone: (name, type, set identifier)."""
        return (self.name, self.type, self.set_identifier)

    def value_chars(self) -> int:
        """Characters of record values, as Route 53 counts them against the 32,000 limit."""
        return sum(len(v) for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the one `status --json` prints)."""
        d: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
            "values": list(self.values),
        }
        if self.set_identifier is not None:
            d["set_identifier"] = self.set_identifier
            d["weight"] = self.weight
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecordSet:
        """Inverse of `to_dict`; values are sorted, the name made canonical."""
        return cls(
            name=fqdn(str(d["name"])),
            type=str(d["type"]).upper(),
            ttl=int(d["ttl"]),
            values=tuple(sorted(str(v) for v in d["values"])),
            set_identifier=d.get("set_identifier"),
            weight=None if d.get("weight") is None else int(d["weight"]),
        )

    def with_values(self, values: Iterable[str]) -> RecordSet:
        """A copy with other values (sorted)."""
        return RecordSet(self.name, self.type, self.ttl, tuple(sorted(values)), self.set_identifier, self.weight)


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a batch. We only ever emit CREATE and DELETE (a compare-and-set);
    UPSERT exists so the strict model can judge other writers' batches."""

    action: Action
    rrset: RecordSet

    def record_count(self) -> int:
        """Records this change counts against the 1,000 limit (UPSERT counts twice)."""
        n = len(self.rrset.values)
        return 2 * n if self.action == "UPSERT" else n

    def value_chars(self) -> int:
        """Value characters counted against the 32,000 limit (UPSERT counts twice)."""
        n = self.rrset.value_chars()
        return 2 * n if self.action == "UPSERT" else n


@dataclass(frozen=True, slots=True)
class ChangeInfo:
    """What Route 53 returns for a submitted batch, and what GetChange reports later."""

    id: str
    status: ChangeStatus
    submitted_at: float = 0.0
    comment: str = field(default="", compare=False)


#: The zone's fence record (TXT): generation, plan checksum and writer of the live plan.
#: Every batch we submit DELETEs it exactly as read and CREATEs its successor, so Route 53
#: itself rejects a batch built on a stale read.
FENCE_LABEL = "_dnssg-fence"
#: Per-name ownership marker (TXT) beside each name we manage: "_dnssg.<name>".
OWNER_LABEL = "_dnssg"
#: Octets a managed name must leave free so its ownership marker fits in 255.
OWNER_PREFIX_OCTETS = len(OWNER_LABEL) + 1


def fence_name(zone: str) -> str:
    """FQDN of the zone's fence record."""
    return f"{FENCE_LABEL}.{zone}"


def owner_name(name: str) -> str:
    """FQDN of the ownership marker of managed name `name`."""
    return f"{OWNER_LABEL}.{name}"


def is_reserved(name: str) -> bool:
    """True for names our guard records use; plans may not manage them."""
    return name.split(".", 1)[0].startswith(OWNER_LABEL)
