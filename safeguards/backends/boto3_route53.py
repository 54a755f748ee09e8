"""Route 53 through boto3: AWS itself, LocalStack or a moto server (`endpoint_url`).

This is the only module that knows Route 53's wire shapes; it turns them into canonical
`RecordSet`s and botocore's failures into the library's exceptions (see `safeguards.backend`).

Every routing policy is modelled (`RecordSet`'s routing fields): weighted, latency, failover,
geolocation, geoproximity, multivalue answer and IP-based (CIDR), and `HealthCheckId` on any set, so
a compare-and-set DELETE names exactly what was read. Only a set created by a traffic policy
instance is refused (`InvalidInput` naming it): its content belongs to the traffic policy.

Aliases: TTL 0 and a single value ``ALIAS <hosted-zone-id> <dns-name> evaluate=<true|false>``
(`safeguards.records.alias_value`); `record_set_to_wire` turns it back into an `AliasTarget`.

Retries: `make_route53_client` gives botocore's standard retry mode, 3 attempts in all, 5 s connect and
30 s read timeouts; the applier adds its own bounded retries with full jitter on top
(`safeguards.retry`). A retried compare-and-set batch that had already been applied is rejected
by Route 53, and the applier tells that case apart by reading back.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from .. import records
from ..errors import (
    BackendError,
    BatchRejected,
    CredentialsMissing,
    EndpointUnavailable,
    InvalidInput,
    OutcomeUnknown,
    PriorRequestNotComplete,
    Throttled,
    ZoneNotFound,
)
from ..records import ALIAS_PREFIX, Change, ChangeInfo, RecordSet, fqdn  # noqa: F401 (ALIAS_PREFIX re-exported)
from ..route53_rules.wire import pairs, unpairs

T = TypeVar("T")

#: Error codes meaning "rate exceeded": nothing applied, retry with backoff.
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
#: Error codes meaning Route 53 rejected the whole batch: nothing applied.
REJECTED_CODES = frozenset({"InvalidChangeBatch", "InvalidInput"})

_ZONE_PREFIX = "/hostedzone/"
_CHANGE_PREFIX = "/change/"
_MAX_COMMENT = 256  # Route 53's limit on a change batch comment


def make_route53_client(session: Any | None, endpoint_url: str | None, region: str) -> Any:
    """A boto3 Route 53 client with bounded botocore retries and timeouts.

    `session` is a `boto3.session.Session` (None: a new default one). botocore makes at most
    3 attempts in all in "standard" mode (`total_max_attempts`: botocore's `max_attempts` key
    counts retries, so 3 there would mean 4 attempts); the applier retries again, with full
    jitter, on top.
    """
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session(region_name=region)
    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30)
    return session.client("route53", endpoint_url=endpoint_url, region_name=region, config=config)


class NoSuchChange(InvalidInput):
    """GetChange of a change id Route 53 does not know (`NoSuchChange`, HTTP 404)."""


def alias_value(target: Mapping[str, Any]) -> str:
    """The single value that stands for an `AliasTarget` in a `RecordSet`."""
    return records.alias_value(str(target["HostedZoneId"]), str(target["DNSName"]),
                               _truthy(target.get("EvaluateTargetHealth")))


def parse_alias_value(value: str) -> dict[str, Any] | None:
    """The `AliasTarget` an alias value stands for, or None for an ordinary value."""
    try:
        parsed = records.parse_alias(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if parsed is None:
        return None
    return {"HostedZoneId": parsed[0], "DNSName": parsed[1], "EvaluateTargetHealth": parsed[2]}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def record_set_from_wire(wire: Mapping[str, Any]) -> RecordSet:
    """A canonical `RecordSet` from one ListResourceRecordSets entry (see module doc)."""
    name = fqdn(str(wire["Name"]))
    rtype = str(wire["Type"]).upper()
    ident = wire.get("SetIdentifier")
    if wire.get("TrafficPolicyInstanceId"):
        label = f"{name} {rtype}" + (f" (set identifier {ident!r})" if ident is not None else "")
        raise InvalidInput(
            f"record set {label} belongs to traffic policy instance {wire['TrafficPolicyInstanceId']}: "
            "manage it through its traffic policy, or remove the set"
        )
    values: tuple[str, ...]
    if "AliasTarget" in wire:
        ttl, values = 0, (alias_value(wire["AliasTarget"]),)
    else:
        ttl = int(wire.get("TTL", 0))
        values = tuple(sorted(str(r["Value"]) for r in wire.get("ResourceRecords", ())))
    weight = wire.get("Weight")
    multivalue = wire.get("MultiValueAnswer")
    return RecordSet(
        name=name,
        type=rtype,
        ttl=ttl,
        values=values,
        set_identifier=None if ident is None else str(ident),
        weight=None if weight is None else int(weight),
        region=wire.get("Region") or None,
        failover=wire.get("Failover") or None,
        geo=pairs(wire.get("GeoLocation")),
        geoproximity=pairs(wire.get("GeoProximityLocation")),
        multivalue=None if multivalue is None else _truthy(multivalue),
        cidr=pairs(wire.get("CidrRoutingConfig")),
        health_check_id=wire.get("HealthCheckId") or None,
    )


def record_set_to_wire(rrset: RecordSet) -> dict[str, Any]:
    """The ResourceRecordSet request shape of `rrset` (alias values become an AliasTarget)."""
    wire: dict[str, Any] = {"Name": rrset.name, "Type": rrset.type}
    if rrset.set_identifier is not None:
        wire["SetIdentifier"] = rrset.set_identifier
    if rrset.weight is not None:
        wire["Weight"] = rrset.weight
    if rrset.region is not None:
        wire["Region"] = rrset.region
    if rrset.failover is not None:
        wire["Failover"] = rrset.failover
    if rrset.geo is not None:
        wire["GeoLocation"] = unpairs(rrset.geo)
    if rrset.geoproximity is not None:
        wire["GeoProximityLocation"] = unpairs(rrset.geoproximity, ints=("Bias",))
    if rrset.multivalue is not None:
        wire["MultiValueAnswer"] = rrset.multivalue
    if rrset.cidr is not None:
        wire["CidrRoutingConfig"] = unpairs(rrset.cidr)
    if rrset.health_check_id is not None:
        wire["HealthCheckId"] = rrset.health_check_id
    target = parse_alias_value(rrset.values[0]) if len(rrset.values) == 1 else None
    if target is not None:
        wire["AliasTarget"] = target
    else:
        if any(v.startswith(records.ALIAS_PREFIX) for v in rrset.values):
            raise InvalidInput(f"record set {rrset.name} {rrset.type}: an alias value cannot share a set with others")
        wire["TTL"] = rrset.ttl
        wire["ResourceRecords"] = [{"Value": v} for v in rrset.values]
    return wire


def _strip(prefix: str, ident: str) -> str:
    return ident[len(prefix) :] if ident.startswith(prefix) else ident


def _change_info(raw: Mapping[str, Any]) -> ChangeInfo:
    submitted = raw.get("SubmittedAt")
    return ChangeInfo(
        id=_strip(_CHANGE_PREFIX, str(raw["Id"])),
        status=str(raw["Status"]),  # type: ignore[arg-type]
        submitted_at=submitted.timestamp() if submitted is not None else 0.0,
        comment=str(raw.get("Comment", "")),
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _problems(response: Mapping[str, Any]) -> list[str]:
    """Every problem Route 53 listed for a rejected batch, one line each."""
    error = response.get("Error", {})
    listed = response.get("Messages") or error.get("Messages")
    if isinstance(listed, Mapping):  # <Messages><Message>..</Message></Messages>
        listed = listed.get("Message")
    if isinstance(listed, str):
        listed = [listed]
    if listed:
        return [_one_line(m) for m in listed if str(m).strip()]
    message = _one_line(error.get("Message", "")).strip()
    # AWS wraps several problems as "[problem one, problem two]".
    if message.startswith("[") and message.endswith("]"):
        message = message[1:-1]
    return [message] if message else ["no reason given"]


class Boto3Route53:
    """`Route53Backend` over a boto3 Route 53 client (AWS, LocalStack or moto)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._zone_ids: dict[str, str] = {}
        self._zone_names: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The endpoint URL this backend talks to (for messages)."""
        return str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "Route 53")

    # ------------------------------------------------------------------ zones

    def resolve_zone(self, zone_name: str, *, create: bool = False) -> str:
        """Hosted zone id (without "/hostedzone/") for `zone_name`; create it when asked.

        Several hosted zones with the same name (public and private, or a duplicate) are
        refused: which one is "the" zone is not ours to guess."""
        zone = fqdn(zone_name)
        with self._lock:
            cached = self._zone_ids.get(zone)
        if cached is not None:
            return cached
        ids = self._call("ListHostedZonesByName", lambda: self._find_zone_ids(zone), zone=zone, write=False)
        if not ids and create:
            ids = [self._create_zone(zone)]
        if not ids:
            raise ZoneNotFound(f"hosted zone {zone} not found")
        if len(ids) > 1:
            raise InvalidInput(
                f"hosted zone {zone} is ambiguous: {len(ids)} hosted zones have that name ({', '.join(ids)})"
            )
        with self._lock:
            self._zone_ids[zone] = ids[0]
            self._zone_names[ids[0]] = zone
        return ids[0]

    def _find_zone_ids(self, zone: str) -> list[str]:
        # Zones come sorted by reversed labels starting at DNSName: exact matches come first.
        found: list[str] = []
        kwargs: dict[str, Any] = {"DNSName": zone}
        while True:
            page = self.client.list_hosted_zones_by_name(**kwargs)
            for hz in page.get("HostedZones", []):
                if fqdn(hz["Name"]) != zone:
                    return found
                found.append(_strip(_ZONE_PREFIX, hz["Id"]))
            if not page.get("IsTruncated"):
                return found
            kwargs = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}

    def _create_zone(self, zone: str) -> str:
        # A fresh CallerReference per call: a retry after a lost response may create a second
        # zone, which the next resolve then refuses as ambiguous rather than picking one.
        ref = f"dns-safeguards-{uuid.uuid4()}"
        resp = self._call(
            "CreateHostedZone", lambda: self.client.create_hosted_zone(Name=zone, CallerReference=ref), zone=zone
        )
        return _strip(_ZONE_PREFIX, resp["HostedZone"]["Id"])

    def _zone_label(self, zone_id: str) -> str:
        with self._lock:
            name = self._zone_names.get(zone_id)
        return f"{name} ({zone_id})" if name else f"hosted zone {zone_id}"

    # ------------------------------------------------------------------ record sets

    def list_record_sets(self, zone_id: str) -> list[RecordSet]:
        """Every record set of the zone, all pages, canonical and sorted."""
        zone_id = _strip(_ZONE_PREFIX, zone_id)
        wire = self._call("ListResourceRecordSets", lambda: list(self._pages(zone_id)), zone_id=zone_id, write=False)
        return sorted(record_set_from_wire(w) for w in wire)

    def _pages(self, zone_id: str) -> Iterator[Mapping[str, Any]]:
        # Emulators that ignore StartRecordIdentifier restart a page at the first set of the
        # name and type: drop sets an earlier page already gave, and stop if a page adds none.
        kwargs: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": "300"}
        seen: set[tuple[str, str, str | None]] = set()
        while True:
            page = self.client.list_resource_record_sets(**kwargs)
            fresh = [
                w
                for w in page.get("ResourceRecordSets", [])
                if (str(w["Name"]), str(w["Type"]), w.get("SetIdentifier")) not in seen
            ]
            yield from fresh
            if not page.get("IsTruncated"):
                return
            if not fresh:
                raise BackendError(
                    f"{self._zone_label(zone_id)}: ListResourceRecordSets paging did not advance at "
                    f"{page.get('NextRecordName')} {page.get('NextRecordType')} "
                    "(does the endpoint ignore StartRecordIdentifier?)"
                )
            seen.update((str(w["Name"]), str(w["Type"]), w.get("SetIdentifier")) for w in fresh)
            kwargs = {"HostedZoneId": zone_id, "MaxItems": "300", "StartRecordName": page["NextRecordName"]}
            if "NextRecordType" in page:
                kwargs["StartRecordType"] = page["NextRecordType"]
            if "NextRecordIdentifier" in page:
                kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]

    def list_record_sets_page(
        self, zone_id: str, start: tuple[str, str | None, str | None] | None = None, max_items: int = 300
    ) -> tuple[list[RecordSet], tuple[str, str | None, str | None] | None]:
        """One ListResourceRecordSets request from `start` (StartRecordName, StartRecordType,
        StartRecordIdentifier; `safeguards.backend.RangedListing`): the page's sets, canonical, in
        Route 53's order, and where the next page starts (None: the zone ends there)."""
        zone_id = _strip(_ZONE_PREFIX, zone_id)
        kwargs: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": str(max(1, min(300, int(max_items))))}
        if start is not None:
            name, rtype, ident = start
            kwargs["StartRecordName"] = name
            if rtype:
                kwargs["StartRecordType"] = rtype
                if ident is not None:
                    kwargs["StartRecordIdentifier"] = ident
        page = self._call(
            "ListResourceRecordSets", lambda: self.client.list_resource_record_sets(**kwargs), zone_id=zone_id,
            write=False,
        )
        sets = [record_set_from_wire(w) for w in page.get("ResourceRecordSets", [])]
        if not page.get("IsTruncated"):
            return sets, None
        return sets, (str(page["NextRecordName"]), page.get("NextRecordType"), page.get("NextRecordIdentifier"))

    def change_record_sets(self, zone_id: str, changes: Sequence[Change], comment: str = "") -> ChangeInfo:
        """Submit one batch (ChangeResourceRecordSets); all of it applies or none."""
        zone_id = _strip(_ZONE_PREFIX, zone_id)
        batch: dict[str, Any] = {
            "Changes": [{"Action": c.action, "ResourceRecordSet": record_set_to_wire(c.rrset)} for c in changes]
        }
        if comment:
            batch["Comment"] = comment[:_MAX_COMMENT]
        resp = self._call(
            "ChangeResourceRecordSets",
            lambda: self.client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch),
            zone_id=zone_id,
        )
        return _change_info(resp["ChangeInfo"])

    def get_change(self, change_id: str) -> ChangeInfo:
        """Status of a submitted batch (GetChange)."""
        change_id = _strip(_CHANGE_PREFIX, change_id)
        resp = self._call("GetChange", lambda: self.client.get_change(Id=change_id), write=False)
        return _change_info(resp["ChangeInfo"])

    # ------------------------------------------------------------------ error mapping

    def _call(self, operation: str, fn: Callable[[], T], *, zone: str = "", zone_id: str = "", write: bool = True) -> T:
        """Run one API call, mapping botocore's failures to the library's exceptions.

        `write` says whether a lost response leaves the outcome unknown (a write) or just
        needs the read repeated (a read: mapped to the retryable `Throttled`)."""
        import botocore.exceptions as bx

        where = zone or (self._zone_label(zone_id) if zone_id else "Route 53")
        try:
            return fn()
        except bx.ClientError as exc:
            raise self._map_client_error(operation, where, exc, zone_id) from exc
        except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
            raise CredentialsMissing(
                f"{operation} on {self.endpoint}: no AWS credentials found "
                "(set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
            ) from exc
        except bx.ParamValidationError as exc:
            raise InvalidInput(
                f"{operation} for {where}: request refused before sending: {_one_line(str(exc))}"
            ) from exc
        except (bx.ConnectTimeoutError, bx.EndpointConnectionError, bx.ProxyConnectionError, bx.SSLError) as exc:
            # The request never reached Route 53: nothing applied.
            raise EndpointUnavailable(
                f"cannot reach Route 53 endpoint {self.endpoint} ({type(exc).__name__}) during {operation} for {where}"
            ) from exc
        except (bx.ReadTimeoutError, bx.ConnectionClosedError, bx.ResponseStreamingError, bx.HTTPClientError) as exc:
            if write:
                raise OutcomeUnknown(
                    f"{operation} for {where}: the response was lost ({type(exc).__name__} from {self.endpoint}); "
                    "the change may or may not have been applied: read the zone back"
                ) from exc
            raise Throttled(
                f"{operation} for {where}: the response was lost ({type(exc).__name__} from {self.endpoint}); "
                "retry the read"
            ) from exc
        except bx.BotoCoreError as exc:
            raise BackendError(f"{operation} for {where}: {_one_line(str(exc))}") from exc

    def _forget(self, zone_id: str) -> None:
        # The zone was deleted behind our back: the next resolve must look again.
        with self._lock:
            name = self._zone_names.pop(zone_id, None)
            if name is not None:
                self._zone_ids.pop(name, None)

    def _map_client_error(self, operation: str, where: str, exc: Any, zone_id: str = "") -> BackendError | InvalidInput:
        response = exc.response
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = _one_line(error.get("Message", "")) or code or f"HTTP {status}"
        if code in REJECTED_CODES or (not code and (response.get("Messages") or error.get("Messages"))):
            problems = _problems(response)
            rejected = BatchRejected(
                f"{where}: Route 53 rejected the change batch ({code or 'InvalidChangeBatch'}), nothing applied: "
                + "; ".join(problems),
                problems=problems,
            )
            rejected.code = code or "InvalidChangeBatch"  # type: ignore[attr-defined]
            return rejected
        if code == "PriorRequestNotComplete":
            return PriorRequestNotComplete(
                f"{where}: Route 53 is still processing an earlier change to the zone ({operation}); retry later"
            )
        if code in THROTTLING_CODES or status == 429:
            return Throttled(f"{where}: {operation} throttled by Route 53 ({code or 'HTTP 429'}): {message}")
        if code == "NoSuchChange":
            return NoSuchChange(f"{operation}: change not found ({message})")
        if code == "NoSuchHostedZone":
            self._forget(zone_id)
            label = where if where.startswith("hosted zone") else f"hosted zone {where}"
            return ZoneNotFound(f"{label} not found ({operation}: {message})")
        if code in ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"):
            return CredentialsMissing(f"{where}: {operation} refused by {self.endpoint}, credentials invalid ({code})")
        if status >= 500:
            return Throttled(f"{where}: {operation} failed on the server side (HTTP {status} {code}): {message}; retry")
        return BackendError(f"{where}: {operation} failed ({code or f'HTTP {status}'}): {message}")
