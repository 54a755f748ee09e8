"""`DnsAutomation`: the AWS side of a safeguarded enactor, as one Pulumi component.

It holds the hosted zone (created here, or an existing one by id), the DynamoDB plan and lease
tables the library's `DynamoPlanStore` uses, and an IAM role whose policy lets an enactor do
exactly what `safeguards.applier.Applier` needs and nothing more:

- `route53:ChangeResourceRecordSets` on this zone only, and only CREATE/DELETE (the applier never
  UPSERTs: every change is a compare-and-set) of the managed names, their `_dnssg.` ownership
  markers and the zone's `_dnssg-fence.` record, of the managed record types;
- `route53:ListResourceRecordSets` on the zone, `route53:GetChange` on changes;
- `route53:ListHostedZonesByName` on "*": that action has no resource-level permissions (IAM
  ignores any other Resource for it), and the enactor needs it to turn a zone name into an id;
- item-level DynamoDB actions on the two tables (transactions are authorized per item action).

The policy document is built by plain functions (`enactor_policy_document`) so it can be read
and tested without Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from safeguards.fence import fence_record_name
from safeguards.plan import DEFAULT_OWNER
from safeguards.records import OWNER_LABEL

#: Tag put on every resource of the component; the policy pack finds them by it.
ROLE_TAG = "dns-safeguards:role"

#: Everything a ChangeResourceRecordSets batch of ours may contain.
CHANGE_ACTIONS: tuple[str, ...] = ("CREATE", "DELETE")

#: DynamoDB actions the plan store uses. TransactWriteItems has no IAM action of its own: each
#: item in a transaction is authorized as PutItem/UpdateItem/DeleteItem/ConditionCheckItem.
DYNAMODB_ACTIONS: tuple[str, ...] = (
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)

#: Route 53 actions that cannot be scoped to a resource: the only ones allowed on "*".
UNSCOPED_ROUTE53_ACTIONS: tuple[str, ...] = ("route53:ListHostedZonesByName",)

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def normalized_record_name(name: str) -> str:
    """`name` as IAM's `route53:ChangeResourceRecordSetsNormalizedRecordNames` sees it: lower
    case, no trailing dot, every character outside a-z 0-9 - _ . as a 3-digit octal escape
    (so a literal wildcard label "*" becomes "\\052")."""
    out = []
    for ch in name.strip().lower().rstrip("."):
        out.append(ch if ch in _PLAIN else f"\\{ord(ch):03o}")
    return "".join(out)


def absolute_name(name: str, zone: str) -> str:
    """`name` ("@", relative, or an FQDN inside `zone`) as an FQDN without trailing dot."""
    zone = zone.strip().lower().rstrip(".")
    n = name.strip().lower().rstrip(".")
    if n in ("@", ""):
        return zone
    if n == zone or n.endswith("." + zone):
        return n
    return f"{n}.{zone}"


def check_name_pattern(pattern: str, zone: str) -> str:
    """`pattern` (an IAM glob for a whole subtree) normalized, or ValueError when it is broader
    than one subtree of `zone`: the only wildcard allowed is a leading "*." and what follows must
    be a name strictly inside the zone ("*.svc.example.com"). "*", "*.com", "*example.com" and
    "*.example.com" (every name of the zone) are refused."""
    zone_n = normalized_record_name(absolute_name("@", zone))
    p = pattern.strip().lower().rstrip(".")
    if not p.startswith("*.") or "*" in p[2:] or "?" in p:
        raise ValueError(
            f"managed name pattern {pattern!r}: only a leading '*.' is allowed, followed by a name inside {zone_n} "
            "(e.g. '*.svc." + zone_n + "')"
        )
    rest = p[2:]
    if not rest.endswith("." + zone_n):
        raise ValueError(
            f"managed name pattern {pattern!r} covers more than a subtree of {zone_n}: "
            f"it must end in '.<label>.{zone_n}' (the whole zone, and names outside it, are never patterns)"
        )
    return p


def managed_name_patterns(
    zone: str, names: Sequence[str], patterns: Sequence[str] = (), owner: str = DEFAULT_OWNER
) -> list[str]:
    """Values for the `ForAllValues:StringLike` condition on normalized record names: each
    managed name, its ownership marker, the fence record of `owner` (in a shared zone each owner
    has its own, so a role scoped to one owner can never write another owner's fence), plus
    `patterns` (IAM globs for a subtree such as "*.svc.example.com", checked by
    `check_name_pattern`: "*" is refused). Sorted, no duplicates."""
    zone_n = normalized_record_name(absolute_name("@", zone))
    values = {normalized_record_name(fence_record_name(zone_n + ".", owner))}
    for name in names:
        n = normalized_record_name(absolute_name(name, zone))
        values.add(n)
        values.add(f"{OWNER_LABEL}.{n}")
    for pattern in patterns:
        p = check_name_pattern(pattern, zone)
        values.add(p)
        values.add(f"{OWNER_LABEL}.{p}")
    return sorted(values)


def apex_deny_statement(zone: str, zone_arn: str, record_types: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """An explicit Deny of any change to the apex NS and SOA (the zone's delegation): IAM cannot
    pair a name with a type, so a zone whose managed names hold no delegation (no NS below the
    apex) denies every NS and SOA change; one that delegates subtrees denies any batch touching
    the apex name together with an NS or SOA type."""
    zone_n = normalized_record_name(absolute_name("@", zone))
    types = {t.upper() for t in record_types}
    delegates = "NS" in types and any(normalized_record_name(absolute_name(n, zone)) != zone_n for n in names)
    condition: dict[str, Any]
    if delegates:
        condition = {
            "ForAnyValue:StringEquals": {
                "route53:ChangeResourceRecordSetsRecordTypes": ["NS", "SOA"],
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [zone_n],
            }
        }
    else:
        condition = {"ForAnyValue:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["NS", "SOA"]}}
    return {
        "Sid": "NeverTheApexDelegation",
        "Effect": "Deny",
        "Action": ["route53:ChangeResourceRecordSets"],
        "Resource": [zone_arn],
        "Condition": condition,
    }


def enactor_policy_document(
    *,
    zone: str,
    zone_arn: str,
    plan_table_arn: str,
    lease_table_arn: str,
    managed_names: Sequence[str],
    record_types: Sequence[str],
    name_patterns: Sequence[str] = (),
    partition: str = "aws",
    owner: str = DEFAULT_OWNER,
) -> dict[str, Any]:
    """The least-privilege IAM policy document of an enactor of `zone` (see module doc)."""
    types = sorted({t.upper() for t in record_types} | {"TXT"})  # fence and markers are TXT
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ChangeManagedRecordsOnly",
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets"],
                "Resource": [zone_arn],
                "Condition": {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": managed_name_patterns(
                            zone, managed_names, name_patterns, owner
                        ),
                    },
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsRecordTypes": types,
                        "route53:ChangeResourceRecordSetsActions": list(CHANGE_ACTIONS),
                    },
                },
            },
            {
                "Sid": "ReadZone",
                "Effect": "Allow",
                "Action": ["route53:ListResourceRecordSets"],
                "Resource": [zone_arn],
            },
            {
                "Sid": "PollChanges",
                "Effect": "Allow",
                "Action": ["route53:GetChange"],
                "Resource": [f"arn:{partition}:route53:::change/*"],
            },
            {
                # ListHostedZonesByName supports no resource-level permission: "*" is the only
                # Resource IAM honours for it. It reveals zone names and ids, nothing else.
                "Sid": "FindZoneByName",
                "Effect": "Allow",
                "Action": list(UNSCOPED_ROUTE53_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "PlanStore",
                "Effect": "Allow",
                "Action": list(DYNAMODB_ACTIONS),
                "Resource": [plan_table_arn, lease_table_arn],
            },
            apex_deny_statement(zone, zone_arn, record_types, managed_names),
        ],
    }


def assume_role_document(principals: Sequence[str], services: Sequence[str]) -> dict[str, Any]:
    """Trust policy: who may assume the enactor role. At least one explicit principal or service
    is required; "*" and an account root (every principal of that account) are refused."""
    if not principals and not services:
        raise ValueError(
            "the enactor role needs an explicit trusted principal (dns-safeguards:trustedPrincipals, e.g. "
            "arn:aws:iam::123456789012:role/dns-pipeline) or service: it never trusts a whole account"
        )
    for p in principals:
        if p.strip() == "*" or p.strip().endswith(":root") or p.strip().isdigit():
            raise ValueError(
                f"trusted principal {p!r} stands for a whole account (or everyone): name the role or user "
                "that runs the enactor"
            )
    principal: dict[str, Any] = {}
    if principals:
        principal["AWS"] = sorted(principals)
    if services:
        principal["Service"] = sorted(services)
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}],
    }


@dataclass
class DnsAutomationArgs:
    """What the component builds. Names may be relative to `zone`, "@" or FQDNs."""

    zone: str
    managed_names: Sequence[str]
    record_types: Sequence[str] = ("A", "AAAA", "CNAME", "TXT")
    #: IAM globs for whole subtrees (e.g. "*.svc.example.com"), used verbatim.
    managed_name_patterns: Sequence[str] = ()
    #: The owner whose names the role may change (shared zones: one role per owner, each with its
    #: own fence record; the default owner keeps `_dnssg-fence.<zone>`).
    owner: str = DEFAULT_OWNER
    #: Use this hosted zone instead of creating one.
    existing_zone_id: str | None = None
    #: Explicit table names (the enactor's CLI/provider needs to know them); None: auto-named.
    plan_table_name: str | None = None
    lease_table_name: str | None = None
    #: Customer-managed KMS key for the tables; None: the AWS-managed DynamoDB key.
    kms_key_arn: str | None = None
    #: Who may assume the enactor role: role/user ARNs, services. At least one is required (never
    #: a whole account: no "*", no account root).
    trusted_principals: Sequence[str] = ()
    trusted_services: Sequence[str] = ()
    #: Deleting the zone deletes its records too (never for a zone that serves traffic).
    force_destroy_zone: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


class DnsAutomation(pulumi.ComponentResource):
    """Hosted zone, plan and lease tables, and the least-privilege enactor role."""

    zone_id: pulumi.Output[str]
    zone_arn: pulumi.Output[str]
    name_servers: pulumi.Output[list[str]]
    plan_table_name: pulumi.Output[str]
    lease_table_name: pulumi.Output[str]
    enactor_role_arn: pulumi.Output[str]
    enactor_policy_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DnsAutomationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dns-safeguards:index:DnsAutomation", name, None, opts)
        # IAM inputs are checked before anything is declared: a "*" name pattern or a missing
        # principal is a configuration error, not a resource that fails later.
        managed_name_patterns(args.zone, args.managed_names, args.managed_name_patterns, args.owner)
        assume_role_document(args.trusted_principals, args.trusted_services)
        child = pulumi.ResourceOptions(parent=self)
        zone_fqdn = absolute_name("@", args.zone)

        def tags(role: str) -> dict[str, str]:
            return {**args.tags, ROLE_TAG: role, "dns-safeguards:zone": zone_fqdn}

        if args.existing_zone_id:
            found = aws.route53.get_zone_output(
                zone_id=args.existing_zone_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            self.zone_id = pulumi.Output.from_input(args.existing_zone_id)
            self.zone_arn = found.arn
            self.name_servers = found.name_servers
        else:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=zone_fqdn,
                comment="Managed by dns-safeguards: change records through the safeguarded enactor only",
                force_destroy=args.force_destroy_zone,
                tags=tags("zone"),
                opts=pulumi.ResourceOptions(parent=self, protect=not args.force_destroy_zone),
            )
            self.zone_id = zone.zone_id
            self.zone_arn = zone.arn
            self.name_servers = zone.name_servers

        sse = aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.kms_key_arn)
        plan_table = aws.dynamodb.Table(
            f"{name}-plans",
            name=args.plan_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="zone",
            range_key="generation",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="zone", type="S"),
                aws.dynamodb.TableAttributeArgs(name="generation", type="N"),
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=True,
            server_side_encryption=sse,
            tags=tags("plan-table"),
            opts=child,
        )
        lease_table = aws.dynamodb.Table(
            f"{name}-leases",
            name=args.lease_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="zone",
            attributes=[aws.dynamodb.TableAttributeArgs(name="zone", type="S")],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=True,
            server_side_encryption=sse,
            tags=tags("lease-table"),
            opts=child,
        )

        trust = pulumi.Output.from_input(
            json.dumps(assume_role_document(args.trusted_principals, args.trusted_services), sort_keys=True)
        )
        role = aws.iam.Role(
            f"{name}-enactor",
            assume_role_policy=trust,
            description=f"dns-safeguards enactor for {zone_fqdn}: fenced CREATE/DELETE of managed records only",
            max_session_duration=3600,
            tags=tags("enactor"),
            opts=child,
        )
        policy = least_privilege_policy(
            f"{name}-enactor",
            args,
            zone=zone_fqdn,
            arns=(self.zone_arn, plan_table.arn, lease_table.arn, _partition(self)),
            description=f"dns-safeguards enactor for {zone_fqdn} (least privilege)",
            tags=tags("enactor"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-enactor", role=role.name, policy_arn=policy.arn, opts=child)

        self.plan_table_name = plan_table.name
        self.lease_table_name = lease_table.name
        self.enactor_role_arn = role.arn
        self.enactor_policy_arn = policy.arn
        self.register_outputs(
            {
                "zone_id": self.zone_id,
                "name_servers": self.name_servers,
                "plan_table_name": self.plan_table_name,
                "lease_table_name": self.lease_table_name,
                "enactor_role_arn": self.enactor_role_arn,
                "enactor_policy_arn": self.enactor_policy_arn,
            }
        )


def least_privilege_policy(
    resource_name: str,
    args: Any,
    *,
    zone: str,
    arns: tuple[pulumi.Input[str], pulumi.Input[str], pulumi.Input[str], pulumi.Input[str]],
    description: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Policy:
    """The enactors' IAM policy (`enactor_policy_document`) for `args`' managed names, record types,
    name patterns and owner; `arns` are the zone's, the plan table's, the lease table's and the
    partition, as outputs."""
    document = pulumi.Output.all(*arns).apply(
        lambda a: json.dumps(
            enactor_policy_document(
                zone=zone,
                zone_arn=a[0],
                plan_table_arn=a[1],
                lease_table_arn=a[2],
                managed_names=list(args.managed_names),
                record_types=list(args.record_types),
                name_patterns=list(args.managed_name_patterns),
                partition=a[3],
                owner=args.owner,
            ),
            sort_keys=True,
        )
    )
    return aws.iam.Policy(resource_name, description=description, policy=document, tags=dict(tags), opts=opts)


def _partition(parent: pulumi.Resource) -> pulumi.Output[str]:
    return aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=parent)).partition
