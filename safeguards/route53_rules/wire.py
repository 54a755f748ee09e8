"""A resource record set in a comparable form, from and to botocore's wire shape.

Numbers and booleans arrive as ints/bools (a request) or as strings (moto's XML-parsed store);
both compare equal here. Values keep their order (Route 53 compares them as a set: `same_values`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .names import canonical_name, listed_name

#: The routing fields a set identifier goes with (exactly one of them).
ROUTING_FIELDS = ("Weight", "Region", "Failover", "GeoLocation", "GeoProximityLocation", "MultiValueAnswer",
                  "CidrRoutingConfig")
POLICY_OF = {
    "Weight": "weighted",
    "Region": "latency",
    "Failover": "failover",
    "GeoLocation": "geolocation",
    "GeoProximityLocation": "geoproximity",
    "MultiValueAnswer": "multivalue",
    "CidrRoutingConfig": "cidr",
}


def _bool(value: Any) -> bool | None:
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _int(value: Any) -> int | None:
    if value is None or value == "" or value == []:
        return None
    return int(value)


def pairs(value: Any) -> tuple[tuple[str, str], ...] | None:
    """A nested mapping (GeoLocation, GeoProximityLocation, CidrRoutingConfig) as sorted pairs."""
    if not value:
        return None
    out: list[tuple[str, str]] = []
    for key, item in dict(value).items():
        if isinstance(item, Mapping):  # Coordinates: {Latitude, Longitude}
            out += [(f"{key}.{k}", str(v)) for k, v in item.items() if v not in (None, "")]
        elif item not in (None, "", []):
            out.append((str(key), str(item)))
    return tuple(sorted(out))


def unpairs(items: tuple[tuple[str, str], ...], ints: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in items:
        if "." in key:
            outer, inner = key.split(".", 1)
            out.setdefault(outer, {})[inner] = value
        else:
            out[key] = int(value) if key in ints else value
    return out


@dataclass(frozen=True)
class RRSet:
    """One record set; `name` canonical (lower-case, escapes decoded, trailing dot)."""

    name: str
    type: str
    ttl: int | None = None
    values: tuple[str, ...] = ()
    set_identifier: str | None = None
    weight: int | None = None
    region: str | None = None
    failover: str | None = None
    geo: tuple[tuple[str, str], ...] | None = None
    geoproximity: tuple[tuple[str, str], ...] | None = None
    multivalue: bool | None = None
    cidr: tuple[tuple[str, str], ...] | None = None
    health_check_id: str | None = None
    alias: tuple[str, str, bool] | None = None
    traffic_policy_instance_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.name, self.type, self.set_identifier)

    @property
    def policy(self) -> str:
        """simple, weighted, latency, failover, geolocation, geoproximity, multivalue or cidr."""
        for wire_field, attr in (
            ("Weight", "weight"), ("Region", "region"), ("Failover", "failover"), ("GeoLocation", "geo"),
            ("GeoProximityLocation", "geoproximity"), ("MultiValueAnswer", "multivalue"),
            ("CidrRoutingConfig", "cidr"),
        ):
            if getattr(self, attr) is not None:
                return POLICY_OF[wire_field]
        return "simple"

    def same_content(self, other: RRSet) -> bool:
        """Route 53's DELETE match: every field equal, values as a multiset."""
        return replace(self, values=tuple(sorted(self.values))) == replace(other, values=tuple(sorted(other.values)))

    def describe(self) -> str:
        """How Route 53's messages name a set."""
        sid = f", set-identifier='{self.set_identifier}'" if self.set_identifier is not None else ""
        return f"[name='{listed_name(self.name)}', type='{self.type}'{sid}]"


def from_wire(wire: Mapping[str, Any]) -> RRSet:
    """An `RRSet` from a ResourceRecordSet (request, response or moto's stored form)."""
    alias = wire.get("AliasTarget")
    records = wire.get("ResourceRecords") or ()
    return RRSet(
        name=canonical_name(str(wire.get("Name", ""))),
        type=str(wire.get("Type", "")).upper(),
        ttl=_int(wire.get("TTL")),
        values=tuple(str(r["Value"]) if isinstance(r, Mapping) else str(r) for r in records),
        set_identifier=None if wire.get("SetIdentifier") in (None, "") else str(wire["SetIdentifier"]),
        weight=_int(wire.get("Weight")),
        region=wire.get("Region") or None,
        failover=wire.get("Failover") or None,
        geo=pairs(wire.get("GeoLocation")),
        geoproximity=pairs(wire.get("GeoProximityLocation")),
        multivalue=_bool(wire.get("MultiValueAnswer")),
        cidr=pairs(wire.get("CidrRoutingConfig")),
        health_check_id=wire.get("HealthCheckId") or None,
        alias=None
        if not alias
        else (
            str(alias.get("HostedZoneId", "")),
            canonical_name(str(alias.get("DNSName", ""))),
            bool(_bool(alias.get("EvaluateTargetHealth"))),
        ),
        traffic_policy_instance_id=wire.get("TrafficPolicyInstanceId") or None,
    )


def to_wire(rs: RRSet) -> dict[str, Any]:
    """The ResourceRecordSet of `rs` as ListResourceRecordSets returns it (name as listed)."""
    wire: dict[str, Any] = {"Name": listed_name(rs.name), "Type": rs.type}
    if rs.set_identifier is not None:
        wire["SetIdentifier"] = rs.set_identifier
    if rs.weight is not None:
        wire["Weight"] = rs.weight
    if rs.region is not None:
        wire["Region"] = rs.region
    if rs.geo is not None:
        wire["GeoLocation"] = unpairs(rs.geo)
    if rs.failover is not None:
        wire["Failover"] = rs.failover
    if rs.multivalue is not None:
        wire["MultiValueAnswer"] = rs.multivalue
    if rs.ttl is not None:
        wire["TTL"] = rs.ttl
    if rs.values:
        wire["ResourceRecords"] = [{"Value": v} for v in rs.values]
    if rs.alias is not None:
        wire["AliasTarget"] = {"HostedZoneId": rs.alias[0], "DNSName": rs.alias[1], "EvaluateTargetHealth": rs.alias[2]}
    if rs.health_check_id is not None:
        wire["HealthCheckId"] = rs.health_check_id
    if rs.traffic_policy_instance_id is not None:
        wire["TrafficPolicyInstanceId"] = rs.traffic_policy_instance_id
    if rs.cidr is not None:
        wire["CidrRoutingConfig"] = unpairs(rs.cidr)
    if rs.geoproximity is not None:
        wire["GeoProximityLocation"] = unpairs(rs.geoproximity, ints=("Bias",))
    return wire
