"""`EnactorDeployment`: the long-running enactors of one zone, as one reusable Pulumi component.

One ECS Fargate service per Availability Zone, as given (each pinned to that zone's subnets,
``desired_count=1``, never two tasks of one zone at once: minimum healthy 0 %, maximum 100 %), all
running the same container (`infra/enactor/Containerfile`: ``dns-safeguards enact``) on one
DynamoDB plan store. They take turns through the lease table; any of them finishes what another
left half applied, so losing a zone loses nothing but redundancy.

- The task role is the least-privilege enactor policy of `infra.automation`
  (`enactor_policy_document`, `assume_role_document`): fenced CREATE/DELETE of the managed names
  in this zone, reads, GetChange, the two tables. Only ``ecs-tasks.amazonaws.com`` may assume it.
- The execution role only pulls the image and writes the log group (the AWS-managed
  ``AmazonECSTaskExecutionRolePolicy``); it holds no Route 53 or DynamoDB permission.
- The plan and lease tables are created here (same schema as `DnsAutomation`'s) or, with
  ``create_tables=False``, referenced by name (e.g. `DnsAutomation`'s ``plan_table_name``).
- ``stopTimeout`` (ECS caps it at 120 s) gives a SIGTERM'd enactor time to finish its batch and
  give the lease back; the container health check asks ``/healthz`` on 127.0.0.1 (the metrics
  port never leaves the task).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

try:  # as `infra.enactor` (tests, other programs) or as `enactor` (the Pulumi program in infra/)
    from infra.automation import (
        ROLE_TAG,
        absolute_name,
        assume_role_document,
        least_privilege_policy,
        managed_name_patterns,
    )
except ImportError:  # pragma: no cover - the Pulumi program's own directory is on sys.path
    from automation import (  # type: ignore[no-redef,import-not-found]
        ROLE_TAG,
        absolute_name,
        assume_role_document,
        least_privilege_policy,
        managed_name_patterns,
    )
from safeguards.plan import DEFAULT_OWNER

ECS_TASKS = "ecs-tasks.amazonaws.com"
EXECUTION_POLICY = "arn:{partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
#: The longest ECS lets a container finish after SIGTERM (Fargate's ``stopTimeout`` maximum).
MAX_STOP_TIMEOUT = 120
_AZ = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$|^[a-z]{3}\d-az\d$")


@dataclass
class EnactorDeploymentArgs:
    """What the enactors enact and where they run."""

    zone: str
    #: The hosted zone (e.g. `DnsAutomation.zone_id`): its ARN scopes the role.
    zone_id: pulumi.Input[str]
    managed_names: Sequence[str]
    #: Availability Zone -> the subnet ids the enactor of that zone runs in (one enactor each).
    availability_zones: Mapping[str, Sequence[str]]
    #: The enactor image (built from infra/enactor/Containerfile and pushed by the user).
    image: str
    record_types: Sequence[str] = ("A", "AAAA", "CNAME", "TXT")
    managed_name_patterns: Sequence[str] = ()
    owner: str = DEFAULT_OWNER
    security_group_ids: Sequence[pulumi.Input[str]] = ()
    #: False: reference existing tables by these names (they must exist: `DnsAutomation` makes them).
    create_tables: bool = True
    plan_table_name: str | None = None
    lease_table_name: str | None = None
    kms_key_arn: str | None = None
    interval: float = 30.0
    metrics_port: int = 9464
    stop_timeout: int = MAX_STOP_TIMEOUT
    cpu: int = 256
    memory: int = 512
    #: An existing ECS cluster ARN; None: one is created.
    cluster_arn: pulumi.Input[str] | None = None
    log_retention_days: int = 30
    assign_public_ip: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def enactor_command(
    zone: str,
    *,
    interval: float,
    metrics_port: int,
    owner: str,
    enactor_id: str,
    plan_table: str,
    lease_table: str,
    region: str,
) -> list[str]:
    """The container's arguments after the image's entrypoint, ``dns-safeguards enact`` (the
    global options are accepted after the subcommand)."""
    command = [
        "--zone", zone, "--interval", f"{interval:g}", "--metrics-port", str(metrics_port), "--json",
        "--backend", "aws", "--region", region, "--plan-table", plan_table, "--lease-table", lease_table,
        "--enactor-id", enactor_id, "--log-json",
    ]  # fmt: skip
    if owner != DEFAULT_OWNER:
        command += ["--owner", owner]
    return command


def container_definitions(
    *, name: str, image: str, command: Sequence[str], metrics_port: int, stop_timeout: int, log_group: str, region: str
) -> list[dict[str, Any]]:
    """The task's one container (ECS JSON)."""
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{metrics_port}/healthz', timeout=5)"
    return [
        {
            "name": name,
            "image": image,
            "essential": True,
            "command": list(command),
            "readonlyRootFilesystem": True,
            "stopTimeout": stop_timeout,
            "healthCheck": {
                "command": ["CMD", "python", "-c", probe],
                "interval": 30,
                "timeout": 10,
                "retries": 3,
                "startPeriod": 60,
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": name},
            },
        }
    ]


class EnactorDeployment(pulumi.ComponentResource):
    """One enactor per Availability Zone on one plan store, with the least-privilege role."""

    plan_table_name: pulumi.Output[str]
    lease_table_name: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    service_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: EnactorDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dns-safeguards:index:EnactorDeployment", name, None, opts)
        _check(args)
        managed_name_patterns(args.zone, args.managed_names, args.managed_name_patterns, args.owner)
        zone_fqdn = absolute_name("@", args.zone)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = aws.get_caller_identity_output(opts=invoke).account_id

        def tags(role: str) -> dict[str, str]:
            return {**args.tags, ROLE_TAG: role, "dns-safeguards:zone": zone_fqdn}

        plan_table_arn, lease_table_arn = self._tables(name, args, tags, child, partition, region, account)

        task_role = aws.iam.Role(
            f"{name}-task",
            assume_role_policy=json.dumps(assume_role_document([], [ECS_TASKS]), sort_keys=True),
            description=f"dns-safeguards enactors of {zone_fqdn}: fenced CREATE/DELETE of managed records only",
            max_session_duration=3600,
            tags=tags("enactor"),
            opts=child,
        )
        zone_arn = pulumi.Output.concat("arn:", partition, ":route53:::hostedzone/", args.zone_id)
        policy = least_privilege_policy(
            f"{name}-task",
            args,
            zone=zone_fqdn,
            arns=(zone_arn, plan_table_arn, lease_table_arn, partition),
            description=f"dns-safeguards enactors of {zone_fqdn} (least privilege)",
            tags=tags("enactor"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-task", role=task_role.name, policy_arn=policy.arn, opts=child)

        execution_role = aws.iam.Role(
            f"{name}-execution",
            assume_role_policy=json.dumps(assume_role_document([], [ECS_TASKS]), sort_keys=True),
            description="dns-safeguards enactors: pull the image, write the log group (no DNS, no tables)",
            tags=tags("enactor-execution"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution",
            role=execution_role.name,
            policy_arn=partition.apply(lambda p: EXECUTION_POLICY.format(partition=p)),
            opts=child,
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", retention_in_days=args.log_retention_days, tags=tags("enactor-logs"), opts=child
        )
        if args.cluster_arn is None:
            cluster = aws.ecs.Cluster(f"{name}-cluster", tags=tags("enactor-cluster"), opts=child)
            self.cluster_arn = cluster.arn
        else:
            self.cluster_arn = pulumi.Output.from_input(args.cluster_arn)

        def containers_json(enactor_id: str) -> Any:
            def render(a: list[Any]) -> str:
                command = enactor_command(
                    zone_fqdn,
                    interval=args.interval,
                    metrics_port=args.metrics_port,
                    owner=args.owner,
                    enactor_id=enactor_id,
                    plan_table=a[0],
                    lease_table=a[1],
                    region=a[2],
                )
                return json.dumps(
                    container_definitions(
                        name="enactor",
                        image=args.image,
                        command=command,
                        metrics_port=args.metrics_port,
                        stop_timeout=args.stop_timeout,
                        log_group=a[3],
                        region=a[2],
                    )
                )

            return render

        self.service_names = {}
        for az, subnets in sorted(args.availability_zones.items()):
            tables = pulumi.Output.all(self.plan_table_name, self.lease_table_name, region, logs.name)
            containers = tables.apply(containers_json(f"{name}-{az}"))
            task = aws.ecs.TaskDefinition(
                f"{name}-{az}",
                family=f"{name}-{az}",
                cpu=str(args.cpu),
                memory=str(args.memory),
                network_mode="awsvpc",
                requires_compatibilities=["FARGATE"],
                task_role_arn=task_role.arn,
                execution_role_arn=execution_role.arn,
                container_definitions=containers,
                tags={**tags("enactor"), "dns-safeguards:availability-zone": az},
                opts=child,
            )
            service = aws.ecs.Service(
                f"{name}-{az}",
                cluster=self.cluster_arn,
                task_definition=task.arn,
                desired_count=1,
                launch_type="FARGATE",
                # Replace, never double: a second task of the same zone would only wait on the lease.
                deployment_minimum_healthy_percent=0,
                deployment_maximum_percent=100,
                network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                    subnets=list(subnets),
                    security_groups=list(args.security_group_ids),
                    assign_public_ip=args.assign_public_ip,
                ),
                enable_execute_command=False,
                propagate_tags="SERVICE",
                tags={**tags("enactor"), "dns-safeguards:availability-zone": az},
                opts=child,
            )
            self.service_names[az] = service.name

        self.task_role_arn = task_role.arn
        self.execution_role_arn = execution_role.arn
        self.register_outputs(
            {
                "plan_table_name": self.plan_table_name,
                "lease_table_name": self.lease_table_name,
                "task_role_arn": self.task_role_arn,
                "execution_role_arn": self.execution_role_arn,
                "cluster_arn": self.cluster_arn,
            }
        )

    def _tables(
        self,
        name: str,
        args: EnactorDeploymentArgs,
        tags: Any,
        child: pulumi.ResourceOptions,
        partition: pulumi.Output[str],
        region: pulumi.Output[str],
        account: pulumi.Output[str],
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        if not args.create_tables:
            assert args.plan_table_name and args.lease_table_name  # _check

            def arn(table: str) -> pulumi.Output[str]:
                return pulumi.Output.concat("arn:", partition, ":dynamodb:", region, ":", account, ":table/", table)

            self.plan_table_name = pulumi.Output.from_input(args.plan_table_name)
            self.lease_table_name = pulumi.Output.from_input(args.lease_table_name)
            return arn(args.plan_table_name), arn(args.lease_table_name)
        sse = aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.kms_key_arn)
        common: dict[str, Any] = dict(
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=True,
            server_side_encryption=sse,
            opts=child,
        )
        plans = aws.dynamodb.Table(
            f"{name}-plans",
            name=args.plan_table_name,
            hash_key="zone",
            range_key="generation",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="zone", type="S"),
                aws.dynamodb.TableAttributeArgs(name="generation", type="N"),
            ],
            tags=tags("plan-table"),
            **common,
        )
        leases = aws.dynamodb.Table(
            f"{name}-leases",
            name=args.lease_table_name,
            hash_key="zone",
            attributes=[aws.dynamodb.TableAttributeArgs(name="zone", type="S")],
            tags=tags("lease-table"),
            **common,
        )
        self.plan_table_name = plans.name
        self.lease_table_name = leases.name
        return plans.arn, leases.arn


def _check(args: EnactorDeploymentArgs) -> None:
    """Configuration errors before anything is declared."""
    if not args.availability_zones:
        raise ValueError("EnactorDeployment needs at least one Availability Zone (one enactor runs in each)")
    for az, subnets in args.availability_zones.items():
        if not _AZ.match(az):
            raise ValueError(f"{az!r} is not an Availability Zone name (us-east-1a) or id (use1-az1)")
        if not subnets:
            raise ValueError(f"Availability Zone {az}: no subnet to run its enactor in")
    if not args.create_tables and not (args.plan_table_name and args.lease_table_name):
        raise ValueError("create_tables=False references existing tables: give plan_table_name and lease_table_name")
    if not 0 < args.stop_timeout <= MAX_STOP_TIMEOUT:
        raise ValueError(f"stop_timeout must be 1..{MAX_STOP_TIMEOUT} s (the ECS maximum)")
    if not args.image or args.image.endswith(":latest"):
        raise ValueError("image: pin a tag or digest (a moving ':latest' redeploys nothing and rolls back nothing)")
