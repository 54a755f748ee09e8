"""ChangeResourceRecordSets: judge a whole batch against the zone, all or nothing.

Two kinds of refusal, as Route 53 makes them:

- `InvalidInput` for a request that does not fit the API's shape (empty `Changes`, unknown action
  or type, TTL/weight/set identifier/value length out of the model's range, a change with neither
  an alias nor TTL and records, a set identifier without exactly one routing field): the first
  "Invalid request" or every "validation error", nothing judged against the zone;
- `InvalidChangeBatch` for every semantic problem, collected over the whole batch in order and
  always bracketed: "[problem]" or "[problem one, problem two]".

Changes apply in order, so DELETE(observed) + CREATE(new) is a compare-and-set; UPSERT of the
apex NS/SOA is allowed (only their DELETE is refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .names import canonical_name, in_zone, listed_name, name_problem
from .rdata import TYPES, value_problem
from .wire import ROUTING_FIELDS, RRSet, from_wire

ACTIONS = ("CREATE", "DELETE", "UPSERT")
FAILOVER = ("PRIMARY", "SECONDARY")
MAX_TTL = 2147483647
MAX_SET_IDENTIFIER = 128
MAX_WEIGHT = 255

Key = tuple[str, str, "str | None"]


@dataclass(frozen=True)
class Quotas:
    """Route 53's quotas; `sets_per_zone` is an account quota (10,000 by default), so configurable."""

    values_per_set: int = 400
    chars_per_value: int = 4000
    records_per_request: int = 1000
    chars_per_request: int = 32000
    sets_per_zone: int = 10000


class Route53Error(Exception):
    """A refused request: Route 53's error `code`, HTTP `status`, one-line `message`, every problem."""

    def __init__(self, code: str, problems: Sequence[str], *, status: int = 400, message: str | None = None) -> None:
        self.code = code
        self.status = status
        self.problems = list(problems)
        self.message = message if message is not None else bracketed(self.problems)
        super().__init__(self.message)


def bracketed(problems: Sequence[str]) -> str:
    """Route 53's InvalidChangeBatch message: every problem in brackets, even a single one."""
    return "[" + ", ".join(problems) + "]"


class ZoneView(Protocol):
    """The zone's current sets, read inside the caller's transaction."""

    def get(self, key: Key) -> RRSet | None: ...
    def at_name(self, name: str) -> list[RRSet]: ...
    def count(self) -> int: ...


# ------------------------------------------------------------------------------ shape (InvalidInput)


def _where(action: Any, wire: Mapping[str, Any]) -> str:
    sid = wire.get("SetIdentifier")
    return (
        f"[Action={action}, Name={wire.get('Name')}, Type={wire.get('Type')}, "
        f"SetIdentifier={'null' if sid is None else sid}]"
    )


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _shape(changes: Sequence[Mapping[str, Any]], quotas: Quotas) -> None:
    constraints: list[str] = []
    requests: list[str] = []
    if not changes:
        constraints.append(
            "Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater "
            "than or equal to 1"
        )
    for i, change in enumerate(changes, start=1):
        at = f"changeBatch.changes.{i}.member"
        action = change.get("Action")
        wire = change.get("ResourceRecordSet") or {}
        if action not in ACTIONS:
            constraints.append(
                f"Value '{action}' at '{at}.action' failed to satisfy constraint: Member must satisfy enum value "
                f"set: [{', '.join(ACTIONS)}]"
            )
        rtype = str(wire.get("Type", ""))
        if rtype not in TYPES:
            constraints.append(
                f"Value '{rtype}' at '{at}.resourceRecordSet.type' failed to satisfy constraint: Member must "
                f"satisfy enum value set: [{', '.join(TYPES)}]"
            )
        sid = wire.get("SetIdentifier")
        for member, top in (("TTL", MAX_TTL), ("Weight", MAX_WEIGHT)):
            raw = wire.get(member)
            if raw is None:
                continue
            number = _integer(raw)
            field_path = f"{at}.resourceRecordSet.{'tTL' if member == 'TTL' else 'weight'}"
            if number is None:
                constraints.append(f"Value '{raw}' at '{field_path}' failed to satisfy constraint: Member must be "
                                   "an integer")
            elif not 0 <= number <= top:
                bound = f"less than or equal to {top}" if number > top else "greater than or equal to 0"
                constraints.append(f"Value '{raw}' at '{field_path}' failed to satisfy constraint: Member must have "
                                   f"value {bound}")
        if sid is not None and not 1 <= len(str(sid)) <= MAX_SET_IDENTIFIER:
            constraints.append(f"Value '{sid}' at '{at}.resourceRecordSet.setIdentifier' failed to satisfy "
                               f"constraint: Member must have length less than or equal to {MAX_SET_IDENTIFIER}")
        failover = wire.get("Failover")
        if failover is not None and failover not in FAILOVER:
            constraints.append(f"Value '{failover}' at '{at}.resourceRecordSet.failover' failed to satisfy "
                               f"constraint: Member must satisfy enum value set: [{', '.join(FAILOVER)}]")
        for j, record in enumerate(wire.get("ResourceRecords") or (), start=1):
            value = str(record["Value"]) if isinstance(record, Mapping) else str(record)
            if len(value) > quotas.chars_per_value:
                constraints.append(
                    f"Value '{value[:20]}...' at '{at}.resourceRecordSet.resourceRecords.{j}.member.value' failed "
                    f"to satisfy constraint: Member must have length less than or equal to {quotas.chars_per_value}"
                )
        where = _where(action, wire)
        has_records = wire.get("TTL") is not None and bool(wire.get("ResourceRecords"))
        kinds = sum((bool(wire.get("AliasTarget")), has_records, bool(wire.get("TrafficPolicyInstanceId"))))
        if kinds != 1:
            requests.append(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or "
                f"TrafficPolicyInstanceId], but found {'none' if kinds == 0 else 'more than one'} in Change with "
                f"{where}"
            )
        elif wire.get("AliasTarget") and wire.get("TTL") is not None:
            requests.append(f"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                            f"ResourceRecords], or TrafficPolicyInstanceId], but found more than one in Change with "
                            f"{where}")
        routing = [f for f in ROUTING_FIELDS if wire.get(f) not in (None, "", {})]
        if sid is None and routing:
            requests.append(f"Invalid request: Missing field 'SetIdentifier' in Change with {where}")
        elif sid is not None and len(routing) != 1:
            requests.append(
                f"Invalid request: Expected exactly one of [{', '.join(ROUTING_FIELDS)}], but found "
                f"{'none' if not routing else 'more than one'} in Change with {where}"
            )
    if constraints:
        n = len(constraints)
        raise Route53Error(
            "InvalidInput", constraints, message=f"{n} validation error{'s' if n > 1 else ''} detected: "
            + "; ".join(constraints)
        )
    if requests:
        raise Route53Error("InvalidInput", requests, message=requests[0])


# ------------------------------------------------------------------------------ semantics (InvalidChangeBatch)


def _value_problems(rs: RRSet, raw_name: str, zone: str, quotas: Quotas) -> list[str]:
    out: list[str] = []
    problem = name_problem(raw_name)
    if problem:
        out.append(problem)
    if not in_zone(rs.name, zone):
        out.append(f"RRSet with DNS name {listed_name(rs.name)} is not permitted in zone {listed_name(zone)}")
    if len(rs.values) > quotas.values_per_set:
        out.append(f"RRSet with DNS name {listed_name(rs.name)}, type {rs.type} has {len(rs.values)} resource "
                   f"records: the limit is {quotas.values_per_set}")
    if len(set(rs.values)) != len(rs.values):
        out.append(f"Duplicate Resource Record: RRSet with DNS name {listed_name(rs.name)}, type {rs.type}")
    for value in rs.values:
        bad = value_problem(rs.type, value)
        if bad:
            out.append(bad)
    if rs.type == "CNAME" and len(rs.values) > 1:
        out.append(f"RRSet of type CNAME with DNS name {listed_name(rs.name)} has more than one resource record")
    if rs.type == "CNAME" and rs.name == zone:
        out.append(f"RRSet of type CNAME with DNS name {listed_name(rs.name)} is not permitted at apex in zone "
                   f"{listed_name(zone)}")
    if rs.type == "NS" and rs.name.startswith("*."):
        out.append(f"RRSet of type NS with DNS name {listed_name(rs.name)} is not permitted: a wildcard cannot be "
                   "an NS record")
    if rs.type == "SOA" and rs.name != zone:
        out.append(f"RRSet of type SOA with DNS name {listed_name(rs.name)} is not permitted: SOA only at the apex")
    return out


def judge_batch(
    zone_name: str, zone: ZoneView, changes: Sequence[Mapping[str, Any]], quotas: Quotas = Quotas()
) -> dict[Key, RRSet | None]:
    """The batch's effect on the zone ({key: set after, None = deleted}) if Route 53 accepts it.

    Raises `Route53Error` (InvalidInput or InvalidChangeBatch) otherwise; `changes` are the
    request's `Changes` in botocore's shape. O(changes + sets at the names they touch).
    """
    _shape(changes, quotas)
    zone_name = canonical_name(zone_name)
    problems: list[str] = []
    overlay: dict[Key, RRSet | None] = {}
    touched: dict[Key, RRSet] = {}
    records = chars = 0

    def current(key: Key) -> RRSet | None:
        return overlay[key] if key in overlay else zone.get(key)

    for change in changes:
        action = str(change["Action"])
        raw = change["ResourceRecordSet"]
        rs = from_wire(raw)
        factor = 2 if action == "UPSERT" else 1
        records += factor * max(1, len(rs.values))
        chars += factor * sum(len(v) for v in rs.values)
        live = current(rs.key)
        if action == "DELETE":
            if rs.name == zone_name and rs.type in ("SOA", "NS"):
                problems.append(f"A HostedZone must contain at least one {rs.type} record for the zone itself.")
            elif live is None:
                problems.append(f"Tried to delete resource record set {rs.describe()} but it was not found")
            elif not live.same_content(rs):
                problems.append(f"Tried to delete resource record set {rs.describe()} but the values provided do "
                                "not match the current values")
            else:
                overlay[rs.key] = None
            continue
        own = _value_problems(rs, str(raw.get("Name", "")), zone_name, quotas)
        if own:
            problems += own
            continue
        if action == "CREATE" and live is not None:
            problems.append(f"Tried to create resource record set {rs.describe()} but it already exists")
            continue
        overlay[rs.key] = rs
        touched[rs.key] = rs
    if records > quotas.records_per_request:
        problems.append(f"Number of records limit of {quotas.records_per_request} exceeded.")
    if chars > quotas.chars_per_request:
        problems.append(f"RDATA character limit of {quotas.chars_per_request} exceeded.")
    problems += _name_rules(zone_name, zone, overlay, touched)
    added = sum(1 for k, v in overlay.items() if v is not None and zone.get(k) is None)
    removed = sum(1 for k, v in overlay.items() if v is None and zone.get(k) is not None)
    if zone.count() + added - removed > quotas.sets_per_zone:
        problems.append(f"The resource record set limit of {quotas.sets_per_zone} for hosted zone "
                        f"{listed_name(zone_name)} would be exceeded.")
    if problems:
        raise Route53Error("InvalidChangeBatch", problems)
    return overlay


def _name_rules(zone_name: str, zone: ZoneView, overlay: dict[Key, RRSet | None],
                touched: dict[Key, RRSet]) -> list[str]:
    """Rules between the sets of one name after the batch, judged for the sets the batch wrote."""
    out: list[str] = []
    by_name: dict[str, dict[Key, RRSet]] = {}
    for name in sorted({k[0] for k in touched}):
        sets = {r.key: r for r in zone.at_name(name)}
        for key, after in overlay.items():
            if key[0] == name:
                if after is None:
                    sets.pop(key, None)
                else:
                    sets[key] = after
        by_name[name] = sets
    reported: set[tuple[str, str]] = set()
    for key, rs in touched.items():
        present = list(by_name[rs.name].values())
        n, zone_listed = listed_name(rs.name), listed_name(zone_name)
        types = {r.type for r in present}
        if rs.type == "CNAME" and len(types) > 1:
            out.append(f"RRSet of type CNAME with DNS name {n} is not permitted as it conflicts with other records "
                       f"with the same DNS name in zone {zone_listed}")
        elif rs.type != "CNAME" and "CNAME" in types:
            out.append(f"RRSet of type {rs.type} with DNS name {n} is not permitted because a conflicting RRSet of "
                       f"type CNAME with the same DNS name already exists in zone {zone_listed}")
        same = [r for r in present if r.type == rs.type and r.key != key]
        if not same:
            continue
        if rs.set_identifier is None:
            out.append(f"RRSet with DNS name {n}, type {rs.type} cannot be created as other RRSets exist with the "
                       "same name and type.")
            continue
        sid = f"RRSet with DNS name {n}, type {rs.type}, SetIdentifier {rs.set_identifier}"
        others = {r.policy for r in same}
        if others != {rs.policy}:
            out.append(f"{sid} cannot be created as a non-{rs.policy} set exists with the same name and type.")
            continue
        out += _policy_rules(sid, rs, same)
        reported.add((rs.name, rs.type))
    return out


def _policy_rules(sid: str, rs: RRSet, same: list[RRSet]) -> list[str]:
    """One routing policy's own rules between the sets of one name and type."""
    out: list[str] = []
    if rs.policy == "weighted" and any(r.ttl != rs.ttl for r in same):
        other = next(r.ttl for r in same if r.ttl != rs.ttl)
        out.append(f"{sid} has TTL {rs.ttl}, but weighted sets with the same name and type must have one TTL "
                   f"({other})")
    if rs.policy == "latency" and any(r.region == rs.region for r in same):
        out.append(f"{sid} cannot be created as a latency set for region {rs.region} already exists with the same "
                   "name and type.")
    if rs.policy == "failover" and any(r.failover == rs.failover for r in same):
        out.append(f"{sid} cannot be created as a {rs.failover} failover set already exists with the same name and "
                   "type.")
    if rs.policy == "geolocation" and any(r.geo == rs.geo for r in same):
        where = ", ".join(f"{k}={v}" for k, v in rs.geo or ())
        out.append(f"{sid} cannot be created as a geolocation set for {where} already exists with the same name "
                   "and type.")
    if rs.policy == "cidr" and any(r.cidr == rs.cidr for r in same):
        out.append(f"{sid} cannot be created as a CIDR set for the same location already exists with the same "
                   "name and type.")
    return out
