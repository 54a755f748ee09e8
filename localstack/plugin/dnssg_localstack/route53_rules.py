"""Route 53 change-batch semantics, as a pure function of (zone, current record sets, batch).

No LocalStack or moto imports here: the provider (route53_strict) reads the zone from moto,
calls ``plan_batch`` and writes the result back. The rules follow the Route 53 API reference for
ChangeResourceRecordSets (see /work/shared/route53-semantics.md in the project's notes):

- the batch is a transaction: every problem is collected, and any problem rejects all changes;
- changes apply in order, so ``DELETE(observed) + CREATE(new)`` is a compare-and-set;
- DELETE must match the live set exactly: TTL, every value (in any order), set identifier and the
  routing-policy fields (weight, region, failover, geolocation, multivalue, health check, alias);
- CREATE fails when the name/type/set identifier exists; UPSERT replaces;
- a CNAME cannot share its name with other types and cannot sit at the apex; SOA and apex NS
  cannot be deleted;
- at most 1000 values and 32000 value characters per batch, UPSERT counting twice.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("CREATE", "UPSERT", "DELETE")
MAX_VALUES = 1000
MAX_VALUE_CHARS = 32000
MAX_TTL = 2147483647
ROUTING_FIELDS = ("weight", "region", "failover", "geo", "multivalue")


def canonical(name: str) -> str:
    """Compare names case-insensitively and without the trailing dot."""
    return name.lower().rstrip(".")


def fqdn(name: str) -> str:
    """The name as Route 53 shows it: with a trailing dot."""
    return name if name.endswith(".") else f"{name}."


def _bool(value: Any) -> bool | None:
    """Booleans arrive as bool (from the request) or as 'true'/'false' (from moto's XML-parsed store)."""
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _int(value: Any) -> int | None:
    if value is None or value == "" or value == []:
        return None
    return int(value)


def _value(item: Any) -> str:
    """A record value: a plain string, or {'Value': ...} (the request's and moto's SOA form)."""
    return str(item["Value"]) if isinstance(item, Mapping) else str(item)


@dataclass(frozen=True)
class RecordSet:
    """A resource record set in a comparable form (values keep their stored order)."""

    name: str
    type: str
    ttl: int | None = None
    values: tuple[str, ...] = ()
    set_identifier: str | None = None
    weight: int | None = None
    region: str | None = None
    failover: str | None = None
    geo: tuple[tuple[str, str], ...] | None = None
    multivalue: bool | None = None
    health_check_id: str | None = None
    alias: tuple[str, str, bool] | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What identifies a set: name, type and set identifier."""
        return canonical(self.name), self.type, self.set_identifier

    @property
    def routing(self) -> str:
        """The routing policy: simple, weighted, latency, failover, geolocation or multivalue."""
        if self.set_identifier is None:
            return "simple"
        for policy, present in (
            ("weighted", self.weight is not None),
            ("latency", self.region is not None),
            ("failover", self.failover is not None),
            ("geolocation", self.geo is not None),
            ("multivalue", self.multivalue is not None),
        ):
            if present:
                return policy
        return "unknown"

    def matches(self, other: RecordSet) -> bool:
        """Route 53's DELETE match: every field equal, values as a multiset (order does not matter)."""
        return (
            self.key == other.key
            and self.ttl == other.ttl
            and sorted(self.values) == sorted(other.values)
            and self.weight == other.weight
            and self.region == other.region
            and self.failover == other.failover
            and self.geo == other.geo
            and bool(self.multivalue) == bool(other.multivalue)
            and self.health_check_id == other.health_check_id
            and self.alias == other.alias
        )

    def describe(self) -> str:
        """The set as Route 53's messages name it."""
        extra = f", set-identifier='{self.set_identifier}'" if self.set_identifier is not None else ""
        return f"[name='{fqdn(self.name)}', type='{self.type}'{extra}]"


def _geo(value: Any) -> tuple[tuple[str, str], ...] | None:
    if not value:
        return None
    return tuple(sorted((str(k), str(v)) for k, v in dict(value).items() if v))


def _alias(value: Any) -> tuple[str, str, bool] | None:
    if not value:
        return None
    return (
        str(value.get("HostedZoneId", "")),
        canonical(str(value.get("DNSName", ""))),
        bool(_bool(value.get("EvaluateTargetHealth"))),
    )


def from_request(rrset: Mapping[str, Any]) -> RecordSet:
    """A ResourceRecordSet as the API request carries it (botocore shape: ints, bools, [{'Value': ...}])."""
    return RecordSet(
        name=str(rrset.get("Name", "")),
        type=str(rrset.get("Type", "")),
        ttl=_int(rrset.get("TTL")),
        values=tuple(_value(item) for item in rrset.get("ResourceRecords") or ()),
        set_identifier=rrset.get("SetIdentifier"),
        weight=_int(rrset.get("Weight")),
        region=rrset.get("Region") or None,
        failover=rrset.get("Failover") or None,
        geo=_geo(rrset.get("GeoLocation")),
        multivalue=_bool(rrset.get("MultiValueAnswer")),
        health_check_id=rrset.get("HealthCheckId") or None,
        alias=_alias(rrset.get("AliasTarget")),
        raw=rrset,
    )


def from_moto(record: Any) -> RecordSet:
    """A record set from moto's store (``moto.route53.models.RecordSet``: mostly strings, [] for absent)."""
    set_identifier = getattr(record, "set_identifier", None)
    region = getattr(record, "region", None) or None
    failover = getattr(record, "failover", None) or None
    geo = _geo(getattr(record, "geo_location", None))
    multivalue = _bool(getattr(record, "multi_value", None))
    alias = _alias(getattr(record, "alias_target", None))
    # moto defaults Weight to 0 when absent; it is only meaningful for weighted sets.
    weighted = set_identifier is not None and region is None and failover is None and geo is None and multivalue is None
    return RecordSet(
        name=str(record.name),
        type=str(record.type_),
        ttl=None if alias else _int(getattr(record, "ttl", None)),
        values=tuple(_value(item) for item in getattr(record, "records", None) or ()),
        set_identifier=set_identifier,
        weight=_int(getattr(record, "weight", None)) if weighted else None,
        region=region,
        failover=failover,
        geo=geo,
        multivalue=multivalue,
        health_check_id=getattr(record, "health_check", None) or None,
        alias=alias,
    )


def moto_form(rrset: Mapping[str, Any]) -> dict[str, Any]:
    """The dict moto's RecordSet is built from, as moto's own XML path stores it.

    moto's ListResourceRecordSets template tests fields for truth and prints them verbatim, so
    numbers and booleans are stored as the strings the XML carried ("0" is true, 0 is not).
    """
    form: dict[str, Any] = {"Name": fqdn(str(rrset["Name"])), "Type": rrset["Type"]}
    if rrset.get("TTL") is not None:
        form["TTL"] = str(rrset["TTL"])
    if rrset.get("ResourceRecords"):
        form["ResourceRecords"] = [_value(item) for item in rrset["ResourceRecords"]]
    for key in ("SetIdentifier", "Region", "Failover", "HealthCheckId"):
        if rrset.get(key) is not None:
            form[key] = str(rrset[key])
    if rrset.get("Weight") is not None:
        form["Weight"] = str(rrset["Weight"])
    if rrset.get("GeoLocation"):
        form["GeoLocation"] = {str(k): str(v) for k, v in dict(rrset["GeoLocation"]).items()}
    if rrset.get("MultiValueAnswer") is not None:
        form["MultiValueAnswer"] = "true" if _bool(rrset["MultiValueAnswer"]) else "false"
    if rrset.get("AliasTarget"):
        target = rrset["AliasTarget"]
        form["AliasTarget"] = {
            "HostedZoneId": str(target.get("HostedZoneId", "")),
            "DNSName": str(target.get("DNSName", "")),
            "EvaluateTargetHealth": "true" if _bool(target.get("EvaluateTargetHealth")) else "false",
        }
    return form


@dataclass
class BatchPlan:
    """The outcome of planning a batch: problems (reject all) or the zone's record sets afterwards."""

    problems: list[str]
    # Final record sets in order; each entry is (comparable form, the stored object or None for a new one).
    result: list[tuple[RecordSet, Any]]


def _shape_problems(action: str, rs: RecordSet, zone: str) -> list[str]:
    """Problems of one change that do not depend on the zone's contents."""
    problems: list[str] = []
    where = f"[Action={action}, Name={rs.name}, Type={rs.type}, SetIdentifier={rs.set_identifier or 'null'}]"
    if action not in ACTIONS:
        return [f"Invalid request: unknown Action '{action}' in Change with {where}"]
    name = canonical(rs.name)
    if not (name == zone or name.endswith(f".{zone}")):
        problems.append(f"RRSet with DNS name {fqdn(rs.name)} is not permitted in zone {fqdn(zone)}")
    labels = name.split(".")
    if len(name) + 1 > 255 or any(len(label) > 63 for label in labels) or any(not label for label in labels):
        problems.append(f"Invalid request: DNS name {fqdn(rs.name)} is not a valid domain name")
    if (rs.alias is None) == (rs.ttl is None or not rs.values):
        problems.append(
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]], "
            f"in Change with {where}"
        )
    if rs.ttl is not None and not 0 <= rs.ttl <= MAX_TTL:
        problems.append(f"Invalid request: TTL {rs.ttl} out of range in Change with {where}")
    policies = sum(getattr(rs, name) is not None for name in ROUTING_FIELDS)
    if rs.set_identifier is None and policies:
        problems.append(f"Invalid request: Missing field 'SetIdentifier' in Change with {where}")
    if rs.set_identifier is not None and policies != 1:
        problems.append(f"Invalid request: a set identifier needs exactly one routing policy in Change with {where}")
    if action != "DELETE":
        problems.extend(_value_problems(rs, zone))
    return problems


def _value_problems(rs: RecordSet, zone: str) -> list[str]:
    problems: list[str] = []
    if rs.type == "CNAME":
        if canonical(rs.name) == zone:
            problems.append(
                f"RRSet of type CNAME with DNS name {fqdn(rs.name)} is not permitted at apex in zone {fqdn(zone)}"
            )
        if len(rs.values) > 1:
            problems.append(f"RRSet of type CNAME with DNS name {fqdn(rs.name)} has more than one value")
    for value in rs.values:
        try:
            if rs.type == "A":
                ipaddress.IPv4Address(value)
            elif rs.type == "AAAA":
                ipaddress.IPv6Address(value)
        except ValueError:
            problems.append(f"Invalid Resource Record: FATAL problem: {value!r} is not a valid {rs.type} value")
    return problems


def _limit_problems(changes: list[tuple[str, RecordSet]]) -> list[str]:
    count = chars = 0
    for action, rs in changes:
        factor = 2 if action == "UPSERT" else 1
        count += factor * len(rs.values)
        chars += factor * sum(len(value) for value in rs.values)
    problems = []
    if count > MAX_VALUES:
        problems.append(f"Number of records limit of {MAX_VALUES} exceeded.")
    if chars > MAX_VALUE_CHARS:
        problems.append(f"Total value length limit of {MAX_VALUE_CHARS} characters exceeded.")
    return problems


def plan_batch(
    zone_name: str, current: Iterable[tuple[RecordSet, Any]], changes: list[tuple[str, RecordSet]]
) -> BatchPlan:
    """Apply changes in order to a copy of the zone; collect every problem.

    current: the zone's sets as (comparable form, stored object). changes: (action, set) from the request.
    """
    zone = canonical(zone_name)
    state: dict[tuple[str, str, str | None], tuple[RecordSet, Any]] = {}
    # Duplicates cannot arise here, but a zone written by other paths (stock moto) may hold some:
    # keep them as they are unless the batch writes their key.
    duplicates: list[tuple[RecordSet, Any]] = []
    for rs, stored in current:
        if rs.key in state:
            duplicates.append((rs, stored))
        else:
            state[rs.key] = (rs, stored)
    problems = _limit_problems(changes)
    touched: set[tuple[str, str]] = set()
    for action, rs in changes:
        shape = _shape_problems(action, rs, zone)
        if shape:
            problems.extend(shape)
            continue
        live = state.get(rs.key)
        if action == "DELETE":
            if rs.type == "SOA" or (rs.type == "NS" and canonical(rs.name) == zone):
                problems.append(f"A HostedZone must contain at least one {rs.type} record for the zone itself.")
            elif live is None:
                problems.append(f"Tried to delete resource record set {rs.describe()} but it was not found")
            elif not live[0].matches(rs):
                problems.append(
                    f"Tried to delete resource record set {rs.describe()} "
                    "but the values provided do not match the current values"
                )
            else:
                del state[rs.key]
            continue
        if action == "CREATE" and live is not None:
            problems.append(f"Tried to create resource record set {rs.describe()} but it already exists")
            continue
        state[rs.key] = (rs, None)
        touched.add((canonical(rs.name), rs.type))
    written = {key for key in state if (key[0], key[1]) in touched}
    result = list(state.values()) + [entry for entry in duplicates if entry[0].key not in written]
    problems.extend(_coexistence_problems(zone, result, touched))
    return BatchPlan(problems=problems, result=[] if problems else result)


def _coexistence_problems(
    zone: str, state: Iterable[tuple[RecordSet, Any]], touched: set[tuple[str, str]]
) -> list[str]:
    """CNAME beside other types, and mixed routing policies, at the names the batch wrote."""
    by_name: dict[str, list[RecordSet]] = {}
    for rs, _ in state:
        by_name.setdefault(canonical(rs.name), []).append(rs)
    problems: list[str] = []
    for name, rtype in sorted(touched):
        sets = by_name.get(name, [])
        types = {rs.type for rs in sets}
        if "CNAME" in types and len(types) > 1:
            other = sorted(types - {"CNAME"})[0] if rtype == "CNAME" else rtype
            problems.append(
                f"RRSet of type CNAME with DNS name {fqdn(name)} is not permitted because a conflicting RRSet "
                f"of type {other} with the same DNS name already exists in zone {fqdn(zone)}"
            )
        policies = {rs.routing for rs in sets if rs.type == rtype}
        if len(policies) > 1:
            problems.append(
                f"RRSet with DNS name {fqdn(name)}, type {rtype} cannot be created because sets with another "
                f"routing policy ({', '.join(sorted(policies))}) exist with the same name and type"
            )
    return problems
