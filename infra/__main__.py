"""The dns-safeguards Pulumi program (`pulumi up`; see docs/pulumi.md).

Reads a plan file (`dns-safeguards:planFile`, validated by the library: every problem at once)
and declares it as one `GuardedPlan`: each `pulumi up` that changes it is one generation, one
fenced apply, exactly as `dns-safeguards apply` of the file. `dns-safeguards:resource: records`
declares one `GuardedRecordSet` per record set instead (each change its own generation and
INSYNC wait; see docs/pulumi.md for when). With `dns-safeguards:backend: aws`
(the default) it also deploys the `DnsAutomation` component: hosted zone (or
`existingZoneId`), plan and lease tables, least-privilege enactor role. With `embedded` it
touches no AWS at all: the records go to the strict Route 53 model in `dns-safeguards:state`,
which `dns-safeguards --state <dir> status --zone <zone>` shows.

The plan file's `generation` and `owner` are not used: generations come from the plan store and
the owner is this stack (`dns-safeguards:owner`, default `pulumi.<project>.<stack>`). Its `retire`
and `canary` are used by the plan resource; the per-record form has `retireOnDelete` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from automation import DnsAutomation, DnsAutomationArgs
from guarded_plan import GuardedPlan, GuardedPlanProvider, plan_inputs
from guarded_record import GuardedRecordProvider, GuardedRecordSet, default_owner

from safeguards.plan import Plan, load_plan
from safeguards.records import RecordSet, relative

#: The project directory (where Pulumi.yaml is): relative paths in the config start here.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def _path(value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else PROJECT_DIR / p


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def resource_name(r: RecordSet, zone: str) -> str:
    """Stable Pulumi name of a record set: `<relative name>-<type>[-<set id>]`, apex as `apex`."""
    rel = relative(r.name, zone)
    parts = ["apex" if rel == "@" else rel, r.type.lower()]
    if r.set_identifier:
        parts.append(r.set_identifier)
    return "-".join(parts)


def retire_on_delete(config: pulumi.Config, r: RecordSet, zone: str) -> bool:
    """`retireOnDelete: true` for every record, or a list of names (relative or FQDN)."""
    value = config.get_object("retireOnDelete")
    if isinstance(value, bool):
        return value
    wanted = {n.strip().lower().rstrip(".") for n in _names(value)}
    return bool({relative(r.name, zone), r.name.rstrip(".")} & wanted)


def main() -> None:
    """Declare the stack's resources from the configuration."""
    config = pulumi.Config("dns-safeguards")
    aws_config = pulumi.Config("aws")
    stack = pulumi.get_stack()
    plan: Plan = load_plan(_path(config.require("planFile")))
    zone_name = config.get("zone")
    if zone_name and zone_name.strip().lower().rstrip(".") + "." != plan.zone:
        raise ValueError(f"dns-safeguards:zone is {zone_name} but the plan file is for {plan.zone}")
    zone = plan.zone

    backend = (config.get("backend") or "aws").lower()
    owner = config.get("owner") or default_owner(pulumi.get_project(), stack)
    plan_table = config.get("planTable") or f"dns-safeguards-plans-{stack}"
    lease_table = config.get("leaseTable") or f"dns-safeguards-leases-{stack}"
    endpoint_url = config.get("endpointUrl")

    automation = None
    if backend == "aws":
        types = sorted({r.type for r in plan.records} | set(_names(config.get_object("recordTypes"))))
        managed = sorted({r.name for r in plan.records} | set(_names(config.get_object("managedNames"))))
        automation = DnsAutomation(
            "dns",
            DnsAutomationArgs(
                zone=zone,
                managed_names=managed,
                managed_name_patterns=_names(config.get_object("managedNamePatterns")),
                record_types=types,
                existing_zone_id=config.get("existingZoneId"),
                plan_table_name=plan_table,
                lease_table_name=lease_table,
                trusted_principals=_names(config.get_object("trustedPrincipals")),
                force_destroy_zone=config.get_bool("forceDestroyZone") or False,
                tags={"dns-safeguards:stack": stack},
            ),
        )
        pulumi.export("zoneId", automation.zone_id)
        pulumi.export("nameServers", automation.name_servers)
        pulumi.export("planTable", automation.plan_table_name)
        pulumi.export("leaseTable", automation.lease_table_name)
        pulumi.export("enactorRoleArn", automation.enactor_role_arn)
        enactors = config.get_object("enactors")
        if enactors:  # opt-in: run the enactors too (infra/enactor.py; docs/service.md)
            declare_enactors(enactors, zone, automation, managed, types, plan_table, lease_table, stack)

    settings = {
        "backend": backend,
        "state": str(_path(config.get("state") or ".dns-safeguards")),
        "endpoint_url": endpoint_url,
        "region": aws_config.get("region"),
        "plan_table": plan_table if backend == "aws" else None,
        "lease_table": lease_table if backend == "aws" else None,
        "owner": owner,
        "wait_insync": config.get_bool("waitInsync"),
    }
    opts = pulumi.ResourceOptions(depends_on=[automation] if automation else [])
    pulumi.export("owner", owner)
    kind = (config.get("resource") or "plan").lower()
    if kind == "plan":
        declare_plan(config, plan, GuardedPlanProvider(**settings), opts)
    elif kind == "records":
        declare_record_sets(config, plan, GuardedRecordProvider(**settings), opts)
    else:
        raise ValueError(f"dns-safeguards:resource must be 'plan' or 'records', got {kind!r}")


def declare_enactors(
    value: Any,
    zone: str,
    automation: DnsAutomation,
    managed: list[str],
    types: list[str],
    plan_table: str,
    lease_table: str,
    stack: str,
) -> None:
    """`dns-safeguards:enactors`: one enactor per Availability Zone on the stack's tables, e.g.
    ``{"image": "registry/dns-safeguards:1.4.0", "availabilityZones": {"us-east-1a": ["subnet-a"]},
    "securityGroupIds": ["sg-1"], "interval": 30}``."""
    from enactor import EnactorDeployment, EnactorDeploymentArgs

    if not isinstance(value, dict):
        raise ValueError("dns-safeguards:enactors must be an object (image, availabilityZones, ...)")
    deployment = EnactorDeployment(
        "enactors",
        EnactorDeploymentArgs(
            zone=zone,
            zone_id=automation.zone_id,
            managed_names=managed,
            record_types=types,
            availability_zones={str(k): _names(v) for k, v in (value.get("availabilityZones") or {}).items()},
            image=str(value.get("image") or ""),
            security_group_ids=_names(value.get("securityGroupIds")),
            create_tables=False,
            plan_table_name=plan_table,
            lease_table_name=lease_table,
            interval=float(value.get("interval") or 30.0),
            tags={"dns-safeguards:stack": stack},
        ),
        opts=pulumi.ResourceOptions(depends_on=[automation]),
    )
    pulumi.export("enactorTaskRoleArn", deployment.task_role_arn)
    pulumi.export("enactorServices", deployment.service_names)


def declare_plan(
    config: pulumi.Config, plan: Plan, provider: GuardedPlanProvider, opts: pulumi.ResourceOptions
) -> None:
    """The whole plan file as one resource: one generation and one fenced apply per change."""
    retire = config.get_object("retireOnDelete")
    if isinstance(retire, list):
        # Per-name deletes are the per-record form's; a plan retires names through its `retire` list.
        raise ValueError(
            "dns-safeguards:retireOnDelete as a list of names applies to resource: records; with the plan resource "
            "list the names under 'retire' in the plan file (and set retireOnDelete: true only to allow destroy)"
        )
    res = GuardedPlan(
        "plan",
        **plan_inputs(plan),
        # Blast-radius override for one `pulumi up` (never the never-empty guard): set, up, unset.
        force=config.get_bool("force") or False,
        adopt=config.get_bool("adopt") or False,
        retire_on_delete=retire is True,
        provider=provider,
        opts=opts,
    )
    pulumi.export("appliedGeneration", res.applied_generation)
    pulumi.export("checksum", res.checksum)


def declare_record_sets(
    config: pulumi.Config, plan: Plan, provider: GuardedRecordProvider, opts: pulumi.ResourceOptions
) -> None:
    """One resource per record set (for a few records managed by hand; see docs/pulumi.md)."""
    zone = plan.zone
    records = {}
    for r in plan.records:
        res = GuardedRecordSet(
            resource_name(r, zone),
            zone=zone,
            name=r.name,
            type=r.type,
            ttl=r.ttl,
            values=list(r.values),
            set_identifier=r.set_identifier,
            weight=r.weight,
            min_values=plan.min_for(r.key),
            retire_on_delete=retire_on_delete(config, r, zone),
            adopt=config.get_bool("adopt") or False,
            provider=provider,
            opts=opts,
        )
        records[resource_name(r, zone)] = res.applied_generation
    pulumi.export("records", records)


main()
