"""The dns-safeguards policy pack: builds the PolicyPack from the plain validators.

Only the Pulumi CLI runs this (constructing a PolicyPack serves the engine's gRPC and waits);
tests import `validators` instead.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from validators import (
    DEFAULT_MAX_TTL,
    DEFAULT_MIN_TTL,
    validate_enactor_iam,
    validate_no_empty_values,
    validate_records_guarded,
    validate_stack_records_guarded,
    validate_tables_protected,
    validate_ttl_bounds,
)

MANDATORY = EnforcementLevel.MANDATORY

PolicyPack(
    name="dns-safeguards",
    enforcement_level=MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="record-sets-never-empty",
            description="A record set must have at least one value (aws.route53.Record and GuardedRecordSet).",
            validate=validate_no_empty_values,
        ),
        ResourceValidationPolicy(
            name="record-ttl-bounds",
            description="Record TTLs stay within bounds (default 30..86400 s).",
            validate=validate_ttl_bounds,
            config_schema=PolicyConfigSchema(
                properties={
                    "minTtl": {"type": "integer", "default": DEFAULT_MIN_TTL, "minimum": 0},
                    "maxTtl": {"type": "integer", "default": DEFAULT_MAX_TTL, "minimum": 1},
                }
            ),
        ),
        ResourceValidationPolicy(
            name="managed-zones-only-through-guarded-records",
            description="No plain aws.route53.Record in a zone dns-safeguards manages (listed in the config).",
            validate=validate_records_guarded,
            config_schema=PolicyConfigSchema(
                properties={
                    "managedZoneIds": {"type": "array", "items": {"type": "string"}, "default": []},
                    "managedZoneNames": {"type": "array", "items": {"type": "string"}, "default": []},
                }
            ),
        ),
        StackValidationPolicy(
            name="stack-zones-only-through-guarded-records",
            description="No plain aws.route53.Record in a zone a DnsAutomation component of this stack created.",
            validate=validate_stack_records_guarded,
        ),
        ResourceValidationPolicy(
            name="plan-tables-protected",
            description=(
                "Plan and lease tables (tagged, named in the config, or with the plan table's key schema) have "
                "point-in-time recovery and deletion protection, and are tagged."
            ),
            validate=validate_tables_protected,
            config_schema=PolicyConfigSchema(
                properties={"tableNames": {"type": "array", "items": {"type": "string"}, "default": []}}
            ),
        ),
        ResourceValidationPolicy(
            name="enactor-least-privilege",
            description=(
                "DNS automation IAM: no wildcard actions or ARNs (hostedzone/*, table/*), no destructive "
                "actions (DeleteHostedZone, DeleteTable...), Resource '*' only for ListHostedZonesByName, "
                "ChangeResourceRecordSets limited to exact names (or one subtree) and CREATE/DELETE, the apex "
                "NS/SOA denied; roles: the same for inline policies, no broad AWS-managed policies, a named "
                "trusted principal."
            ),
            validate=validate_enactor_iam,
        ),
    ],
)
