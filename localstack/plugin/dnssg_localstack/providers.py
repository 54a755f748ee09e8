"""Service-provider factories that LocalStack finds through the ``localstack.aws.provider`` entry points.

Imports of the provider classes stay inside the factories: LocalStack loads these lazily, and the
module must import cheaply when LocalStack only lists the available providers.
"""

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    """DynamoDB served by moto in-process (LocalStack's default needs Java and DynamoDB Local)."""
    from localstack.services.moto import MotoFallbackDispatcher

    from dnssg_localstack.dynamodb_moto import DynamoDBMotoProvider

    return Service.for_provider(DynamoDBMotoProvider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="route53", name="strict")
def route53_strict() -> Service:
    """Route 53 whose ChangeResourceRecordSets has the real service's all-or-nothing batch semantics."""
    from localstack.services.moto import MotoFallbackDispatcher

    from dnssg_localstack.route53_strict import StrictRoute53Provider

    return Service.for_provider(StrictRoute53Provider(), dispatch_table_factory=MotoFallbackDispatcher)
