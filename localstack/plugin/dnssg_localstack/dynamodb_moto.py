"""DynamoDB via moto: no provider methods of its own, every operation falls through to moto."""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import ServiceLifecycleHook
from localstack.state import StateVisitor
from moto.dynamodb.models import dynamodb_backends


class DynamoDBMotoProvider(DynamodbApi, ServiceLifecycleHook):
    """Serves DynamoDB from moto's in-memory backend (conditional writes behave as on AWS)."""

    def accept_state_visitor(self, visitor: StateVisitor) -> None:
        """Expose moto's state so LocalStack's state reset (/_localstack/state/reset) clears it."""
        visitor.visit(dynamodb_backends)
