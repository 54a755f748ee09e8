"""Wire-level access to a conformance target: what a real client (botocore, the AWS CLI, octoDNS)
sends and sees, for the embedded model as for the emulators.

`raw_client(t)` answers `list_resource_record_sets` / `change_resource_record_sets` /
`get_paginator` like a boto3 client: a real one (parameter validation off, so shape errors
reach the server) for emulators, and botocore's own `Paginator` over the strict model's wire
methods for the embedded model.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.paginate import Paginator

from safeguards.route53_rules import Route53Error

REGION = "us-east-1"


def _real_client(endpoint_url: str | None) -> Any:
    return boto3.client(
        "route53",
        endpoint_url=endpoint_url or "http://127.0.0.1:1",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


class StrictWire:
    """The strict model behind boto3's client interface (only what the suite uses)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._template = _real_client(None)  # never called: lends its paginator model

    def list_resource_record_sets(self, **kw: Any) -> dict[str, Any]:
        return self.model.list_resource_record_sets(
            kw["HostedZoneId"],
            start_name=kw.get("StartRecordName"),
            start_type=kw.get("StartRecordType"),
            start_identifier=kw.get("StartRecordIdentifier"),
            max_items=kw.get("MaxItems"),
        )

    def change_resource_record_sets(self, **kw: Any) -> dict[str, Any]:
        try:
            return self.model.change_resource_record_sets(kw["HostedZoneId"], kw["ChangeBatch"])
        except Route53Error as exc:
            error = {"Error": {"Code": exc.code, "Message": exc.message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
            raise ClientError(error, "ChangeResourceRecordSets") from None

    def get_paginator(self, name: str) -> Paginator:
        real = self._template.get_paginator(name)
        return Paginator(self.list_resource_record_sets, real._pagination_cfg, real._model)


def raw_client(t: Any) -> Any:
    """A boto3-like Route 53 client of target `t` (see module doc)."""
    if t.is_strict:
        return StrictWire(t.backend)
    return _real_client(str(t.backend.client.meta.endpoint_url))


def submit_raw(t: Any, changes: list[dict[str, Any]]) -> tuple[str, str] | None:
    """Send `changes` as they are; (error code, message) when refused, None when accepted."""
    try:
        raw_client(t).change_resource_record_sets(HostedZoneId=t.zone_id, ChangeBatch={"Changes": changes})
    except ClientError as exc:
        return str(exc.response["Error"]["Code"]), str(exc.response["Error"].get("Message", ""))
    return None


def listed(t: Any) -> list[dict[str, Any]]:
    """Every ResourceRecordSet of the zone as the server lists it (one botocore paginator run)."""
    pages = raw_client(t).get_paginator("list_resource_record_sets").paginate(HostedZoneId=t.zone_id)
    return [w for page in pages for w in page["ResourceRecordSets"]]
