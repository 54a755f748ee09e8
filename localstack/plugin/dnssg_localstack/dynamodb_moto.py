"""DynamoDB via moto: every operation falls through to moto; writes are serialised.

moto runs a transaction by copying the tables it touches and restoring the copy when the
transaction is cancelled, which wipes out writes other requests made in between (measured: 8
concurrent planners lost plans and got duplicate generations). DynamoDB's writes and transactions
are atomic and isolated, so the provider runs every write under one lock; reads stay parallel.
"""

import threading

from localstack.aws.api import RequestContext, handler
from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.moto import call_moto
from localstack.services.plugins import ServiceLifecycleHook
from localstack.state import StateVisitor
from moto.dynamodb.models import dynamodb_backends

_WRITES = threading.Lock()


class DynamoDBMotoProvider(DynamodbApi, ServiceLifecycleHook):
    """Serves DynamoDB from moto's in-memory backend (conditional writes behave as on AWS)."""

    def accept_state_visitor(self, visitor: StateVisitor) -> None:
        """Expose moto's state so LocalStack's state reset (/_localstack/state/reset) clears it."""
        visitor.visit(dynamodb_backends)

    @handler("PutItem", expand=False)
    def put_item(self, context: RequestContext, request):  # type: ignore[override]
        with _WRITES:
            return call_moto(context)

    @handler("UpdateItem", expand=False)
    def update_item(self, context: RequestContext, request):  # type: ignore[override]
        with _WRITES:
            return call_moto(context)

    @handler("DeleteItem", expand=False)
    def delete_item(self, context: RequestContext, request):  # type: ignore[override]
        with _WRITES:
            return call_moto(context)

    @handler("BatchWriteItem", expand=False)
    def batch_write_item(self, context: RequestContext, request):  # type: ignore[override]
        with _WRITES:
            return call_moto(context)

    @handler("TransactWriteItems", expand=False)
    def transact_write_items(self, context: RequestContext, request):  # type: ignore[override]
        with _WRITES:
            return call_moto(context)
