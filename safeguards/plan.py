"""Plans: a zone, a generation and the record sets wanted there. Pure: parse, validate,
canonicalize, checksum. No I/O except `load_plan`, which reads one file.

File format (YAML or JSON)::

    zone: example.com          # trailing dot optional
    generation: 7              # positive integer
    owner: dns-safeguards      # optional
    checksum: <sha256 hex>     # optional: the content checksum this file declares
    records:
      - name: api              # relative, "@" for the apex, or an FQDN inside the zone
        type: A
        ttl: 60
        values: [192.0.2.10, 192.0.2.11]
        set_identifier: blue   # optional, with exactly one routing field (see below)
        weight: 10
        min_values: 2          # optional (default 1): fewest values the set may ever have
        health_check_id: ...   # optional on any set

    Routing fields (each with a set_identifier): `weight: 0..255`, `region: eu-west-1` (latency),
    `failover: PRIMARY|SECONDARY`, `geo: {continent|country|subdivision: ...}` (country `*` is
    the default location), `geoproximity: {region|local_zone_group|latitude+longitude, bias}`,
    `multivalue: true`, `cidr: {collection_id, location_name}`. An alias replaces ttl and values:
    `alias: {zone_id: Z..., dns_name: lb.example.net, evaluate_target_health: true}` (also at "@").
    retire: [old]              # optional: names this plan removes on purpose
    canary: [www]              # optional: record names rolled out first

Validation reports every problem at once, one line each naming the record, so a person can
fix a plan in one pass; `PlanInvalid.problems` carries them all.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import functools
import hashlib
import itertools
import json
import operator
import os
import re
import socket
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import yaml

from . import planfile
from .errors import PlanInvalid
from .records import (
    MAX_NAME_OCTETS,
    MAX_TTL,
    MAX_VALUE_CHARS_PER_BATCH,
    OWNER_PREFIX_OCTETS,
    POLICY_OF_ATTR,
    SUPPORTED_TYPES,
    RecordKey,
    RecordSet,
    alias_value,
    fqdn,
    in_zone,
    is_reserved,
    relative,
)
from .values import check_name, hostname, name_octets, normalize_value
from .values import shown as _shown

DEFAULT_OWNER = "dns-safeguards"


@dataclass(frozen=True)
class Plan:
    """A validated, canonical plan.

    `records` are sorted; `retire` lists FQDNs whose sets this plan removes on purpose
    (the only way a name may lose all its values); `min_values` maps a set's key to the fewest
    values it may ever have (default 1; `parse_plan` keeps only minimums above 1, so plans
    that mean the same compare equal); `canary` lists FQDNs rolled out first.
    """

    zone: str
    generation: int
    records: tuple[RecordSet, ...]
    retire: tuple[str, ...] = ()
    min_values: Mapping[RecordKey, int] = field(default_factory=dict)
    canary: tuple[str, ...] = ()
    owner: str = DEFAULT_OWNER
    declared_checksum: str | None = field(default=None, compare=False)
    signature: str | None = field(default=None, compare=False)  # see safeguards.signing

    def min_for(self, key: RecordKey) -> int:
        """Fewest values the set `key` may have (1 unless the plan says otherwise)."""
        return self.min_values.get(key, 1)

    def managed_names(self) -> frozenset[str]:
        """Every FQDN this plan governs: its record names and its retired names."""
        return self._managed_names

    @functools.cached_property
    def _managed_names(self) -> frozenset[str]:
        """`managed_names()`, computed once (a plan is immutable; the diff and guards each ask)."""
        return _Names(itertools.chain(map(_NAME, self.records), self.retire))

    def canonical(self) -> dict[str, Any]:
        """The canonical form hashed by `checksum` (generation excluded: content only)."""
        # The records of a plan from `parse_plan` are in order already. A set without routing fields (most)
        # gets the four keys `to_dict` gives it, built at once.
        records = self.records if self.__dict__.get("_sorted") else sorted(self.records, key=_ORDER)
        mins = self.min_values
        return {
            "zone": self.zone,
            "owner": self.owner,
            "records": [
                {"name": r.name, "type": r.type, "ttl": r.ttl, "values": list(r.values),
                 "min_values": mins.get(r.key, 1) if mins else 1}
                if _ROUTING(r) == _NO_ROUTING
                else {**r.to_dict(), "min_values": self.min_for(r.key)}
                for r in records
            ],
            "retire": sorted(self.retire),
            "canary": sorted(self.canary),
        }

    @functools.cached_property
    def checksum(self) -> str:
        """SHA-256 of the canonical content, hex (computed once: a plan is immutable)."""
        with planfile.gc_paused():  # a mapping per set, all gone once hashed
            blob = self._canonical_blob()
            return hashlib.sha256(blob).hexdigest() if blob is not None else content_checksum(self.canonical())

    def _canonical_blob(self) -> bytes | None:
        """`_canonical_json(self.canonical())`, byte for byte, with each simple set written from a
        Struct whose fields are the canonical keys in order (built and encoded in C: no mapping per
        set, 5x faster for 100,000 sets); None when msgspec is missing or the text needs escapes
        (then the generic path decides, as `_canonical_json` does)."""
        if planfile.json_encode is None:  # pragma: no cover
            return None
        records = self.records if self.__dict__.get("_sorted") else sorted(self.records, key=_ORDER)
        mins = self.min_values
        # A plan parsed from records all in the simple form has no routing field and no minimum.
        simple = () if self.__dict__.get("_simple") else list(map(operator.eq, map(_ROUTING, records), _NO_ROUTINGS))
        if mins or not all(simple):
            entries: list[Any] = [
                _CanonicalSet(mins.get(r.key, 1) if mins else 1, r.name, r.ttl, r.type, r.values)
                if plain
                else {**r.to_dict(), "min_values": self.min_for(r.key)}
                for r, plain in zip(records, simple, strict=True)
            ]
        else:
            entries = list(map(_CanonicalSet, itertools.repeat(1), *(map(g, records) for g in _CANONICAL_FIELDS)))
        doc = {"zone": self.zone, "owner": self.owner, "records": entries,
               "retire": sorted(self.retire), "canary": sorted(self.canary)}  # fmt: skip
        blob = planfile.json_encode(doc, order="sorted")
        del entries, doc
        if blob.isascii() and b"\\u" not in blob and b"\x7f" not in blob:
            return bytes(blob)
        return None

    def to_json(self) -> str:
        """Serialized form for plan stores: canonical content plus generation and checksum."""
        signed = {"signature": self.signature} if self.signature else {}
        return json.dumps(
            {**self.canonical(), "generation": self.generation, "checksum": self.checksum, **signed},
            sort_keys=True,
            separators=(",", ":"),
        )


class _CanonicalSet(msgspec.Struct, gc=False):
    """A simple set's canonical mapping (`Plan.canonical`), its keys as fields in sorted order."""

    min_values: int
    name: str
    ttl: int
    type: str
    values: tuple[str, ...]


_CANONICAL_FIELDS = tuple(operator.attrgetter(f) for f in ("name", "ttl", "type", "values"))
_NO_ROUTINGS = itertools.repeat((None,) * (len(RecordSet.__struct_fields__) - 4))


class _Names(frozenset[str]):
    """A plan's names: a frozenset whose union with names it already holds is itself. The
    governed names are the plan's and those its owner's markers name (`decisions.governed`), nearly
    always the plan's own: no copy of 100,000 names (4 MB) for each decision."""

    __slots__ = ()

    def __or__(self, other: AbstractSet[Any]) -> frozenset[Any]:
        if isinstance(other, set | frozenset) and self.issuperset(other):
            return self
        return frozenset.__or__(self, other)



def content_checksum(canonical: Mapping[str, Any]) -> str:
    """SHA-256 hex of a canonical mapping serialized with sorted keys and no spaces."""
    return hashlib.sha256(_canonical_json(canonical)).hexdigest()


def _canonical_json(canonical: Mapping[str, Any]) -> bytes:
    """`json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()`, byte for byte.

    msgspec's encoder writes the same bytes for ASCII text without escapes beyond \\, \" and
    \b\f\n\r\t (json escapes other control characters, DEL and non-ASCII as \\uXXXX, msgspec differently):
    anything else goes through json, so a checksum never depends on which encoder ran."""
    if planfile.json_encode is not None:
        blob = planfile.json_encode(canonical, order="sorted")
        if blob.isascii() and b"\\u" not in blob and b"\x7f" not in blob:
            return bytes(blob)
    return json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()


# =========================================================================== parsing

_TOP_KEYS = ("zone", "generation", "owner", "checksum", "signature", "records", "retire", "canary")
_SIGNATURE = re.compile(r"[a-z0-9-]{1,32}:[A-Za-z0-9._:/+-]{1,128}:[A-Za-z0-9+/=_-]{16,1024}")
_RECORD_KEYS = ("name", "type", "ttl", "values", "set_identifier", "weight", "min_values", "region", "failover",
                "geo", "geoproximity", "multivalue", "cidr", "health_check_id", "alias")
_ROUTING_KEYS = ("weight", "region", "failover", "geo", "geoproximity", "multivalue", "cidr")
#: Plan keys of the nested routing mappings -> Route 53's field names (the wire names work too).
_GEO_KEYS = {"continent": "ContinentCode", "country": "CountryCode", "subdivision": "SubdivisionCode"}
_GEOPROXIMITY_KEYS = {"region": "AWSRegion", "local_zone_group": "LocalZoneGroup", "latitude": "Coordinates.Latitude",
                      "longitude": "Coordinates.Longitude", "bias": "Bias"}
_CIDR_KEYS = {"collection_id": "CollectionId", "location_name": "LocationName"}
_HEALTH_CHECK = re.compile(r"[A-Za-z0-9-]{1,64}")
#: Owners are written into TXT markers and the fence as `owner=<owner>`: no spaces or quotes.
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_CHECKSUM = re.compile(r"[0-9a-f]{64}")
#: Route 53's quotas on one record set (DNS limitations; botocore's model for the value length).
MAX_VALUES_PER_SET = 400
MAX_VALUE_CHARS = 4000
#: Route 53's limit on SetIdentifier.
MAX_SET_IDENTIFIER = 128
MAX_WEIGHT = 255
#: Types Route 53 manages itself at (or for) the zone; a plan may not touch them.
_NOT_MANAGEABLE = "SOA"


@dataclass
class _Entry:
    """One `records[i]` as far as it parsed; `rrset` is set only when it had no problem."""

    index: int
    label: str
    name: str | None
    rtype: str | None
    set_identifier: str | None
    rrset: RecordSet | None = None
    min_values: int = 1
    policy: str = "simple"


#: Characters of a name or type quoted in a record's label or a problem: messages never grow with input.
_LABEL_CHARS = 400
#: Characters of one problem line at most (a safety net: every quoted input is cut before it is formatted).
MAX_PROBLEM_CHARS = 1000
#: A value longer than this as written is refused before it is normalized: no canonical form of
#: it fits Route 53's 4,000 characters per value.
MAX_RAW_VALUE_CHARS = 4 * 4000 + 64


def _clip(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...({len(text):,} characters)"


def _kind(value: object) -> str:
    """How a value of the wrong type is shown: `bool True`, `list [...]`, `nothing`."""
    if value is None:
        return "nothing"
    text = _shown(value, 40)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '...'}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(data: Mapping[Any, Any], known: Sequence[str]) -> list[str]:
    """One problem per key not in `known`, with a suggestion for near misses ('value')."""
    out = []
    for key in data:
        if key in known:
            continue
        hint = difflib.get_close_matches(key, known, n=1) if isinstance(key, str) and len(key) <= 40 else None
        suffix = f" (did you mean {_shown(hint[0])}?)" if hint else f" (known: {', '.join(known)})"
        out.append(f"unknown key {_shown(key)}{suffix}")
    return out


def _parse_zone(raw: object) -> tuple[str | None, str | None]:
    """(canonical zone, problem)."""
    if raw is None:
        return None, "zone: missing (e.g. 'zone: example.com')"
    if not isinstance(raw, str) or not raw.strip():
        return None, f"zone: must be a domain name, got {_kind(raw)}"
    zone = fqdn(raw)
    try:
        check_name(zone, what="zone")
    except ValueError as e:
        return None, f"zone: {e}"
    if is_reserved(zone):
        return None, f"zone: {zone} is a reserved name (_dnssg*)"
    return zone, None


def _candidate(raw: str, zone: str) -> str:
    """The FQDN a plan name means: "@" is the apex; a name ending in a dot, or ending in the
    zone's name, is absolute; anything else is relative to the zone."""
    text = raw.strip()
    if text == "@":
        return zone
    absolute = fqdn(text)
    if text.endswith(".") or in_zone(absolute, zone):
        return absolute
    return fqdn(f"{text}.{zone}")


def _resolve_name(raw: object, zone: str | None) -> tuple[str | None, str, str | None]:
    """(canonical name or None, how to show it, problem or None) for a plan name."""
    if not isinstance(raw, str) or not raw.strip():
        return None, _shown(raw), f"name must be a non-empty string, got {_kind(raw)} (quote it in YAML)"
    if zone is None:  # the zone is bad: the name cannot be placed, the zone's problem says why
        return None, _shown(raw), None
    name = _candidate(raw, zone)
    if not in_zone(name, zone):
        return None, _clip(name), f"name {_clip(name)} is outside the zone {zone}"
    try:
        check_name(name, wildcard=True)
    except ValueError as e:
        return None, _clip(name), str(e)
    if is_reserved(name):
        return None, name, f"name {name} is reserved for dns-safeguards' own records (_dnssg*)"
    octets = name_octets(name)
    if octets + OWNER_PREFIX_OCTETS > MAX_NAME_OCTETS:
        return (
            None,
            name,
            f"name is {octets} octets: its ownership marker _dnssg.<name> would exceed "
            f"{MAX_NAME_OCTETS} (max {MAX_NAME_OCTETS - OWNER_PREFIX_OCTETS} for a managed name)",
        )
    return name, name, None


def _parse_record(index: int, raw: object, zone: str | None, problems: list[str]) -> _Entry | None:
    """Parse and check `records[index]`, appending its problems; the entry even when invalid
    (cross-record checks use its name and type), None when it is not a mapping at all."""
    where = f"records[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping with name, type, ttl and values, got {_kind(raw)}")
        return None
    own: list[str] = []

    name, shown, problem = (None, "?", "name: missing") if "name" not in raw else _resolve_name(raw["name"], zone)
    if problem:
        own.append(problem)

    rtype: str | None = None
    raw_type = raw.get("type")
    if raw_type is None:
        own.append("type: missing")
    elif not isinstance(raw_type, str):
        own.append(f"type must be a string, got {_kind(raw_type)}")
    elif raw_type.strip().upper() == _NOT_MANAGEABLE:
        own.append("SOA records are managed by Route 53, not by plans")
    elif raw_type.strip().upper() not in SUPPORTED_TYPES:
        own.append(f"unsupported type {_shown(raw_type)} (supported: {', '.join(SUPPORTED_TYPES)})")
    else:
        rtype = raw_type.strip().upper()

    set_id, weight = raw.get("set_identifier"), raw.get("weight")
    if set_id is not None and (not isinstance(set_id, str) or not 1 <= len(set_id) <= MAX_SET_IDENTIFIER):
        own.append(f"set_identifier must be a string of 1..{MAX_SET_IDENTIFIER} characters, got {_kind(set_id)}")
        set_id = None
    shown_type = rtype or (_clip(raw_type, 40) if isinstance(raw_type, str) else "?")
    label = f"{where} ({shown} {shown_type}" + (f", set {set_id}" if set_id is not None else "") + ")"

    own.extend(_unknown_keys(raw, _RECORD_KEYS))
    routing_keys = [k for k in _ROUTING_KEYS if k in raw]
    if ("set_identifier" in raw) != bool(routing_keys) or len(routing_keys) > 1:
        own.append(
            f"set_identifier goes with exactly one routing field ({', '.join(_ROUTING_KEYS)}): give both or neither"
            + (f" (got {', '.join(routing_keys)})" if len(routing_keys) > 1 else "")
        )
    if "weight" in raw and not (isinstance(weight, int) and _is_int(weight) and 0 <= weight <= MAX_WEIGHT):
        own.append(f"weight must be an integer in 0..{MAX_WEIGHT}, got {_kind(weight)}")
    routing = _parse_routing(raw, own)

    alias = _parse_alias(raw.get("alias"), own) if "alias" in raw else None
    ttl = raw.get("ttl", 0 if alias is not None else None)
    if ttl is None:
        own.append("ttl: missing")
    elif not (_is_int(ttl) and 0 <= ttl <= MAX_TTL):
        own.append(f"ttl must be an integer in 0..{MAX_TTL}, got {_kind(ttl)}")
    elif alias is not None and ttl != 0:
        own.append("an alias takes its TTL from its target: leave ttl out")

    if alias is not None or "alias" in raw:
        if "values" in raw:
            own.append("alias and values exclude each other: an alias answers with its target's records")
        values = [alias] if alias is not None else []
    else:
        values = _parse_values(raw.get("values"), rtype, "values" in raw, own)

    min_values = raw.get("min_values", 1)
    if not (_is_int(min_values) and min_values >= 1):
        own.append(f"min_values must be an integer of at least 1, got {_kind(min_values)}")
        min_values = 1
    elif values and min_values > len(values):
        own.append(f"min_values {min_values} is more than its {len(values)} value(s)")

    if name is not None and zone is not None and rtype is not None:
        if rtype == "NS" and name == zone:
            own.append("NS at the zone apex is managed by Route 53, not by plans")
        if rtype == "NS" and name.startswith("*."):
            own.append("NS records cannot have a wildcard name")
        if rtype == "CNAME" and name == zone:
            own.append("CNAME is not allowed at the zone apex")

    problems.extend(f"{label}: {p}" for p in own)
    policy = next((POLICY_OF_ATTR[k] for k in _ROUTING_KEYS if k in raw), "simple")
    entry = _Entry(index, label, name, rtype, set_id, min_values=min_values, policy=policy)
    if not own and name is not None and rtype is not None and values:
        entry.rrset = RecordSet(
            name, rtype, ttl, tuple(sorted(values)), set_id, weight if set_id is not None else None, **routing
        )
    return entry


def _pairs(raw: object, keys: Mapping[str, str], what: str, own: list[str]) -> tuple[tuple[str, str], ...] | None:
    """A nested routing mapping as Route 53's sorted (field, value) pairs; plan or wire key names."""
    if not isinstance(raw, Mapping) or not raw:
        own.append(f"{what} must be a mapping of {', '.join(keys)}, got {_kind(raw)}")
        return None
    wire_names = set(keys.values())
    out: list[tuple[str, str]] = []
    for key, value in raw.items():
        field_name = keys.get(str(key), str(key) if str(key) in wire_names else None)
        if field_name is None:
            own.append(f"{what}: unknown key {_shown(key)} (known: {', '.join(keys)})")
        elif isinstance(value, bool) or not isinstance(value, str | int | float) or str(value) == "":
            own.append(f"{what}.{key} must be a string or number, got {_kind(value)}")
        else:
            out.append((field_name, str(value)))
    return tuple(sorted(out))


def _parse_routing(raw: Mapping[str, Any], own: list[str]) -> dict[str, Any]:
    """RecordSet keyword arguments for the routing fields beside weight, and the health check."""
    out: dict[str, Any] = {}
    if "region" in raw:
        if isinstance(raw["region"], str) and re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+-\d", raw["region"]):
            out["region"] = raw["region"]
        else:
            own.append(f"region must be an AWS region such as eu-west-1, got {_kind(raw['region'])}")
    if "failover" in raw:
        if raw["failover"] in ("PRIMARY", "SECONDARY"):
            out["failover"] = raw["failover"]
        else:
            own.append(f"failover must be PRIMARY or SECONDARY, got {_kind(raw['failover'])}")
    if "geo" in raw:
        geo = _pairs(raw["geo"], _GEO_KEYS, "geo", own)
        if geo is not None and dict(geo).get("SubdivisionCode") and dict(geo).get("CountryCode") != "US":
            own.append("geo.subdivision needs country US (Route 53 knows subdivisions of the United States)")
        out["geo"] = geo
    if "geoproximity" in raw:
        gp = _pairs(raw["geoproximity"], _GEOPROXIMITY_KEYS, "geoproximity", own)
        where = {k for k, _ in gp or ()} & {"AWSRegion", "LocalZoneGroup", "Coordinates.Latitude"}
        if gp is not None and len(where) != 1:
            own.append("geoproximity needs exactly one of region, local_zone_group or latitude+longitude")
        bias = dict(gp or ()).get("Bias")
        if bias is not None and not (re.fullmatch(r"-?\d{1,2}", bias)):
            own.append(f"geoproximity.bias must be an integer in -99..99, got {_shown(bias)}")
        out["geoproximity"] = gp
    if "multivalue" in raw:
        if raw["multivalue"] is True:
            out["multivalue"] = True
        else:
            own.append(f"multivalue must be true (a multivalue answer set), got {_kind(raw['multivalue'])}")
    if "cidr" in raw:
        cidr = _pairs(raw["cidr"], _CIDR_KEYS, "cidr", own)
        if cidr is not None and {k for k, _ in cidr} != {"CollectionId", "LocationName"}:
            own.append("cidr needs collection_id and location_name")
        out["cidr"] = cidr
    if "health_check_id" in raw:
        hc = raw["health_check_id"]
        if isinstance(hc, str) and _HEALTH_CHECK.fullmatch(hc):
            out["health_check_id"] = hc
        else:
            own.append(f"health_check_id must be a Route 53 health check id, got {_kind(hc)}")
    return out


def _parse_alias(raw: object, own: list[str]) -> str | None:
    """The single value standing for an alias target (see `safeguards.records.alias_value`)."""
    if not isinstance(raw, Mapping):
        own.append(f"alias must be a mapping with zone_id, dns_name and evaluate_target_health, got {_kind(raw)}")
        return None
    extra = [k for k in raw if k not in ("zone_id", "dns_name", "evaluate_target_health")]
    zone_id, dns_name = raw.get("zone_id"), raw.get("dns_name")
    evaluate = raw.get("evaluate_target_health", False)
    problems = [f"alias: unknown key {_shown(k)}" for k in extra]
    if not (isinstance(zone_id, str) and re.fullmatch(r"[A-Z0-9]{1,32}", zone_id)):
        problems.append(f"alias.zone_id must be a hosted zone id such as Z2FDTNDATAQYW2, got {_kind(zone_id)}")
    if not isinstance(evaluate, bool):
        problems.append(f"alias.evaluate_target_health must be true or false, got {_kind(evaluate)}")
    target = None
    if not isinstance(dns_name, str) or not dns_name.strip():
        problems.append(f"alias.dns_name must be a DNS name, got {_kind(dns_name)}")
    else:
        try:
            target = hostname(dns_name)
        except ValueError as e:
            problems.append(f"alias.dns_name: {e}")
    own.extend(problems)
    if problems or target is None:
        return None
    return alias_value(str(zone_id), target, bool(evaluate))


def _parse_values(raw: object, rtype: str | None, present: bool, own: list[str]) -> list[str]:
    """Canonical values of one set (empty when any is bad), appending problems to `own`."""
    if not present or raw is None:
        own.append("values: missing (a list of at least one value)")
        return []
    if not isinstance(raw, list):
        own.append(f"values must be a list, got {_kind(raw)}")
        return []
    if not raw:
        own.append("values is empty: a record set needs at least one value (use 'retire' to remove a name)")
        return []
    if rtype is None:
        return []
    if rtype == "CNAME" and len(raw) > 1:
        own.append(f"a CNAME has exactly one value, got {len(raw)}")
    out: list[str] = []
    bad = False
    seen: dict[str, list[int]] = {}
    for j, value in enumerate(raw):
        if isinstance(value, str) and len(value) > MAX_RAW_VALUE_CHARS:  # refused before it is read through
            own.append(f"a value of {len(value):,} characters: Route 53 allows at most {MAX_VALUE_CHARS} per value")
            bad = True
            continue
        try:
            canon = normalize_value(rtype, value)
        except ValueError as e:
            own.append(str(e))
            bad = True
            continue
        seen.setdefault(canon, []).append(j)
        out.append(canon)
    for canon, where in seen.items():
        if len(where) > 1:
            # One line per repeated value, however often it repeats, and never a wall of text.
            shown = canon if len(canon) <= 60 else canon[:40] + f"…({len(canon)} chars)"
            more = f" and {len(where) - 3} more" if len(where) > 3 else ""
            at = ", ".join(f"values[{j}]" for j in where[:3]) + more
            own.append(f"duplicate value {shown!r} ({at})")
            bad = True
    if len(raw) > MAX_VALUES_PER_SET:
        own.append(f"{len(raw)} values: Route 53 allows at most {MAX_VALUES_PER_SET} in one record set")
    long = [v for v in out if len(v) > MAX_VALUE_CHARS]
    if long:
        own.append(f"a value of {len(long[0])} characters: Route 53 allows at most {MAX_VALUE_CHARS} per value")
    chars = sum(len(v) for v in out)
    if chars > MAX_VALUE_CHARS_PER_BATCH:
        own.append(f"{chars} characters of values: more than fit in one Route 53 batch ({MAX_VALUE_CHARS_PER_BATCH})")
    return [] if bad else out


def _parse_names(raw: object, key: str, zone: str | None, problems: list[str]) -> list[tuple[int, str]]:
    """The canonical names listed under `key` (retire, canary) with their indices."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{key}: must be a list of names, got {_kind(raw)}")
        return []
    out: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    for i, item in enumerate(raw):
        name, shown, problem = _resolve_name(item, zone)
        if problem:
            problems.append(f"{key}[{i}] ({shown}): {problem}")
        elif name is not None:
            if name in first:
                problems.append(f"{key}[{i}] ({name}): listed twice (also {key}[{first[name]}])")
                continue
            first[name] = i
            out.append((i, name))
    return out


_ORDER = operator.attrgetter(*(f.name for f in dataclasses.fields(RecordSet)))
#: The fields of a `RecordSet` beyond name, type, ttl and values (all None: a simple set).
_ROUTING = operator.attrgetter(*(f.name for f in dataclasses.fields(RecordSet)[4:]))
_NO_ROUTING = (None,) * (len(dataclasses.fields(RecordSet)) - 4)
_NAME = operator.attrgetter("name")
_FAST_TYPES = frozenset(SUPPORTED_TYPES)
#: A relative name in canonical form: lower-case labels, no trailing dot, not "@", no wildcard,
#: not starting with "_" (so never reserved).
_FAST_NAME = re.compile(r"[a-z0-9-][a-z0-9_-]{0,62}(?:\.[a-z0-9_-]{1,63})*")
_DOTTED_QUAD = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_CANONICAL_HOST = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+")
#: MX with a priority below 10,000 and a canonical host: `normalize_value` returns it unchanged.
_CANONICAL_MX = re.compile(r"(?:0|[1-9][0-9]{0,3}) (?:[a-z0-9_-]{1,63}\.)+")


def _canonical_ipv6(value: str) -> bool:
    """True when `value` is already the compressed lower-case form `values.ipv6` returns: the C
    library's text for an address is RFC 5952's (longest zero run, first on a tie, at least two
    groups), except that it writes IPv4-mapped forms with dots, which never compare equal here."""
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, value)) == value and "." not in value
    except (OSError, ValueError):
        return False


#: Per type, a test that a value is canonical as it stands (so `normalize_value` would return it
#: unchanged), with the longest value it holds for (host names: 254 characters, 255 octets).
_CANONICAL_SHAPE: dict[str, Any] = {
    "CNAME": _CANONICAL_HOST.fullmatch,
    "NS": _CANONICAL_HOST.fullmatch,
    "MX": _CANONICAL_MX.fullmatch,
    "AAAA": _canonical_ipv6,
}
_SHAPE_MAX_LEN = {"CNAME": MAX_NAME_OCTETS - 1, "NS": MAX_NAME_OCTETS - 1, "MX": MAX_NAME_OCTETS + 1, "AAAA": 39}
#: TXT text that is its own single character-string: printable ASCII without '"' or '\\'.
_PLAIN_TXT = re.compile(r'[ !#-\[\]-~]{0,255}')
#: TXT in Route 53's quoted form already: such strings separated by one space.
_CANONICAL_TXT = re.compile(r'"[ !#-\[\]-~]{0,255}"(?: "[ !#-\[\]-~]{0,255}")*')


class _FastRecords:
    """Validation by shape: a record in the common form (exactly name, type, ttl and values; a
    relative canonical name; a supported type; an integer TTL; values already canonical or cheap to
    canonicalize, no duplicates, within Route 53's limits) becomes its `RecordSet` at once.
    Anything else returns None and goes through `_parse_record`, which explains every problem;
    for a record accepted here `_parse_record` finds no problem and builds the same set."""

    __slots__ = ("dot_zone", "max_len", "zone", "zone_bare", "zone_suffix")

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self.zone_bare = zone[:-1]
        self.zone_suffix = "." + zone[:-1]
        self.dot_zone = "." + zone
        # name = raw + "." + zone; its marker _dnssg.<name> must fit: len(name) + 1 + prefix <= max.
        self.max_len = MAX_NAME_OCTETS - OWNER_PREFIX_OCTETS - 2 - len(zone)

    def parse(self, raw: object) -> tuple[str, str, int, tuple[str, ...]] | None:
        if type(raw) is not dict or len(raw) != 4:
            return None
        try:  # four keys, and these four: exactly the simple form
            name, rtype, ttl, values = raw["name"], raw["type"], raw["ttl"], raw["values"]
        except KeyError:
            return None
        if (
            type(name) is not str
            or len(name) > self.max_len
            or not _FAST_NAME.fullmatch(name)
            or name == self.zone_bare
            or name.endswith(self.zone_suffix)
            or type(rtype) is not str
            or rtype not in _FAST_TYPES
            or type(ttl) is not int
            or not 0 <= ttl <= MAX_TTL
            or type(values) is not list
            or not 0 < len(values) <= MAX_VALUES_PER_SET
        ):
            return None
        try:
            if rtype == "A":
                if not all(map(_DOTTED_QUAD.fullmatch, values)):
                    return None
                canon = values
            elif rtype == "TXT":
                if all(map(_CANONICAL_TXT.fullmatch, values)):
                    canon = values
                elif all(map(_PLAIN_TXT.fullmatch, values)):
                    canon = [f'"{v}"' for v in values]
                else:
                    return None
                # A value over Route 53's 4,000 characters is refused record by record (this let
                # quoted values of up to 32,000 through, which `_parse_values` refuses).
                if max(map(len, canon)) > MAX_VALUE_CHARS or sum(map(len, canon)) > MAX_VALUE_CHARS_PER_BATCH:
                    return None
            else:
                if rtype == "CNAME" and len(values) != 1:
                    return None
                shape = _CANONICAL_SHAPE.get(rtype)
                if shape is not None and all(map(shape, values)) and max(map(len, values)) <= _SHAPE_MAX_LEN[rtype]:
                    canon = values
                else:
                    canon = [normalize_value(rtype, v) for v in values]
                if max(map(len, canon)) > MAX_VALUE_CHARS or sum(map(len, canon)) > MAX_VALUE_CHARS_PER_BATCH:
                    return None
        except (TypeError, ValueError):  # a value that is not a string, or not valid: the slow path says why
            return None
        if len(canon) == 1:
            return (name + self.dot_zone, rtype, ttl, tuple(canon))
        if len(set(canon)) != len(canon):
            return None
        return (name + self.dot_zone, rtype, ttl, tuple(sorted(canon)))


def _simple_sets(rows: list[tuple[str, str, int, tuple[str, ...]]]) -> list[RecordSet]:
    """`RecordSet(name, type, ttl, values)` for each row, all other fields None."""
    return list(itertools.starmap(RecordSet, rows))


def _column_sets(
    names: Sequence[str], types: Sequence[str], ttls: Sequence[int], values: Sequence[tuple[str, ...]]
) -> list[RecordSet]:
    """`RecordSet(names[i], types[i], ttls[i], values[i])` for each i, all other fields None: built
    in C, one call per set (a RecordSet is a msgspec Struct)."""
    return list(map(RecordSet, names, types, ttls, values))


def _lines_match(bad_line: re.Pattern[str], items: list[str]) -> bool:
    """True when every item of `items` matches as a whole the pattern `bad_line` was made from
    (`_each_line`): one search over the items joined by newlines (none may hold one) for a line
    where it does not match."""
    if not items:
        return True
    text = "\n".join(items)
    return text.count("\n") == len(items) - 1 and bad_line.search(text) is None


def _each_line(pattern: str) -> re.Pattern[str]:
    """A pattern finding the first line that `pattern` (which matches no newline) does not match
    as a whole (see `_lines_match`): a search from line start to line start, 2-4x faster than
    a match per item or a repeated group over all of them."""
    return re.compile(f"^(?!(?:{pattern})$)", re.MULTILINE)


def _ipv4_check() -> Any:
    """`socket.inet_pton` for IPv4, when it accepts exactly the canonical dotted quads (as the C
    libraries of Linux, the BSDs and macOS do: four decimal numbers 0..255 without leading zeros,
    nothing before or after), else None. A C call per value, 3x faster than the pattern."""
    try:
        if socket.inet_pton(socket.AF_INET, "0.10.200.255") != bytes([0, 10, 200, 255]):  # pragma: no cover
            return None
    except (OSError, ValueError):  # pragma: no cover
        return None
    for bad in ("01.2.3.4", "1.2.3", "1.2.3.4 ", " 1.2.3.4", "256.1.1.1", "1.2.3.4.5", "1.2.3.04", "0x1.2.3.4", ""):
        try:
            socket.inet_pton(socket.AF_INET, bad)
        except (OSError, ValueError):
            continue
        return None  # pragma: no cover - a looser C library: the pattern decides
    return socket.inet_pton


_INET_PTON = _ipv4_check()


def _all_ipv4(values: list[str]) -> bool:
    """True when every value is a canonical dotted quad (`_DOTTED_QUAD`)."""
    if _INET_PTON is None:  # pragma: no cover
        return _lines_match(_A_LINES, values)
    try:
        all(map(_INET_PTON, itertools.repeat(socket.AF_INET), values))
    except (OSError, ValueError, TypeError):
        return False
    return True


_NAME_LINES = _each_line(_FAST_NAME.pattern)
_A_LINES = _each_line(_DOTTED_QUAD.pattern)
_VALUE_LINES = {
    "CNAME": _each_line(_CANONICAL_HOST.pattern),
    "NS": _each_line(_CANONICAL_HOST.pattern),
    "MX": _each_line(_CANONICAL_MX.pattern),
}
_CANONICAL_TXT_LINES = _each_line(_CANONICAL_TXT.pattern)
_PLAIN_TXT_LINES = _each_line(_PLAIN_TXT.pattern)


def _simple_columns(records: planfile.SimpleRecords, zone: str) -> list[RecordSet] | None:
    """`_FastRecords` over whole columns: the record sets of `records` (in file order) when every
    record passes the checks `_FastRecords.parse` makes, each column checked at once (a regular
    expression over its items joined, minimum and maximum, a set); None when any record does not
    (its problem, or its canonical form, is then found record by record).

    The checks are `_FastRecords.parse`'s or stricter, never looser, and the sets built are the
    ones it builds (tests/unit/test_plan_fastpaths.py compares them on random plans)."""
    names, types, ttls, values = records.names, records.types, records.ttls, records.values
    n = len(names)
    if n == 0:
        return []
    fast = _FastRecords(zone)
    lens = list(map(len, values))
    if (
        not _FAST_TYPES.issuperset(types)
        or max(map(len, names)) > fast.max_len
        or not _lines_match(_NAME_LINES, names)
        or min(ttls) < 0
        or max(ttls) > MAX_TTL
        or min(lens) < 1
        or max(lens) > MAX_VALUES_PER_SET
    ):
        return None
    joined = "\n" + "\n".join(names) + "\n"  # the bare zone or a name ending in it: absolute, not relative
    if f"\n{fast.zone_bare}\n" in joined or f"{fast.zone_suffix}\n" in joined:
        return None
    del joined
    canon: list[Any] = values if isinstance(values, list) else list(values)
    by_type: dict[str, list[int]] = {t: [] for t in set(types)}  # the records of each type, in one pass
    collections.deque(map(list.append, map(by_type.__getitem__, types), range(n)), maxlen=0)
    for rtype, index in by_type.items():
        group = list(map(canon.__getitem__, index))
        flat = list(itertools.chain.from_iterable(group))
        changed = _canonical_group(rtype, group, flat)
        if changed is None:
            return None
        if changed is not group:
            if canon is values:
                canon = list(values)
            collections.deque(map(canon.__setitem__, index, changed), maxlen=0)
    # No value twice in a set; sorted values (a tuple decoded as such and holding one value is kept).
    several = list(itertools.compress(range(n), map(operator.gt, lens, itertools.repeat(1))))
    multi = list(map(canon.__getitem__, several))
    if multi and any(map(operator.ne, map(len, map(set, multi)), map(len, multi))):
        return None
    sets = list(map(tuple, canon))
    del canon
    # Values written in order (as usual) keep their tuple; the others are sorted into a new one.
    ordered = list(map(tuple, map(sorted, multi)))
    unsorted = list(map(operator.ne, ordered, multi))
    if any(unsorted):
        several = list(itertools.compress(several, unsorted))
        collections.deque(map(sets.__setitem__, several, itertools.compress(ordered, unsorted)), maxlen=0)
    del multi, several, ordered
    fq = list(map(operator.add, names, itertools.repeat(fast.dot_zone)))
    return _column_sets(fq, types, ttls, sets)


def _canonical_group(rtype: str, group: list[Any], flat: list[str]) -> list[Any] | None:
    """The canonical values of the records of one type (`group`, their values; `flat`, all of them
    in a row): `group` itself when already canonical, new lists when canonicalized, None when
    `_FastRecords.parse` would refuse any record (or this check cannot tell)."""
    if rtype == "A":
        return group if _all_ipv4(flat) else None
    if rtype == "TXT":
        if max(map(len, flat)) > MAX_VALUE_CHARS:
            return None
        if _lines_match(_CANONICAL_TXT_LINES, flat):
            out = group
        elif _lines_match(_PLAIN_TXT_LINES, flat):
            out = [[f'"{v}"' for v in vs] for vs in group]
        else:  # quoted and plain records side by side: each as `_FastRecords.parse` takes it
            out = []
            for vs in group:
                if all(map(_CANONICAL_TXT.fullmatch, vs)):
                    out.append(vs)
                elif all(map(_PLAIN_TXT.fullmatch, vs)):
                    out.append([f'"{v}"' for v in vs])
                else:
                    return None
        # Only when some set has enough values to exceed a batch's characters are they added up.
        if max(map(len, out)) * (MAX_VALUE_CHARS + 2) > MAX_VALUE_CHARS_PER_BATCH and (
            max(map(sum, map(map, itertools.repeat(len), out))) > MAX_VALUE_CHARS_PER_BATCH
        ):
            return None
        return out
    if rtype == "CNAME" and max(map(len, group)) != 1:
        return None
    lines = _VALUE_LINES.get(rtype)
    if lines is not None:
        shaped = _lines_match(lines, flat)
    else:
        shape = _CANONICAL_SHAPE.get(rtype)
        shaped = shape is not None and all(map(shape, flat))
    if shaped and max(map(len, flat)) <= _SHAPE_MAX_LEN[rtype]:
        out = group
    else:
        try:
            out = [[normalize_value(rtype, v) for v in vs] for vs in group]
        except (TypeError, ValueError):
            return None
    chars = list(map(len, itertools.chain.from_iterable(out)))
    if max(chars) > MAX_VALUE_CHARS:
        return None
    if max(map(len, out)) * MAX_VALUE_CHARS > MAX_VALUE_CHARS_PER_BATCH and (
        max(map(sum, map(map, itertools.repeat(len), out))) > MAX_VALUE_CHARS_PER_BATCH
    ):
        return None
    return out


def _sharing_names(entries: list[_Entry], fast_sets: list[tuple[int, RecordSet]]) -> list[_Entry]:
    """The entries (slow and fast, in file order) whose name another entry shares: the only
    ones cross-record rules can concern."""
    counts = collections.Counter(e.name for e in entries if e.name is not None)
    counts.update(r.name for _, r in fast_sets)
    shared = {name for name, n in counts.items() if n > 1}
    out = [e for e in entries if e.name in shared]
    out.extend(
        _Entry(i, f"records[{i}] ({r.name} {r.type})", r.name, r.type, None, r)
        for i, r in fast_sets
        if r.name in shared
    )
    out.sort(key=lambda e: e.index)
    return out


def _cross_checks(entries: list[_Entry], problems: list[str]) -> None:
    """Rules between record sets: duplicates, CNAME beside other types, weighted beside plain."""
    by_key: dict[RecordKey, _Entry] = {}
    by_name: dict[str, list[_Entry]] = {}
    by_name_type: dict[tuple[str, str], list[_Entry]] = {}
    for e in entries:
        if e.name is None or e.rtype is None:
            continue
        key = (e.name, e.rtype, e.set_identifier)
        if key in by_key:
            first = by_key[key].index
            problems.append(f"{e.label}: duplicate record set (same name, type and set_identifier as records[{first}])")
        else:
            by_key[key] = e
        by_name.setdefault(e.name, []).append(e)
        by_name_type.setdefault((e.name, e.rtype), []).append(e)
    for name, group in by_name.items():
        if len(group) < 2:
            continue
        others = [e for e in group if e.rtype != "CNAME"]
        if others and len(others) < len(group):
            listed = ", ".join(f"{o.rtype} at records[{o.index}]" for o in others)
            for e in group:
                if e.rtype == "CNAME":
                    problems.append(f"{e.label}: a CNAME cannot coexist with other records at {name} ({listed})")
    for (name, rtype), group in by_name_type.items():
        if len(group) < 2:
            continue
        routed = [e for e in group if e.set_identifier is not None]
        if routed and len(routed) < len(group):
            for e in group:
                if e.set_identifier is None:
                    problems.append(
                        f"{e.label}: {name} {rtype} mixes {routed[0].policy} (records[{routed[0].index}]) and plain "
                        "record sets"
                    )
            continue
        if routed:
            _routing_checks(name, rtype, routed, problems)


def _routing_checks(name: str, rtype: str, group: list[_Entry], problems: list[str]) -> None:
    """Route 53's rules between the routed sets of one name and type (one policy, one TTL for
    weighted sets, one set per latency region, failover role, geolocation or CIDR location)."""
    first = group[0]
    for e in group[1:]:
        if e.policy != first.policy:
            problems.append(f"{e.label}: {name} {rtype} mixes {e.policy} and {first.policy} (records[{first.index}]) "
                            "routing: one policy per name and type")
    if any(e.policy != first.policy for e in group):
        return
    sets = [e for e in group if e.rrset is not None]
    if first.policy == "weighted" and len({e.rrset.ttl for e in sets if e.rrset}) > 1:
        ttls = ", ".join(f"{e.rrset.ttl} (records[{e.index}])" for e in sets if e.rrset)
        problems.append(f"{first.label}: weighted sets of {name} {rtype} must share one TTL, got {ttls}")
    attr = {"latency": "region", "failover": "failover", "geolocation": "geo", "cidr": "cidr"}.get(first.policy)
    if attr is None:
        return
    seen: dict[object, _Entry] = {}
    for e in sets:
        where = getattr(e.rrset, attr)
        if where in seen:
            shown = where if isinstance(where, str) else ",".join(f"{k}={v}" for k, v in where)
            problems.append(f"{e.label}: {name} {rtype} has two {first.policy} sets for {shown} "
                            f"(also records[{seen[where].index}])")
        else:
            seen[where] = e


_LOCATION = re.compile(r"(records|retire|canary)(?:\[(\d+)\])?")
_SECTIONS = {"records": 1, "retire": 2, "canary": 3}


def _problem_order(problem: str) -> tuple[int, int]:
    """Top-level problems first, then in file order (a stable sort keeps each record's order)."""
    m = _LOCATION.match(problem)
    return (_SECTIONS[m.group(1)], int(m.group(2) or -1)) if m else (0, 0)


def parse_plan(data: object, *, source: str = "plan") -> Plan:
    """Validate a parsed plan document (a mapping from YAML or JSON) into a canonical `Plan`.

    Raises `PlanInvalid` listing every problem found, one line each naming the record (see the
    module doc for the format and `tests/unit/test_plan.py` for every rule).
    """
    with planfile.gc_paused():
        return _parse_plan(data, source)


def _parse_plan(data: object, source: str, consume: bool = False) -> Plan:
    """`parse_plan`; with `consume` (a document nobody else holds, from `load_plan`) each record's
    mapping is dropped from the document once parsed, so the document and the plan are never
    both whole in memory."""
    if not isinstance(data, Mapping):
        shape = f"top level: must be a mapping with zone, generation and records, got {_kind(data)}"
        raise PlanInvalid(f"{source}: 1 problem(s): {shape}", problems=[shape])
    problems: list[str] = []
    problems.extend(f"top level: {p}" for p in _unknown_keys(data, _TOP_KEYS))

    zone, problem = _parse_zone(data.get("zone"))
    if problem:
        problems.append(problem)

    generation = data.get("generation")
    if generation is None:
        problems.append("generation: missing (a positive integer, higher for every new plan)")
    elif not (_is_int(generation) and generation > 0):
        problems.append(f"generation: must be a positive integer, got {_kind(generation)}")

    owner = data.get("owner", DEFAULT_OWNER)
    if not (isinstance(owner, str) and _OWNER.fullmatch(owner)):
        problems.append(
            "owner: must be 1..63 letters, digits, '.', '_' or '-' (starting with a letter or digit), "
            f"got {_kind(owner)}"
        )

    declared = data.get("checksum")
    if declared is not None:
        if isinstance(declared, str) and _CHECKSUM.fullmatch(declared.strip().lower()):
            declared = declared.strip().lower()
        else:
            problems.append(f"checksum: must be 64 hex digits (SHA-256), got {_kind(declared)}")

    signature = data.get("signature")
    if signature is not None and not (isinstance(signature, str) and _SIGNATURE.fullmatch(signature)):
        problems.append(f"signature: must be ALGORITHM:KEY-ID:SIGNATURE (dns-safeguards sign), got {_kind(signature)}")

    raw_records = data.get("records")
    entries: list[_Entry] = []
    fast_rows: list[tuple[str, str, int, tuple[str, ...]]] = []  # records that passed _FastRecords
    fast_index: list[int] = []
    simple: list[RecordSet] | None = None  # the records' sets when every one passed _simple_columns
    if isinstance(raw_records, planfile.SimpleRecords):
        if consume:
            data["records"] = None  # type: ignore[index]  # load_plan's own dict
        simple = _simple_columns(raw_records, zone) if zone is not None else None
        if simple is None:  # some record is not in canonical form (or the zone is bad): one by one, as below
            raw_records = raw_records.dicts()
    if simple is not None:  # every record passed, column by column
        del raw_records
    elif raw_records is None:
        problems.append("records: missing (a list of record sets; may be empty)")
    elif not isinstance(raw_records, list):
        problems.append(f"records: must be a list of record sets, got {_kind(raw_records)}")
    else:
        fast = _FastRecords(zone) if zone is not None else None
        for i, raw in enumerate(raw_records):
            if consume:
                raw_records[i] = None
            row = fast.parse(raw) if fast is not None else None
            if row is not None:
                fast_rows.append(row)
                fast_index.append(i)
                continue
            entry = _parse_record(i, raw, zone, problems)
            if entry is not None:
                entries.append(entry)
    if fast_rows:
        simple = _simple_sets(fast_rows)
    elif simple is None:
        simple = []
    del fast_rows
    record_names = {e.name for e in entries if e.name is not None}
    record_names.update(map(_NAME, simple))
    n_sets = len(entries) + len(simple)
    if len(record_names) < n_sets:  # some name has several sets: check them
        fast_sets = list(zip(fast_index or range(len(simple)), simple, strict=True))
        _cross_checks(_sharing_names(entries, fast_sets), problems)
        del fast_sets
    del fast_index

    retire = _parse_names(data.get("retire"), "retire", zone, problems)
    for i, name in retire:
        if name in record_names:
            problems.append(f"retire[{i}] ({name}): also has records in this plan (retire it, or keep it, not both)")
    canary = _parse_names(data.get("canary"), "canary", zone, problems)
    for i, name in canary:
        if name not in record_names:
            problems.append(f"canary[{i}] ({name}): not the name of a record in this plan")

    if problems:
        problems.sort(key=_problem_order)
        problems = [_clip(p, MAX_PROBLEM_CHARS) for p in problems]
        raise PlanInvalid(f"{source}: {len(problems)} problem(s): {problems[0]}", problems=problems)
    assert zone is not None and isinstance(generation, int)  # no problems: both parsed
    # The dataclass order (a tuple of every field), without a Python __lt__ call per comparison;
    # when no two sets share a name, the name alone decides it (no tuple per set).
    records = tuple(
        sorted(
            [*simple, *(e.rrset for e in entries if e.rrset is not None)] if entries else simple,
            key=_NAME if len(record_names) == n_sets else _ORDER,
        )
    )
    plan = Plan(
        zone=zone,
        generation=generation,
        records=records,
        retire=tuple(sorted(n for _, n in retire)),
        min_values={e.rrset.key: e.min_values for e in entries if e.rrset is not None and e.min_values > 1},
        canary=tuple(sorted(n for _, n in canary)),
        owner=owner,
        declared_checksum=declared,
        signature=signature,
    )
    # Not fields: markers that this exact object passed validation and holds its records in
    # order (a copy or edit loses them).
    object.__setattr__(plan, "_validated", True)
    object.__setattr__(plan, "_sorted", True)
    if not entries:  # every set from the simple form: no routing field, no minimum
        object.__setattr__(plan, "_simple", True)
    return plan


def ensure_valid(plan: Plan) -> None:
    """Raise PlanInvalid unless `plan` obeys every rule `parse_plan` enforces and is canonical.

    Plans from `parse_plan`/`load_plan` pass at once; a `Plan` built in code is validated through
    its document form, so a name outside the zone or a malformed value is refused before
    anything is written (Route 53 would reject it only in its own batch, after earlier ones).
    """
    if plan.__dict__.get("_validated"):
        return
    source = f"plan for {plan.zone} generation {plan.generation}"
    parsed = parse_plan(plan_to_document(plan), source=source)
    mine = set(plan.records)
    differ = [r for r in parsed.records if r not in mine]
    if differ or len(parsed.records) != len(plan.records):
        problems = [
            f"{r.name} {r.type}: values are not in canonical form (expected {list(r.values)})" for r in differ
        ] or [f"{source}: records are not canonical"]
        raise PlanInvalid(f"{source}: {len(problems)} problem(s): {problems[0]}", problems=problems)
    object.__setattr__(plan, "_validated", True)


# =========================================================================== round trips


def plan_to_document(plan: Plan, *, seal: bool = False) -> dict[str, Any]:
    """The file-format mapping of `plan` (names relative to the zone), so it can be written
    back as YAML or JSON; `parse_plan(plan_to_document(p)) == p`.

    The declared checksum is kept if the plan has one; with `seal` the computed checksum is
    written instead, so any later edit of the file is refused until it is re-sealed.
    """
    zone = plan.zone

    def name(n: str) -> str:
        rel = relative(n, zone) if in_zone(n, zone) else n
        # A relative name that itself ends in the zone's name would read as absolute: keep the FQDN.
        return rel if _candidate(rel, zone) == n else n

    records: list[dict[str, Any]] = []
    for r in plan.records:
        doc: dict[str, Any] = {"name": name(r.name), "type": r.type, "ttl": r.ttl, "values": list(r.values)}
        target = r.alias_target
        if target is not None:
            del doc["ttl"], doc["values"]
            doc["alias"] = {"zone_id": target[0], "dns_name": target[1], "evaluate_target_health": target[2]}
        if r.set_identifier is not None:
            doc["set_identifier"] = r.set_identifier
            if r.weight is not None:
                doc["weight"] = r.weight
        for attr in ("region", "failover", "multivalue", "health_check_id"):
            if getattr(r, attr) is not None:
                doc[attr] = getattr(r, attr)
        for attr in ("geo", "geoproximity", "cidr"):
            if getattr(r, attr) is not None:
                doc[attr] = dict(getattr(r, attr))
        if plan.min_for(r.key) != 1:
            doc["min_values"] = plan.min_for(r.key)
        records.append(doc)
    out: dict[str, Any] = {"zone": zone, "generation": plan.generation, "owner": plan.owner}
    checksum = plan.checksum if seal else plan.declared_checksum
    if checksum:
        out["checksum"] = checksum
    if plan.signature:
        out["signature"] = plan.signature
    out["records"] = records
    if plan.retire:
        out["retire"] = [name(n) for n in plan.retire]
    if plan.canary:
        out["canary"] = [name(n) for n in plan.canary]
    return out


def plan_from_json(text: str) -> Plan:
    """Inverse of `Plan.to_json` (plan stores). The stored checksum becomes the declared one,
    so content altered in the store is refused by the checksum guard rather than applied.

    The content is taken as stored, not re-validated: plans the applier derives (rollbacks)
    were built from live record sets. Malformed JSON raises `PlanInvalid`.
    """
    try:
        doc = json.loads(text)
        zone = fqdn(str(doc["zone"]))
        records: list[RecordSet] = []
        min_values: dict[RecordKey, int] = {}
        for item in doc["records"]:
            rrset = RecordSet.from_dict(item)
            records.append(rrset)
            if int(item.get("min_values", 1)) != 1:
                min_values[rrset.key] = int(item["min_values"])
        return Plan(
            zone=zone,
            generation=int(doc["generation"]),
            records=tuple(sorted(records)),
            retire=tuple(sorted(fqdn(str(n)) for n in doc.get("retire", ()))),
            min_values=min_values,
            canary=tuple(sorted(fqdn(str(n)) for n in doc.get("canary", ()))),
            owner=str(doc.get("owner", DEFAULT_OWNER)),
            declared_checksum=doc.get("checksum"),
            signature=doc.get("signature"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        problem = f"stored plan: malformed JSON plan ({type(e).__name__}: {e})"
        raise PlanInvalid(problem) from e


# =========================================================================== files


# Kept for code that imported them from here.
_StrictLoader = planfile.StrictLoader
_no_duplicate_keys = planfile._no_duplicate_keys


_DEPTH_NOTE = "the parsers stop near 1,000 levels; a plan needs 5"


def load_plan(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Plan:
    """Read and validate the plan file at `path`: JSON for `.json`, YAML otherwise (YAML also
    reads JSON). Any problem, from a missing file to a bad value, raises `PlanInvalid`.

    Input is bounded: a file larger than `max_bytes` (default `planfile.max_plan_bytes()`: 32 MiB,
    or `DNSSG_MAX_PLAN_BYTES`) is refused before it is read, YAML aliases that expand too far
    (an alias bomb) or refer to themselves are refused before the document is built, and so is
    nesting deeper than the parsers go (about 1,000 levels; a plan needs 5)."""
    p = Path(path)
    try:
        limit = planfile.max_plan_bytes() if max_bytes is None else max_bytes
    except ValueError as e:
        raise PlanInvalid(f"{p}: {e}", problems=[f"{p}: {e}"]) from None
    try:
        raw = planfile.read_bounded(p, limit)
    except planfile.PlanTooLarge as e:
        size = f"{e.size:,} bytes is" if e.size is not None else "the input is"
        _file_problem(
            p,
            f"{size} more than the plan-file limit of {limit:,} bytes "
            f"(set {planfile.MAX_PLAN_BYTES_ENV} to change it)",
        )
    except OSError as e:  # missing, a directory, no permission: strerror says which
        _file_problem(p, f"cannot read: {e.strerror or e}")
    text: str | bytes
    if p.suffix.lower() == ".json" and raw.isascii() and b"\r" not in raw:
        text = raw  # JSON decodes from ASCII bytes as from their text: no second copy (9 MB for 100,000 sets)
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            _file_problem(p, f"cannot read: not UTF-8 text (byte {e.start})")
        if "\r" in text:  # universal newlines, as reading in text mode would
            text = text.replace("\r\n", "\n").replace("\r", "\n")
    del raw
    with planfile.gc_paused():
        try:
            data = _decode(p, text)
        except RecursionError:
            _file_problem(p, f"nested too deeply to be a plan ({_DEPTH_NOTE})")
        except planfile.AliasBomb as e:
            _file_problem(p, f"YAML alias expansion refused: {e}")
        del text  # the document is all that is needed now
        if data is None:
            _file_problem(p, "is empty")
        try:
            return _parse_plan(data, str(p), consume=True)
        except RecursionError:
            _file_problem(p, f"nested too deeply to be a plan ({_DEPTH_NOTE})")


def _decode(p: Path, text: str | bytes) -> Any:
    """The document in `text` (JSON for a .json path, else YAML), or PlanInvalid naming line and column."""
    if p.suffix.lower() == ".json":
        try:
            data = planfile.decode_json(text)
        except json.JSONDecodeError as e:
            _file_problem(p, f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}")
        except ValueError as e:
            _file_problem(p, f"invalid JSON: {e}")
    else:
        try:
            data = planfile.decode_yaml(text if isinstance(text, str) else text.decode("ascii"))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            if "nesting depth" in str(e.problem or e.context):  # libyaml's own limit (1,000 levels)
                _file_problem(p, f"nested too deeply to be a plan{where} ({_DEPTH_NOTE})")
            _file_problem(p, f"invalid YAML{where}: {e.problem or e.context}")
        except yaml.YAMLError as e:
            _file_problem(p, f"invalid YAML: {e}")
    return data


def _file_problem(path: Path, what: str) -> NoReturn:
    problem = _clip(f"{path}: {_clip(what, MAX_PROBLEM_CHARS)}", 2 * MAX_PROBLEM_CHARS)
    raise PlanInvalid(problem, problems=[problem])
