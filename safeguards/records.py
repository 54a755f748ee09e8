"""Record sets and changes as Route 53 sees them: plain frozen values, no I/O.

A `RecordSet` is always canonical: lower-case FQDN with a trailing dot, values in Route 53's
wire form, sorted. Two sets are the same set when their `key` (name, type, set identifier) is
equal, and the same content when they compare equal.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

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
        if name[i] == "\\" and i + 4 <= len(name) and all(c in "01234567" for c in name[i + 1 : i + 4]):
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


#: Routing fields of a `RecordSet` beside `weight`, as (attribute, plan/JSON key). Each goes with a
#: set identifier (exactly one per set); `health_check_id` may sit on any set.
ROUTING_ATTRS: tuple[str, ...] = ("weight", "region", "failover", "geo", "geoproximity", "multivalue", "cidr")
#: The routing policy a routing attribute stands for.
POLICY_OF_ATTR: dict[str, str] = {
    "weight": "weighted",
    "region": "latency",
    "failover": "failover",
    "geo": "geolocation",
    "geoproximity": "geoproximity",
    "multivalue": "multivalue",
    "cidr": "cidr",
}
#: Prefix of the single value that stands for an alias target: ``ALIAS <zone-id> <dns-name> evaluate=<bool>``
#: (TTL 0). One value, so the guards count an alias as one answer.
ALIAS_PREFIX = "ALIAS "

Pairs = tuple[tuple[str, str], ...]


def alias_value(zone_id: str, dns_name: str, evaluate: bool) -> str:
    """The single value that stands for an alias target (DNS name canonical: lower-case, trailing dot)."""
    return f"{ALIAS_PREFIX}{zone_id} {fqdn(dns_name)} evaluate={'true' if evaluate else 'false'}"


def parse_alias(value: str) -> tuple[str, str, bool] | None:
    """(hosted zone id, DNS name, evaluate target health) of an alias value; None for other values.

    Raises ValueError for a value that starts like an alias but is malformed."""
    if not value.startswith(ALIAS_PREFIX):
        return None
    parts = value[len(ALIAS_PREFIX) :].split(" ")
    if len(parts) != 3 or parts[2] not in ("evaluate=true", "evaluate=false") or not parts[0] or not parts[1]:
        raise ValueError(f"malformed alias value {value!r}: expected 'ALIAS <zone-id> <dns-name> evaluate=true|false'")
    return parts[0], parts[1], parts[2] == "evaluate=true"


def _pairs(value: Any) -> Pairs | None:
    if value is None:
        return None
    return tuple(sorted((str(k), str(v)) for k, v in dict(value).items()))


class RecordSet(msgspec.Struct, frozen=True, order=True, gc=False):
    """One Route 53 resource record set, canonical (see module doc).

    Routing: `set_identifier` with exactly one of `weight` (0..255), `region` (latency),
    `failover` (PRIMARY/SECONDARY), `geo` (geolocation: pairs of ContinentCode/CountryCode/
    SubdivisionCode), `geoproximity` (pairs of AWSRegion/LocalZoneGroup/Coordinates.Latitude/
    Coordinates.Longitude/Bias), `multivalue` (True) or `cidr` (pairs CollectionId/LocationName);
    `health_check_id` on any set. An alias is one value `ALIAS <zone-id> <dns-name> evaluate=...`
    with TTL 0 (see `alias_target`).
    """

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]
    set_identifier: str | None = None
    weight: int | None = None
    region: str | None = None
    failover: str | None = None
    geo: Pairs | None = None
    geoproximity: Pairs | None = None
    multivalue: bool | None = None
    cidr: Pairs | None = None
    health_check_id: str | None = None

    if TYPE_CHECKING:

        @property
        def key(self) -> RecordKey:
            """Identity of the set in the zone: (name, type, set identifier)."""
            ...

    else:
        # A C-level getter: `key` is read for every set of every zone (by_key, diffs, guards).
        key = property(
            operator.attrgetter("name", "type", "set_identifier"),
            doc="Identity of the set in the zone: (name, type, set identifier).",
        )

    @property
    def policy(self) -> str:
        """Routing policy: simple, weighted, latency, failover, geolocation, geoproximity, multivalue or cidr."""
        for attr in ROUTING_ATTRS:
            if getattr(self, attr) is not None:
                return POLICY_OF_ATTR[attr]
        return "simple"

    @property
    def alias_target(self) -> tuple[str, str, bool] | None:
        """(hosted zone id, DNS name, evaluate target health) when the set is an alias."""
        return parse_alias(self.values[0]) if len(self.values) == 1 else None

    def routing_label(self) -> str:
        """Short routing description for people: `weighted blue w=10`, `failover a PRIMARY hc=...`, ''."""
        if self.set_identifier is None and self.health_check_id is None:
            return ""
        parts = [self.policy, self.set_identifier or ""]
        detail = {
            "weighted": f"w={self.weight}",
            "latency": f"region={self.region}",
            "failover": str(self.failover),
            "geolocation": ",".join(f"{k}={v}" for k, v in self.geo or ()),
            "geoproximity": ",".join(f"{k}={v}" for k, v in self.geoproximity or ()),
            "multivalue": "",
            "cidr": ",".join(f"{k}={v}" for k, v in self.cidr or ()),
            "simple": "",
        }[self.policy]
        parts.append(detail)
        if self.health_check_id is not None:
            parts.append(f"hc={self.health_check_id}")
        return " ".join(p for p in parts if p)

    def value_chars(self) -> int:
        """Characters of record values, as Route 53 counts them against the 32,000 limit."""
        return sum(len(v) for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the one `status --json` prints, and plan checksums hash).

        Simple and weighted sets keep exactly the keys they always had, so their checksums do not
        change; the other routing fields appear only when set."""
        d: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
            "values": list(self.values),
        }
        if self.set_identifier is not None:
            d["set_identifier"] = self.set_identifier
            if self.weight is not None or self.policy == "simple":
                d["weight"] = self.weight
        for attr in ("region", "failover", "multivalue", "health_check_id"):
            if getattr(self, attr) is not None:
                d[attr] = getattr(self, attr)
        for attr in ("geo", "geoproximity", "cidr"):
            if getattr(self, attr) is not None:
                d[attr] = dict(getattr(self, attr))
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
            region=d.get("region"),
            failover=d.get("failover"),
            geo=_pairs(d.get("geo")),
            geoproximity=_pairs(d.get("geoproximity")),
            multivalue=None if d.get("multivalue") is None else bool(d["multivalue"]),
            cidr=_pairs(d.get("cidr")),
            health_check_id=d.get("health_check_id"),
        )

    def with_values(self, values: Iterable[str]) -> RecordSet:
        """A copy with other values (sorted); every routing field kept."""
        return msgspec.structs.replace(self, values=tuple(sorted(values)))


# A record set is a msgspec Struct rather than a slotted dataclass: a zone read and a plan build
# 100,000s of them, and a Struct is built, compared, ordered and hashed in C (the dataclass's
# __init__, __eq__ and __lt__ run Python for every set: 5x the time), takes 16 bytes less, and is
# never tracked by the cyclic collector (it holds strings, numbers and tuples of them: no cycle).
# It still answers as the dataclass did: `dataclasses.fields`, `replace`, `asdict` and
# `is_dataclass` see the same fields, in the same order, with the same defaults.
@dataclass(frozen=True, order=True)
class _RecordSetFields:
    name: str
    type: str
    ttl: int
    values: tuple[str, ...]
    set_identifier: str | None = None
    weight: int | None = None
    region: str | None = None
    failover: str | None = None
    geo: Pairs | None = None
    geoproximity: Pairs | None = None
    multivalue: bool | None = None
    cidr: Pairs | None = None
    health_check_id: str | None = None


for _attr in ("__dataclass_fields__", "__dataclass_params__"):
    setattr(RecordSet, _attr, getattr(_RecordSetFields, _attr))
del _attr


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
    """True for names our guard records use (a first label starting with `_dnssg`); plans may not
    manage them. The label holds no dot, so that is the name starting with it."""
    return name.startswith(OWNER_LABEL)


#: `r.key` for a set `r`, as a C-level callable: `map(record_key, sets)`.
record_key = operator.attrgetter("name", "type", "set_identifier")
#: Every field of a `RecordSet`, in order: equal for two sets of the class exactly when they compare equal.
record_fields = operator.attrgetter(
    "name", "type", "ttl", "values", "set_identifier", "weight", "region", "failover", "geo", "geoproximity",
    "multivalue", "cidr", "health_check_id",
)
