"""Route 53 provider with the real service's ChangeResourceRecordSets semantics.

LocalStack's stock provider hands the batch to moto, which applies changes one by one (a failing
change leaves the earlier ones applied), matches DELETE against a journal of past writes rather
than the live set (a stale DELETE succeeds), lets CREATE add duplicates, and deletes every set
with a given SetIdentifier in the zone whatever its name. This provider plans the whole batch
against the zone's live sets under a lock (route53_rules.plan_batch) and either rejects it with
InvalidChangeBatch listing every problem, or writes the planned sets into moto's store in one
assignment. Every other operation is still moto's (ListResourceRecordSets reads the same store).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from localstack.aws.api import CommonServiceException, RequestContext
from localstack.aws.api.route53 import (
    ChangeBatch,
    ChangeInfo,
    ChangeResourceRecordSetsResponse,
    ChangeStatus,
    InvalidChangeBatch,
    NoSuchHostedZone,
    ResourceId,
)
from localstack.services.route53.provider import Route53Provider
from moto.route53.exceptions import NoSuchHostedZone as MotoNoSuchHostedZone
from moto.route53.models import RecordSet as MotoRecordSet
from moto.route53.models import route53_backends

from dnssg_localstack.faults import FAULTS
from dnssg_localstack.route53_rules import from_moto, from_request, moto_form, plan_batch

FAULT_MESSAGES = {
    "Throttling": "Rate exceeded",
    "PriorRequestNotComplete": "The request was rejected because Route 53 was still processing a prior request.",
}


class StrictRoute53Provider(Route53Provider):
    """Route53Provider whose change batches are atomic, exact and serialised per LocalStack process."""

    def __init__(self) -> None:
        super().__init__()
        # One lock for all zones: batches are rare and small in tests, and a single lock makes the
        # read-validate-write of each batch trivially atomic.
        self._batch_lock = threading.Lock()

    def change_resource_record_sets(
        self,
        context: RequestContext,
        hosted_zone_id: ResourceId,
        change_batch: ChangeBatch,
        **kwargs: Any,
    ) -> ChangeResourceRecordSetsResponse:
        """Validate the whole batch against the live zone, then apply all of it or nothing."""
        fault = FAULTS.take()
        if fault is not None:
            raise CommonServiceException(fault, FAULT_MESSAGES[fault], status_code=400, sender_fault=True)

        changes = [
            (str(change.get("Action", "")), from_request(change.get("ResourceRecordSet") or {}))
            for change in (change_batch or {}).get("Changes") or []
        ]
        if not changes:
            raise InvalidChangeBatch("Invalid request: the change batch holds no changes", messages=[])

        backend = route53_backends[context.account_id][context.partition]
        with self._batch_lock:
            try:
                zone = backend.get_hosted_zone(hosted_zone_id)
            except MotoNoSuchHostedZone as error:
                raise NoSuchHostedZone(f"No hosted zone found with ID: {hosted_zone_id}") from error
            current = [(from_moto(record), record) for record in zone.rrsets]
            plan = plan_batch(zone.name, current, changes)
            if plan.problems:
                # AWS lists every problem: one message as is, several as "[first, second, ...]".
                message = plan.problems[0] if len(plan.problems) == 1 else f"[{', '.join(plan.problems)}]"
                raise InvalidChangeBatch(message, messages=plan.problems)
            # One assignment: readers (ListResourceRecordSets, unlocked) see the old or the new list.
            zone.rrsets = [
                stored if stored is not None else MotoRecordSet(moto_form(rs.raw or {})) for rs, stored in plan.result
            ]

        return ChangeResourceRecordSetsResponse(
            ChangeInfo=ChangeInfo(
                Id=f"/change/C{uuid.uuid4().hex[:13].upper()}",
                # As on AWS: PENDING now; GetChange (LocalStack's) reports INSYNC.
                Status=ChangeStatus.PENDING,
                SubmittedAt=datetime.now(UTC),
                Comment=(change_batch or {}).get("Comment"),
            )
        )
