"""The DynamoDB tables of `DynamoPlanStore`, as data, and a helper that creates them.

The Pulumi program (`infra/`) declares the same keys; keep the two in step.

- plan table: partition key `zone` (S), sort key `generation` (N). Generation 0 is the zone's
  meta item (allocator, applied state, circuit); generations >= 1 are plans.
- lease table: partition key `zone` (S); one item per zone: holder, epoch, expires_at.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import BackendError, InvalidInput

PLAN_TABLE_SCHEMA: dict[str, Any] = {
    "KeySchema": [
        {"AttributeName": "zone", "KeyType": "HASH"},
        {"AttributeName": "generation", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "zone", "AttributeType": "S"},
        {"AttributeName": "generation", "AttributeType": "N"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

LEASE_TABLE_SCHEMA: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "zone", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "zone", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def _keys(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in schema.get("AttributeDefinitions", [])}
    return [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?")) for k in schema["KeySchema"]]


def ensure_tables(client: Any, plan_table: str, lease_table: str, *, max_wait_seconds: int = 180) -> None:
    """Create the plan and lease tables if missing and wait until both are ACTIVE.

    An existing table with other keys is refused (InvalidInput) rather than used: the store's
    conditional writes depend on exactly these keys."""
    import botocore.exceptions as bx

    for name, schema in ((plan_table, PLAN_TABLE_SCHEMA), (lease_table, LEASE_TABLE_SCHEMA)):
        try:
            try:
                table = client.describe_table(TableName=name)["Table"]
            except client.exceptions.ResourceNotFoundException:
                # Created concurrently by someone else? Fine: the keys are checked below.
                with contextlib.suppress(client.exceptions.ResourceInUseException):
                    client.create_table(TableName=name, **schema)
                table = client.describe_table(TableName=name)["Table"]
            if _keys(table) != _keys(schema):
                raise InvalidInput(
                    f"DynamoDB table {name} has keys {_keys(table)}, expected {_keys(schema)}; "
                    "use another table name or recreate it"
                )
            delay = 2
            client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, max_wait_seconds // delay)}
            )
        except bx.WaiterError as exc:
            raise BackendError(f"DynamoDB table {name} did not become ACTIVE within {max_wait_seconds} s") from exc
        except (bx.ClientError, bx.BotoCoreError) as exc:
            from .dynamodb import map_botocore_error

            endpoint = str(getattr(client.meta, "endpoint_url", "") or "DynamoDB")
            raise map_botocore_error(f"DynamoDB table {name}", exc, endpoint=endpoint, write=True) from exc
