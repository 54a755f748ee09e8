"""The plan store on DynamoDB (AWS, LocalStack, moto): every write is one conditional
request or one transaction, so no decision rests on a read another writer could invalidate.

Layout (see `safeguards.stores.schema`):

- plan table, item (zone, generation >= 1): `plan` = `Plan.to_json()`, `checksum`.
- plan table, meta item (zone, generation = 0): `last_allocated` (highest generation handed out
  or stored), `applied_generation`, `applied_checksum`, `last_known_good`, `circuit_open`,
  `circuit_reason`, `consecutive_failures`.
- lease table, item (zone): `holder`, `epoch`, `expires_at` (wall-clock seconds). A lease is
  never deleted, only expired (release sets `expires_at` to 0), so the epoch only ever rises.

"Current lease" means the lease item still names the same holder and epoch. An expired lease
that nobody took over is still current: nothing can have been written under another epoch.
Writes under a lease (`delete_plan`, `record_applied`) are `TransactWriteItems` with a
`ConditionCheck` on the lease item, so a lease taken over between our check and our write is
impossible by construction.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..clock import Clock, SystemClock
from ..errors import (
    BackendError,
    CredentialsMissing,
    EndpointUnavailable,
    InvalidInput,
    LeaseLost,
    OutcomeUnknown,
    SafeguardsError,
    Throttled,
)
from ..plan import Plan
from ..planstore import Lease, ZoneState, process_is_dead, scope, this_process

T = TypeVar("T")

META = 0  # sort key of the zone's meta item in the plan table

_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "TransactionConflictException",
    }
)
_CONDITION_FAILED = "ConditionalCheckFailed"
_MAX_LOOPS = 8  # bound on retries of a multi-step protocol that lost a race


def make_dynamodb_client(session: Any | None, endpoint_url: str | None, region: str) -> Any:
    """A boto3 DynamoDB client with bounded botocore retries (3 attempts in all) and timeouts."""
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session(region_name=region)
    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30)
    return session.client("dynamodb", endpoint_url=endpoint_url, region_name=region, config=config)


def map_botocore_error(what: str, exc: BaseException, *, endpoint: str, write: bool) -> SafeguardsError:
    """The library exception for a botocore failure of a DynamoDB call (`what` names it)."""
    import botocore.exceptions as bx

    one_line = " ".join(str(exc).split())
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _THROTTLING or status == 429 or status >= 500:
            return Throttled(f"{what}: DynamoDB busy ({code or f'HTTP {status}'}); retry")
        if code == "ResourceNotFoundException":
            return BackendError(
                f"{what}: DynamoDB table not found on {endpoint} (create it with "
                "safeguards.stores.schema.ensure_tables or the Pulumi program)"
            )
        if code in ("UnrecognizedClientException", "InvalidClientTokenId", "MissingAuthenticationToken"):
            return CredentialsMissing(f"{what}: DynamoDB refused the credentials ({code})")
        return BackendError(f"{what}: {one_line}")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return CredentialsMissing(
            f"{what}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
        )
    if isinstance(exc, (bx.ConnectTimeoutError, bx.EndpointConnectionError, bx.ProxyConnectionError, bx.SSLError)):
        return EndpointUnavailable(f"cannot reach DynamoDB endpoint {endpoint} ({type(exc).__name__}) during {what}")
    if isinstance(exc, bx.HTTPClientError):  # read timeout, connection closed: the request was sent
        if write:
            return OutcomeUnknown(f"{what}: response lost ({type(exc).__name__} from {endpoint}); outcome unknown")
        return Throttled(f"{what}: response lost ({type(exc).__name__} from {endpoint}); retry the read")
    return BackendError(f"{what}: {one_line}")


# ---------------------------------------------------------------------- attribute values


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    # Fixed notation: DynamoDB numbers are decimal strings.
    return {"N": str(value) if isinstance(value, int) else f"{value:.6f}"}


def _int(item: Mapping[str, Any], name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def _str(item: Mapping[str, Any], name: str) -> str | None:
    return str(item[name]["S"]) if name in item else None


class _Cancelled(Exception):
    """A transaction was cancelled; `reasons` holds one code per item ("None" if it passed)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class DynamoPlanStore:
    """`PlanStore` on two DynamoDB tables (see module doc). Thread-safe: holds no state but
    the client, and botocore clients are thread-safe."""

    def __init__(self, client: Any, *, plan_table: str, lease_table: str, clock: Clock | None = None) -> None:
        self.client = client
        self.plan_table = plan_table
        self.lease_table = lease_table
        self.clock = clock or SystemClock()

    # ------------------------------------------------------------------ plumbing

    @property
    def endpoint(self) -> str:
        """The endpoint URL (for messages)."""
        return str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "DynamoDB")

    def _call(self, what: str, fn: Callable[[], T], *, write: bool = True) -> T:
        import botocore.exceptions as bx

        try:
            return fn()
        except (bx.ClientError, bx.BotoCoreError) as exc:
            raise map_botocore_error(what, exc, endpoint=self.endpoint, write=write) from exc

    def _conditional(self, what: str, fn: Callable[[], T]) -> T | None:
        """Run a conditional write; None when its condition failed."""
        import botocore.exceptions as bx

        try:
            return fn()
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise map_botocore_error(what, exc, endpoint=self.endpoint, write=True) from exc
        except bx.BotoCoreError as exc:
            raise map_botocore_error(what, exc, endpoint=self.endpoint, write=True) from exc

    def _transact(self, what: str, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems; raises `_Cancelled` with per-item reasons when a condition fails.

        A fresh ClientRequestToken makes botocore's own retries of this call idempotent."""
        import botocore.exceptions as bx

        token = str(uuid.uuid4())
        for _ in range(_MAX_LOOPS):
            try:
                self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return
            except bx.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise map_botocore_error(what, exc, endpoint=self.endpoint, write=True) from exc
                reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
                if "TransactionConflict" in reasons and _CONDITION_FAILED not in reasons:
                    token = str(uuid.uuid4())  # another transaction touched an item: try again
                    continue
                raise _Cancelled(reasons) from exc
            except bx.BotoCoreError as exc:
                raise map_botocore_error(what, exc, endpoint=self.endpoint, write=True) from exc
        raise Throttled(f"{what}: DynamoDB transaction kept conflicting with others; retry")

    def _plan_key(self, zone: str, generation: int) -> dict[str, Any]:
        return {"zone": _s(zone), "generation": _n(generation)}

    def _lease_check(self, lease: Lease) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.lease_table,
                "Key": {"zone": _s(lease.zone)},
                "ConditionExpression": "holder = :holder AND epoch = :epoch",
                "ExpressionAttributeValues": {":holder": _s(lease.holder), ":epoch": _n(lease.epoch)},
            }
        }

    def _get(self, table: str, key: dict[str, Any], what: str) -> dict[str, Any] | None:
        resp = self._call(
            what, lambda: self.client.get_item(TableName=table, Key=key, ConsistentRead=True), write=False
        )
        return resp.get("Item")

    def _max_stored(self, zone: str) -> int:
        resp = self._call(
            f"{zone}: highest stored generation",
            lambda: self.client.query(
                TableName=self.plan_table,
                KeyConditionExpression="#z = :z AND generation > :meta",
                ExpressionAttributeNames={"#z": "zone"},
                ExpressionAttributeValues={":z": _s(zone), ":meta": _n(META)},
                ProjectionExpression="generation",
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            ),
            write=False,
        )
        items = resp.get("Items", [])
        return int(items[0]["generation"]["N"]) if items else 0

    # ------------------------------------------------------------------ plans

    def allocate_generation(self, zone: str) -> int:
        """Next generation, reserved by an atomic ADD on the meta item's `last_allocated`.

        `put_plan` raises `last_allocated` with every plan it stores, so the counter is above
        every stored generation; should a plan have been written some other way, the counter
        is lifted past it and the allocation repeated."""
        for _ in range(_MAX_LOOPS):
            resp = self._call(
                f"{zone}: allocate generation",
                lambda: self.client.update_item(
                    TableName=self.plan_table,
                    Key=self._plan_key(zone, META),
                    UpdateExpression="ADD last_allocated :one",
                    ExpressionAttributeValues={":one": _n(1)},
                    ReturnValues="UPDATED_NEW",
                ),
            )
            gen = int(resp["Attributes"]["last_allocated"]["N"])
            top = self._max_stored(zone)
            if top < gen:
                return gen
            self._raise_allocator(zone, top)
        raise BackendError(f"{zone}: could not allocate a generation above the stored ones after {_MAX_LOOPS} tries")

    def _raise_allocator(self, zone: str, floor: int) -> bool:
        """Lift `last_allocated` to `floor` unless it is there already (True if lifted)."""
        done = self._conditional(
            f"{zone}: raise generation allocator to {floor}",
            lambda: self.client.update_item(
                TableName=self.plan_table,
                Key=self._plan_key(zone, META),
                UpdateExpression="SET last_allocated = :g",
                ConditionExpression="attribute_not_exists(last_allocated) OR last_allocated < :g",
                ExpressionAttributeValues={":g": _n(floor)},
            ),
        )
        return done is not None

    def put_plan(self, plan: Plan) -> bool:
        """Store `plan` if its generation is free (True); same checksum there: False; other
        content: InvalidInput. The allocator is lifted to the plan's generation in the same
        transaction, so `allocate_generation` never hands out a stored number."""
        if plan.generation < 1:
            raise InvalidInput(f"{plan.zone}: generation must be >= 1, got {plan.generation}")
        what = f"{plan.zone}: store plan generation {plan.generation}"
        put = {
            "Put": {
                "TableName": self.plan_table,
                "Item": {
                    **self._plan_key(scope(plan.zone, plan.owner), plan.generation),
                    "plan": _s(plan.to_json()),
                    "checksum": _s(plan.checksum),
                },
                "ConditionExpression": "attribute_not_exists(generation)",
            }
        }
        lift = {
            "Update": {
                "TableName": self.plan_table,
                "Key": self._plan_key(scope(plan.zone, plan.owner), META),
                "UpdateExpression": "SET last_allocated = :g",
                "ConditionExpression": "attribute_not_exists(last_allocated) OR last_allocated < :g",
                "ExpressionAttributeValues": {":g": _n(plan.generation)},
            }
        }
        try:
            self._transact(what, [put, lift])
            return True
        except _Cancelled as cancelled:
            # Only the allocator was already at or above this generation? Then a plain
            # conditional put suffices (the allocator never goes down).
            plan_free = cancelled.reasons[:1] != [_CONDITION_FAILED]
            if plan_free and self._conditional(what, lambda: self.client.put_item(**put["Put"])) is not None:
                return True
        return self._compare_existing(plan)

    def _compare_existing(self, plan: Plan) -> bool:
        item = self._get(
            self.plan_table, self._plan_key(scope(plan.zone, plan.owner), plan.generation), f"{plan.zone}: read plan"
        )
        if item is None:  # deleted in between: still not ours to overwrite silently
            raise InvalidInput(
                f"{plan.zone}: generation {plan.generation} was used before; generations are never reused"
            )
        stored = _str(item, "checksum") or ""
        if stored == plan.checksum:
            return False
        raise InvalidInput(
            f"{plan.zone}: generation {plan.generation} is already stored with other content "
            f"(checksum {stored[:12]}…, ours {plan.checksum[:12]}…); generations are never reused"
        )

    def get_plan(self, zone: str, generation: int) -> Plan | None:
        """The stored plan, or None."""
        from ..plan import plan_from_json

        if generation < 1:
            return None
        item = self._get(self.plan_table, self._plan_key(zone, generation), f"{zone}: read plan {generation}")
        return plan_from_json(item["plan"]["S"]) if item and "plan" in item else None

    def generations(self, zone: str) -> list[int]:
        """Stored generations, ascending (all pages)."""
        gens: list[int] = []
        kwargs: dict[str, Any] = {
            "TableName": self.plan_table,
            "KeyConditionExpression": "#z = :z AND generation > :meta",
            "ExpressionAttributeNames": {"#z": "zone"},
            "ExpressionAttributeValues": {":z": _s(zone), ":meta": _n(META)},
            "ProjectionExpression": "generation",
            "ConsistentRead": True,
        }
        while True:
            resp = self._call(f"{zone}: list generations", lambda: self.client.query(**kwargs), write=False)
            gens.extend(int(i["generation"]["N"]) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return sorted(gens)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def pin_plan(self, zone: str, generation: int, under: int) -> bool:
        """Pin a plan as rollback content under generation `under` (pins only rise); False if
        the plan is gone."""
        if generation < 1:
            return False
        resp = self._conditional(
            f"{zone}: pin plan {generation}",
            lambda: self.client.update_item(
                TableName=self.plan_table,
                Key=self._plan_key(zone, generation),
                UpdateExpression="SET pinned = :g",
                ConditionExpression="attribute_exists(generation) AND (attribute_not_exists(pinned) OR pinned < :g)",
                ExpressionAttributeValues={":g": _n(under)},
            ),
        )
        if resp is not None:
            return True
        # Refused: either the plan is gone, or it is pinned at or above `under` already.
        return (
            self._get(self.plan_table, self._plan_key(zone, generation), f"{zone}: read plan {generation}") is not None
        )

    def delete_plan(self, zone: str, generation: int, lease: Lease, *, pinned_below: int | None = None) -> bool:
        """Delete one plan in a transaction conditioned on `lease` being current, on the plan
        not being the last known good, on the plan existing and (with `pinned_below`) on no
        rollback having pinned it at or above that generation. False if any failed."""
        if generation < 1 or lease.zone != zone:
            return False
        pin = {} if pinned_below is None else {"ExpressionAttributeValues": {":floor": _n(pinned_below)}}
        items = [
            self._lease_check(lease),
            {
                "ConditionCheck": {
                    "TableName": self.plan_table,
                    "Key": self._plan_key(zone, META),
                    "ConditionExpression": "attribute_not_exists(last_known_good) OR last_known_good <> :g",
                    "ExpressionAttributeValues": {":g": _n(generation)},
                }
            },
            {
                "Delete": {
                    "TableName": self.plan_table,
                    "Key": self._plan_key(zone, generation),
                    "ConditionExpression": "attribute_exists(generation)"
                    + ("" if pinned_below is None else " AND (attribute_not_exists(pinned) OR pinned < :floor)"),
                    **pin,
                }
            },
        ]
        try:
            self._transact(f"{zone}: delete plan {generation}", items)
        except _Cancelled:
            return False
        return True

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, zone: str, holder: str, ttl_seconds: float) -> Lease:
        """Renew our lease (same holder: epoch kept) or take a free or expired one (epoch + 1).
        LeaseLost names the current holder, its epoch and its expiry otherwise."""
        for _ in range(_MAX_LOOPS):
            now = self.clock.now()
            expires = now + ttl_seconds
            taken = self._renew(zone, holder, expires) or self._take_over(zone, holder, now, expires)
            if taken is not None:
                return Lease(zone, holder, int(taken["epoch"]["N"]), expires)
            current = self._get(self.lease_table, {"zone": _s(zone)}, f"{zone}: read lease")
            if current is None or _str(current, "holder") == holder:
                continue  # changed under us (released, or our own name took it): try again
            if process_is_dead(_str(current, "proc")):
                taken = self._take_from_dead(zone, holder, current, expires)
                if taken is not None:
                    return Lease(zone, holder, int(taken["epoch"]["N"]), expires)
                continue
            until = float(current["expires_at"]["N"])
            raise LeaseLost(
                f"{zone}: lease held by {_str(current, 'holder')} (epoch {_int(current, 'epoch')}) "
                f"until {until:.0f}, {max(0.0, until - now):.0f} s more; {holder} may not enact"
            )
        raise LeaseLost(f"{zone}: lease changed hands {_MAX_LOOPS} times while {holder} tried to take it")

    def _renew(self, zone: str, holder: str, expires: float) -> dict[str, Any] | None:
        """Extend the lease if `holder` holds it (expired or not: nobody else wrote since)."""
        resp = self._conditional(
            f"{zone}: renew lease of {holder}",
            lambda: self.client.update_item(
                TableName=self.lease_table,
                Key={"zone": _s(zone)},
                UpdateExpression="SET expires_at = :exp, proc = :me",
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":exp": _n(expires), ":holder": _s(holder), ":me": _s(this_process())},
                ReturnValues="ALL_NEW",
            ),
        )
        return None if resp is None else resp["Attributes"]

    def _take_over(self, zone: str, holder: str, now: float, expires: float) -> dict[str, Any] | None:
        """Take a missing or expired lease for `holder`, raising the epoch by one."""
        resp = self._conditional(
            f"{zone}: take lease for {holder}",
            lambda: self.client.update_item(
                TableName=self.lease_table,
                Key={"zone": _s(zone)},
                UpdateExpression="SET holder = :holder, expires_at = :exp, proc = :me ADD epoch :one",
                ConditionExpression="attribute_not_exists(#z) OR expires_at <= :now",
                ExpressionAttributeNames={"#z": "zone"},
                ExpressionAttributeValues={
                    ":holder": _s(holder),
                    ":exp": _n(expires),
                    ":now": _n(now),
                    ":one": _n(1),
                    ":me": _s(this_process()),
                },
                ReturnValues="ALL_NEW",
            ),
        )
        return None if resp is None else resp["Attributes"]

    def _take_from_dead(
        self, zone: str, holder: str, current: Mapping[str, Any], expires: float
    ) -> dict[str, Any] | None:
        """Take the lease of a holder whose process is gone (same host), conditioned on the
        lease still being exactly that holder's: epoch + 1, like any takeover."""
        resp = self._conditional(
            f"{zone}: take lease of a dead holder for {holder}",
            lambda: self.client.update_item(
                TableName=self.lease_table,
                Key={"zone": _s(zone)},
                UpdateExpression="SET holder = :holder, expires_at = :exp, proc = :me ADD epoch :one",
                ConditionExpression="proc = :dead AND epoch = :epoch",
                ExpressionAttributeValues={
                    ":holder": _s(holder),
                    ":exp": _n(expires),
                    ":me": _s(this_process()),
                    ":one": _n(1),
                    ":dead": current["proc"],
                    ":epoch": current["epoch"],
                },
                ReturnValues="ALL_NEW",
            ),
        )
        return None if resp is None else resp["Attributes"]

    def release_lease(self, lease: Lease) -> None:
        """Expire our lease now if it is still ours; holder and epoch stay, so the next holder
        still gets a higher epoch. A lease already lost is left alone."""
        self._conditional(
            f"{lease.zone}: release lease of {lease.holder}",
            lambda: self.client.update_item(
                TableName=self.lease_table,
                Key={"zone": _s(lease.zone)},
                UpdateExpression="SET expires_at = :zero",
                ConditionExpression="holder = :holder AND epoch = :epoch",
                ExpressionAttributeValues={":zero": _n(0), ":holder": _s(lease.holder), ":epoch": _n(lease.epoch)},
            ),
        )

    def _lease_lost(self, zone: str, lease: Lease, doing: str) -> LeaseLost:
        with contextlib.suppress(SafeguardsError):
            current = self._get(self.lease_table, {"zone": _s(zone)}, f"{zone}: read lease")
            if current is not None:
                return LeaseLost(
                    f"{zone}: lease epoch {lease.epoch} of {lease.holder} is no longer current "
                    f"({_str(current, 'holder')} holds epoch {_int(current, 'epoch')}); {doing} refused"
                )
        return LeaseLost(f"{zone}: lease epoch {lease.epoch} of {lease.holder} is no longer current; {doing} refused")

    # ------------------------------------------------------------------ zone state

    def state(self, zone: str) -> ZoneState:
        """Bookkeeping for `zone` (a default ZoneState if none)."""
        item = self._get(self.plan_table, self._plan_key(zone, META), f"{zone}: read state")
        if item is None:
            return ZoneState(zone)
        return ZoneState(
            zone=zone,
            applied_generation=_int(item, "applied_generation"),
            applied_checksum=_str(item, "applied_checksum"),
            last_known_good=_int(item, "last_known_good"),
            circuit_open=bool(item.get("circuit_open", {}).get("BOOL", False)),
            circuit_reason=_str(item, "circuit_reason") or "",
            consecutive_failures=_int(item, "consecutive_failures") or 0,
        )

    def record_applied(self, zone: str, generation: int, checksum: str, lease: Lease, *, known_good: bool) -> None:
        """Record a finished apply under `lease` (LeaseLost otherwise). Raises the applied
        generation only upwards; when `known_good`, raises last_known_good only upwards."""
        what = f"{zone}: record applied generation {generation}"
        raise_applied = {
            "Update": {
                "TableName": self.plan_table,
                "Key": self._plan_key(zone, META),
                "UpdateExpression": "SET applied_generation = :g, applied_checksum = :c"
                + (", last_known_good = :g" if known_good else ""),
                # last_known_good <= applied_generation always, so raising the one raises both.
                "ConditionExpression": "attribute_not_exists(applied_generation) OR applied_generation < :g",
                "ExpressionAttributeValues": {":g": _n(generation), ":c": _s(checksum)},
            }
        }
        try:
            self._transact(what, [self._lease_check(lease), raise_applied])
            return
        except _Cancelled as cancelled:
            if cancelled.reasons[:1] == [_CONDITION_FAILED]:
                raise self._lease_lost(zone, lease, f"recording generation {generation}") from None
        if not known_good:
            return  # applied_generation is already at or above ours: never lowered
        raise_lkg = {
            "Update": {
                "TableName": self.plan_table,
                "Key": self._plan_key(zone, META),
                "UpdateExpression": "SET last_known_good = :g",
                "ConditionExpression": "attribute_not_exists(last_known_good) OR last_known_good < :g",
                "ExpressionAttributeValues": {":g": _n(generation)},
            }
        }
        try:
            self._transact(what, [self._lease_check(lease), raise_lkg])
        except _Cancelled as cancelled:
            if cancelled.reasons[:1] == [_CONDITION_FAILED]:
                raise self._lease_lost(zone, lease, f"recording generation {generation}") from None

    def record_failure(self, zone: str, reason: str, *, threshold: int) -> ZoneState:
        """Count a failure (atomic increment); open the circuit once the count reaches `threshold`."""
        reason = " ".join(reason.split())[:1000]
        resp = self._call(
            f"{zone}: record failure",
            lambda: self.client.update_item(
                TableName=self.plan_table,
                Key=self._plan_key(zone, META),
                UpdateExpression="SET circuit_reason = :r ADD consecutive_failures :one",
                ExpressionAttributeValues={":r": _s(reason), ":one": _n(1)},
                ReturnValues="ALL_NEW",
            ),
        )
        attrs = resp["Attributes"]
        count = _int(attrs, "consecutive_failures") or 0
        if count >= threshold and not attrs.get("circuit_open", {}).get("BOOL", False):
            # Conditioned on the count: a reset that landed in between keeps the circuit closed.
            self._conditional(
                f"{zone}: open circuit",
                lambda: self.client.update_item(
                    TableName=self.plan_table,
                    Key=self._plan_key(zone, META),
                    UpdateExpression="SET circuit_open = :t",
                    ConditionExpression="consecutive_failures >= :th",
                    ExpressionAttributeValues={":t": {"BOOL": True}, ":th": _n(threshold)},
                ),
            )
        return self.state(zone)

    def record_success(self, zone: str) -> None:
        """Reset the consecutive-failure count unless the circuit is open (only a person closes it)."""
        self._conditional(
            f"{zone}: record success",
            lambda: self.client.update_item(
                TableName=self.plan_table,
                Key=self._plan_key(zone, META),
                UpdateExpression="SET consecutive_failures = :zero",
                ConditionExpression="attribute_not_exists(circuit_open) OR circuit_open = :f",
                ExpressionAttributeValues={":zero": _n(0), ":f": {"BOOL": False}},
            ),
        )

    def reset_circuit(self, zone: str) -> None:
        """Close the circuit and clear the failure count (a person decided to)."""
        self._call(
            f"{zone}: reset circuit",
            lambda: self.client.update_item(
                TableName=self.plan_table,
                Key=self._plan_key(zone, META),
                UpdateExpression="SET circuit_open = :f, consecutive_failures = :zero, circuit_reason = :empty",
                ExpressionAttributeValues={":f": {"BOOL": False}, ":zero": _n(0), ":empty": _s("")},
            ),
        )
