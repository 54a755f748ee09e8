"""Route 53 provider with the real service's semantics, judged by the project's one implementation
of Route 53's rules (`safeguards/route53_rules`, shipped in this plugin as `dnssg_route53_rules`).

LocalStack's stock provider hands everything to moto, which applies changes one by one, matches
DELETE against a journal of past writes, lets CREATE add duplicates, lists names as sent and pages
without record identifiers. Here:

- ChangeResourceRecordSets judges the whole batch against the zone's live sets under a lock
  (`judge_batch`: InvalidInput for shape problems, InvalidChangeBatch listing every semantic one),
  then writes the zone's new sets into moto's store in one assignment;
- ListResourceRecordSets lists in Route 53's order, names lower-case with octal escapes, pages with
  NextRecordIdentifier (`list_page`), and every routing field as written (moto drops some);
- GetChange is PENDING until `insync_after` seconds after the change (`/_dnssg/settings`, default
  from DNSSG_ROUTE53_INSYNC_AFTER, else 0), and NoSuchChange (404) for an unknown id.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from dnssg_route53_rules import Route53Error, from_wire, judge_batch, list_page, to_wire
from dnssg_route53_rules.wire import RRSet
from localstack.aws.api import CommonServiceException, RequestContext
from localstack.aws.api.route53 import (
    ChangeBatch,
    ChangeInfo,
    ChangeResourceRecordSetsResponse,
    ChangeStatus,
    GetChangeResponse,
    ListResourceRecordSetsResponse,
    NoSuchChange,
    NoSuchHostedZone,
    ResourceId,
)
from localstack.services.route53.provider import Route53Provider
from moto.route53.exceptions import NoSuchHostedZone as MotoNoSuchHostedZone
from moto.route53.models import RecordSet as MotoRecordSet
from moto.route53.models import route53_backends

from dnssg_localstack.faults import FAULTS, SETTINGS

FAULT_MESSAGES = {
    "Throttling": "Rate exceeded",
    "PriorRequestNotComplete": "The request was rejected because Route 53 was still processing a prior request.",
}
#: Attribute of a moto RecordSet holding the set exactly as judged (moto's own fields drop
#: geoproximity, CIDR and the types of numbers).
_WIRE = "_dnssg_rrset"


def _from_moto(record: Any) -> RRSet:
    """The set a moto record stands for: ours as written, or moto's (zone creation, other paths)."""
    ours = getattr(record, _WIRE, None)
    if ours is not None:
        return ours
    set_identifier = getattr(record, "set_identifier", None) or None
    routed = {
        "Region": getattr(record, "region", None) or None,
        "Failover": getattr(record, "failover", None) or None,
        "GeoLocation": getattr(record, "geo_location", None) or None,
        "MultiValueAnswer": getattr(record, "multi_value", None) or None,
    }
    wire: dict[str, Any] = {"Name": record.name, "Type": record.type_, "SetIdentifier": set_identifier}
    wire.update({k: v for k, v in routed.items() if v is not None})
    if set_identifier is not None and not any(v is not None for v in routed.values()):
        wire["Weight"] = getattr(record, "weight", None)  # moto defaults it; only weighted sets have one
    alias = getattr(record, "alias_target", None)
    if alias:
        wire["AliasTarget"] = alias
    else:
        wire["TTL"] = getattr(record, "ttl", None)
        # moto keeps the SOA as one string and others as strings or {"Value": ...}.
        wire["ResourceRecords"] = [
            {"Value": str(v["Value"] if isinstance(v, dict) else v)} for v in getattr(record, "records", None) or ()
        ]
    if getattr(record, "health_check", None):
        wire["HealthCheckId"] = record.health_check
    return from_wire(wire)


def _to_moto(rs: RRSet) -> Any:
    """A moto record for `rs` (moto's store stays the one the rest of LocalStack reads)."""
    wire = to_wire(rs)
    form: dict[str, Any] = {"Name": wire["Name"], "Type": wire["Type"]}
    if "TTL" in wire:
        form["TTL"] = str(wire["TTL"])
    if "ResourceRecords" in wire:
        form["ResourceRecords"] = [r["Value"] for r in wire["ResourceRecords"]]
    for key in ("SetIdentifier", "Region", "Failover", "HealthCheckId"):
        if key in wire:
            form[key] = str(wire[key])
    if "Weight" in wire:
        form["Weight"] = str(wire["Weight"])
    if "GeoLocation" in wire:
        form["GeoLocation"] = wire["GeoLocation"]
    if "MultiValueAnswer" in wire:
        form["MultiValueAnswer"] = "true" if wire["MultiValueAnswer"] else "false"
    if "AliasTarget" in wire:
        target = wire["AliasTarget"]
        form["AliasTarget"] = {**target, "EvaluateTargetHealth": "true" if target["EvaluateTargetHealth"] else "false"}
    record = MotoRecordSet(form)
    setattr(record, _WIRE, rs)
    return record


class _View:
    """The zone's sets as `judge_batch` reads them."""

    def __init__(self, records: list[Any]) -> None:
        self.sets: dict[tuple[str, str, str | None], RRSet] = {}
        self.by_name: dict[str, list[RRSet]] = {}
        for record in records:
            rs = _from_moto(record)
            self.sets.setdefault(rs.key, rs)
        for rs in self.sets.values():
            self.by_name.setdefault(rs.name, []).append(rs)

    def get(self, key: tuple[str, str, str | None]) -> RRSet | None:
        return self.sets.get(key)

    def at_name(self, name: str) -> list[RRSet]:
        return list(self.by_name.get(name, ()))

    def count(self) -> int:
        return len(self.sets)


class StrictRoute53Provider(Route53Provider):
    """Route53Provider whose change batches, listing and GetChange behave as Route 53's."""

    def __init__(self) -> None:
        super().__init__()
        # One lock for all zones: batches are rare and small in tests, and a single lock makes the
        # read-validate-write of each batch trivially atomic.
        self._batch_lock = threading.Lock()
        self._changes: dict[str, float] = {}

    def _zone(self, context: RequestContext, hosted_zone_id: str) -> Any:
        backend = route53_backends[context.account_id][context.partition]
        try:
            return backend.get_hosted_zone(hosted_zone_id.split("/")[-1])
        except MotoNoSuchHostedZone as error:
            raise NoSuchHostedZone(f"No hosted zone found with ID: {hosted_zone_id}") from error

    def change_resource_record_sets(
        self,
        context: RequestContext,
        hosted_zone_id: ResourceId,
        change_batch: ChangeBatch,
        **kwargs: Any,
    ) -> ChangeResourceRecordSetsResponse:
        """Judge the whole batch against the live zone, then apply all of it or nothing."""
        fault = FAULTS.take()
        if fault is not None:
            raise CommonServiceException(fault, FAULT_MESSAGES[fault], status_code=400, sender_fault=True)
        changes = list((change_batch or {}).get("Changes") or [])
        with self._batch_lock:
            zone = self._zone(context, hosted_zone_id)
            view = _View(zone.rrsets)
            try:
                overlay = judge_batch(zone.name, view, changes, SETTINGS.quotas())
            except Route53Error as error:
                raise CommonServiceException(
                    error.code, error.message, status_code=error.status, sender_fault=True
                ) from None
            kept = [r for r in zone.rrsets if _from_moto(r).key not in overlay]
            # One assignment: readers see the old or the new list.
            zone.rrsets = kept + [_to_moto(rs) for rs in overlay.values() if rs is not None]
            change_id = f"C{uuid.uuid4().hex[:13].upper()}"
            self._changes[change_id] = time.monotonic()
        return ChangeResourceRecordSetsResponse(
            ChangeInfo=ChangeInfo(
                Id=f"/change/{change_id}",
                Status=ChangeStatus.PENDING,
                SubmittedAt=datetime.now(UTC),
                Comment=(change_batch or {}).get("Comment"),
            )
        )

    def list_resource_record_sets(
        self,
        context: RequestContext,
        hosted_zone_id: ResourceId,
        start_record_name: str | None = None,
        start_record_type: str | None = None,
        start_record_identifier: str | None = None,
        max_items: str | None = None,
        **kwargs: Any,
    ) -> ListResourceRecordSetsResponse:
        """Route 53's order, names and paging (see the module doc)."""
        zone = self._zone(context, hosted_zone_id)
        view = _View(list(zone.rrsets))
        page = list_page(
            view.sets.values(),
            start_name=start_record_name,
            start_type=start_record_type,
            start_identifier=start_record_identifier,
            max_items=max_items,
        )
        return ListResourceRecordSetsResponse(**page)

    def get_change(self, context: RequestContext, id: str, **kwargs: Any) -> GetChangeResponse:
        """PENDING until `insync_after` seconds have passed; NoSuchChange for an unknown id."""
        change_id = id.split("/")[-1]
        submitted = self._changes.get(change_id)
        if submitted is None:
            raise NoSuchChange(f"A change with the specified change ID does not exist: {change_id}")
        insync = time.monotonic() - submitted >= SETTINGS.insync_after
        return GetChangeResponse(
            ChangeInfo=ChangeInfo(
                Id=f"/change/{change_id}",
                Status=ChangeStatus.INSYNC if insync else ChangeStatus.PENDING,
                SubmittedAt=datetime.now(UTC),
            )
        )
