"""The rules of the dns-safeguards policy pack as plain functions.

Each `*_problems` function takes a resource type and its properties (as the Pulumi engine passes
them: camelCase for pulumi-aws, our own snake_case keys for the dynamic `GuardedRecordSet`) and
returns one line per violation. The `validate_*` adapters turn them into pulumi-policy
validation callbacks. Tests call both directly; nothing here constructs a `PolicyPack` (which
waits for the engine).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

RECORD = "aws:route53/record:Record"
ZONE = "aws:route53/zone:Zone"
TABLE = "aws:dynamodb/table:Table"
GUARDED = "pulumi-python:dynamic/dns-safeguards:GuardedRecordSet"
IAM_POLICY_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ROLE_TAG = "dns-safeguards:role"
PROTECTED_TABLE_ROLES = ("plan-table", "lease-table")
#: The one Route 53 action an enactor may hold on Resource "*" (it has no resource-level scope).
UNSCOPED_ACTIONS = frozenset({"route53:listhostedzonesbyname"})
#: Actions that destroy a zone, a table or their protection: never in a DNS automation policy.
DESTRUCTIVE_ACTIONS = frozenset(
    {
        "route53:deletehostedzone",
        "route53:disassociatevpcfromhostedzone",
        "route53:disablehostedzonednssec",
        "route53:deactivatekeysigningkey",
        "route53:deletekeysigningkey",
        "dynamodb:deletetable",
        "dynamodb:updatetable",
        "dynamodb:updatecontinuousbackups",
        "dynamodb:deletebackup",
        "dynamodb:deleteresourcepolicy",
        "dynamodb:putresourcepolicy",
    }
)
#: AWS-managed policies that grant UPSERT (or everything) on every zone and table.
BROAD_MANAGED_POLICIES = frozenset(
    {
        "AdministratorAccess",
        "PowerUserAccess",
        "AmazonRoute53FullAccess",
        "AmazonRoute53AutoNamingFullAccess",
        "AmazonDynamoDBFullAccess",
        "AmazonDynamoDBFullAccesswithDataPipeline",
    }
)
ROLE = "aws:iam/role:Role"
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
#: Key schema of the plan table (`safeguards.stores.schema`): found even when untagged.
PLAN_TABLE_KEYS = ("zone", "generation")

DEFAULT_MIN_TTL = 30
DEFAULT_MAX_TTL = 86400

ReportViolation = Callable[..., None]


# ----------------------------------------------------------------------------------- helpers


def _fqdn(name: str) -> str:
    return name.strip().lower().rstrip(".") + "."


def _in_zone(name: str, zone: str) -> bool:
    n, z = _fqdn(name), _fqdn(zone)
    return n == z or n.endswith("." + z)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    return list(value)


def _tags(props: Mapping[str, Any]) -> Mapping[str, Any]:
    tags = props.get("tags")
    return tags if isinstance(tags, Mapping) else {}


def _known(props: Mapping[str, Any], key: str) -> Any:
    """props[key], or None when the engine does not know it yet (a preview before creation):
    pulumi-policy raises UnknownValueError for those, which would abort a whole stack check."""
    try:
        return props.get(key)
    except Exception as exc:
        if type(exc).__name__ == "UnknownValueError":
            return None
        raise


def _unknown(props: Mapping[str, Any], key: str) -> bool:
    """True when the engine does not know props[key] yet (a preview before creation)."""
    try:
        props.get(key)
    except Exception as exc:
        if type(exc).__name__ == "UnknownValueError":
            return True
        raise
    return False


def _is_relative(name: str) -> bool:
    """A record name pulumi-aws completes with the zone's name: one label, "@", "*" or empty."""
    n = name.strip().rstrip(".")
    return n in ("", "@", "*") or "." not in n


# ----------------------------------------------------------------------------------- records


def empty_values_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """A record set with no values publishes an empty answer: the 2025 outage. Alias records
    carry no values and are exempt."""
    if resource_type == RECORD:
        if _as_list(props.get("aliases")):
            return []
        if not _as_list(props.get("records")):
            return [f"record set {props.get('name')} {props.get('type')} has no values: it would answer empty"]
    elif resource_type == GUARDED and not _as_list(props.get("values")):
        return [f"guarded record set {props.get('name')} {props.get('type')} has no values: it would answer empty"]
    return []


def ttl_problems(
    resource_type: str, props: Mapping[str, Any], *, min_ttl: int = DEFAULT_MIN_TTL, max_ttl: int = DEFAULT_MAX_TTL
) -> list[str]:
    """TTL within [min_ttl, max_ttl]: too low floods resolvers and Route 53, too high makes a
    bad answer stick for hours."""
    if resource_type not in (RECORD, GUARDED):
        return []
    ttl = props.get("ttl")
    if ttl is None:
        if resource_type == RECORD and _as_list(props.get("aliases")):
            return []  # alias records take the target's TTL
        return [f"record set {props.get('name')} {props.get('type')} has no TTL (allowed {min_ttl}..{max_ttl} s)"]
    try:
        value = int(ttl)
    except (TypeError, ValueError):
        return [f"record set {props.get('name')} {props.get('type')}: TTL {ttl!r} is not a number"]
    if not min_ttl <= value <= max_ttl:
        return [
            f"record set {props.get('name')} {props.get('type')}: TTL {value} s outside the allowed "
            f"{min_ttl}..{max_ttl} s"
        ]
    return []


def raw_record_problems(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    managed_zone_ids: Iterable[str] = (),
    managed_zone_names: Iterable[str] = (),
) -> list[str]:
    """A plain `aws.route53.Record` in a zone managed by dns-safeguards bypasses the fence, the
    compare-and-set and the never-empty guard (pulumi-aws UPSERTs): only `GuardedRecordSet` may
    write there."""
    if resource_type != RECORD:
        return []
    zone_id = _known(props, "zoneId")
    name = _known(props, "name")
    ids = set(managed_zone_ids)
    names = [z for z in managed_zone_names if z]
    hit = None
    if isinstance(zone_id, str) and zone_id in ids:
        hit = f"zone {zone_id}"
    elif isinstance(name, str) and name and (zone := next((z for z in names if _in_zone(name, z)), None)):
        hit = f"zone {_fqdn(zone)}"
    elif (ids or names) and _unknown(props, "zoneId") and isinstance(name, str) and _is_relative(name):
        # The zone id is not known yet (first preview) and the name is relative to it: it may
        # well land in a managed zone, so it is refused until proven otherwise.
        hit = "zone (its id is unknown and the name is relative: it may be a managed zone; give the full name)"
    if hit is None:
        return []
    return [
        f"record {name} {props.get('type')} is written by a plain aws.route53.Record into managed {hit}: "
        "use GuardedRecordSet (fenced compare-and-set, never-empty guard) instead"
    ]


def managed_zone_ids_in_stack(resources: Iterable[Any]) -> tuple[list[str], list[str]]:
    """(zone ids, zone names) of the hosted zones a `DnsAutomation` component created in this
    stack (tagged `dns-safeguards:role = zone`). Ids are unknown during a first preview."""
    ids: list[str] = []
    names: list[str] = []
    for r in resources:
        if r.resource_type == ZONE and _tags(r.props).get(ROLE_TAG) == "zone":
            for key in ("zoneId", "id"):
                value = _known(r.props, key)
                if isinstance(value, str) and value:
                    ids.append(value)
            name = _known(r.props, "name")
            if isinstance(name, str) and name:
                names.append(name)
    return ids, names


# ----------------------------------------------------------------------------------- tables


def table_protection_problems(
    resource_type: str, props: Mapping[str, Any], *, table_names: Iterable[str] = ()
) -> list[str]:
    """Plan and lease tables (tagged by `DnsAutomation`, or named in the config) must have
    point-in-time recovery and deletion protection: losing the plans is losing the fence's
    history and the last known good state."""
    if resource_type != TABLE:
        return []
    role = _tags(props).get(ROLE_TAG)
    name = _known(props, "name")
    plan_schema = (_known(props, "hashKey"), _known(props, "rangeKey")) == PLAN_TABLE_KEYS
    named_like_ours = isinstance(name, str) and any(t in name.lower() for t in ("dns-safeguards", "dnssg"))
    untagged_plan_table = role not in PROTECTED_TABLE_ROLES and (plan_schema or named_like_ours)
    if role not in PROTECTED_TABLE_ROLES and name not in set(table_names) and not untagged_plan_table:
        return []
    label = f"{role or 'dns-safeguards table'} {name or ''}".strip()
    problems = []
    if untagged_plan_table:
        problems.append(
            f"{label}: looks like a dns-safeguards plan table (key schema zone/generation or its name) but "
            f"is not tagged {ROLE_TAG}=plan-table"
        )
    pitr = props.get("pointInTimeRecovery")
    if not (isinstance(pitr, Mapping) and pitr.get("enabled") is True):
        problems.append(f"{label}: point-in-time recovery must be enabled")
    if props.get("deletionProtectionEnabled") is not True:
        problems.append(f"{label}: deletion protection must be enabled")
    return problems


# ----------------------------------------------------------------------------------- IAM


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _is_dns_policy(statements: Sequence[Mapping[str, Any]]) -> bool:
    """The rule governs the enactor's policy (tagged by `DnsAutomation`) and any policy that
    grants Route 53 or DynamoDB actions, or every action."""
    for s in statements:
        for action in _as_list(s.get("Action")) + _as_list(s.get("NotAction")):
            a = str(action).lower()
            if a == "*" or a.startswith(("route53:", "dynamodb:")):
                return True
    return False


def iam_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """DNS automation IAM: no wildcard actions (`*`, `route53:*`, `route53:Change*`...), no
    destructive actions (DeleteHostedZone, DeleteTable...), no NotAction or NotResource, no
    wildcard ARNs (`hostedzone/*`, `table/*`; only `change/*` for GetChange), no `Resource: "*"`
    except for ListHostedZonesByName alone, ChangeResourceRecordSets only with ForAllValues
    conditions that allow exactly CREATE/DELETE and exact names (or one `*.<subtree>`), and the
    enactor's policy denies the apex NS and SOA. Roles: the same for inline policies, no broad
    AWS-managed policies, and an enactor role trusts a named principal, never a whole account.
    Policy attachments: no broad AWS-managed policies."""
    if resource_type in ATTACHMENT_TYPES:
        return _managed_policy_problems([_known(props, "policyArn")])
    if resource_type == ROLE:
        return _role_problems(props)
    if resource_type not in IAM_POLICY_TYPES:
        return []
    enactor = _tags(props).get(ROLE_TAG) == "enactor"
    return _document_problems(_known(props, "policy"), enactor=enactor)


def _document_problems(document: Any, *, enactor: bool, where: str = "") -> list[str]:
    statements = _statements(document)
    if not enactor and not _is_dns_policy(statements):
        return []
    problems: list[str] = []
    changes = False
    for i, s in enumerate(statements):
        if s.get("Effect") != "Allow":
            continue
        sid = f"{where}statement {s.get('Sid') or f'#{i}'}"
        actions = [str(a) for a in _as_list(s.get("Action"))]
        lowered = {a.lower() for a in actions}
        if "NotAction" in s:
            problems.append(f"{sid}: Allow with NotAction grants everything else")
        if "NotResource" in s:
            problems.append(f"{sid}: Allow with NotResource grants every other resource")
        for a in actions:
            if "*" in a or "?" in a:
                problems.append(f"{sid}: wildcard action {a!r}; list the exact actions")
            elif a.lower() in DESTRUCTIVE_ACTIONS:
                problems.append(f"{sid}: {a} destroys a zone, a table or its protection; never grant it here")
        resources = [str(r) for r in _as_list(s.get("Resource"))]
        if "*" in resources and not (actions and lowered <= UNSCOPED_ACTIONS):
            problems.append(
                f'{sid}: Resource "*" for {", ".join(actions) or "no actions"}; only '
                'route53:ListHostedZonesByName (which has no resource-level scope) may use "*"'
            )
        for r in resources:
            if r != "*" and ("*" in r or "?" in r) and not (_is_change_arn(r) and lowered <= {"route53:getchange"}):
                problems.append(f"{sid}: wildcard resource {r!r}; name the hosted zone and the tables")
        if "route53:changeresourcerecordsets" in lowered:
            changes = True
            problems += _change_condition_problems(sid, s.get("Condition"))
    if enactor and changes and not _denies_apex_delegation(statements):
        problems.append(
            f"{where}policy: no explicit Deny of ChangeResourceRecordSets on the NS and SOA types: "
            "the apex delegation must never be changed by the enactor"
        )
    return problems


def _is_change_arn(arn: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "route53" and parts[5] == "change/*"


def _denies_apex_delegation(statements: Sequence[Mapping[str, Any]]) -> bool:
    for s in statements:
        if s.get("Effect") != "Deny":
            continue
        actions = {str(a).lower() for a in _as_list(s.get("Action"))}
        if not actions & {"route53:changeresourcerecordsets", "route53:*", "*"}:
            continue
        condition = s.get("Condition")
        if not condition:
            return True
        types: set[str] = set()
        if isinstance(condition, Mapping):
            for op, keys in condition.items():
                if str(op).startswith("ForAnyValue:") and isinstance(keys, Mapping):
                    for key, value in keys.items():
                        if str(key).lower() == "route53:changeresourcerecordsetsrecordtypes":
                            types |= {str(v).upper() for v in _as_list(value)}
        if {"NS", "SOA"} <= types:
            return True
    return False


def _role_problems(props: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    enactor = _tags(props).get(ROLE_TAG) == "enactor"
    for i, inline in enumerate(_as_list(_known(props, "inlinePolicies"))):
        if isinstance(inline, Mapping):
            label = inline.get("name") or f"#{i}"
            problems += _document_problems(inline.get("policy"), enactor=enactor, where=f"inline policy {label} ")
    problems += _managed_policy_problems(_as_list(_known(props, "managedPolicyArns")))
    if enactor:
        problems += _trust_problems(_known(props, "assumeRolePolicy"))
    return problems


def _managed_policy_problems(arns: Iterable[Any]) -> list[str]:
    problems = []
    for arn in arns:
        if not isinstance(arn, str):
            continue
        name = arn.rsplit("/", 1)[-1]
        if ":iam::aws:policy/" in arn and name in BROAD_MANAGED_POLICIES:
            problems.append(
                f"AWS-managed policy {name} grants UPSERT (or everything) on every zone and table: it bypasses "
                "the fence and the never-empty guard; use the enactor's least-privilege policy"
            )
    return problems


def _trust_problems(document: Any) -> list[str]:
    problems = []
    for s in _statements(document):
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal")
        values: list[Any] = []
        if principal == "*":
            values = ["*"]
        elif isinstance(principal, Mapping):
            values = _as_list(principal.get("AWS"))
        for p in values:
            text = str(p).strip()
            if text == "*" or text.endswith(":root") or text.isdigit():
                problems.append(
                    f"enactor role trusts {text!r}: a whole account (or everyone) may assume it; "
                    "name the role or user that runs the enactor"
                )
    return problems


def _name_pattern_problem(sid: str, value: Any) -> str | None:
    v = str(value).strip().lower().rstrip(".")
    if "*" not in v and "?" not in v:
        return None
    rest = v[2:] if v.startswith("*.") else None
    if rest is None or "*" in rest or "?" in rest or rest.count(".") < 2:
        return (
            f"{sid}: record name condition {value!r} allows names outside one subtree; list exact names "
            "or one '*.<subtree>.<zone>' pattern"
        )
    return None


def _change_condition_problems(sid: str, condition: Any) -> list[str]:
    allowed = None
    names = None
    if isinstance(condition, Mapping):
        for op, keys in condition.items():
            if not isinstance(keys, Mapping) or not str(op).startswith("ForAllValues:"):
                continue
            for key, value in keys.items():
                k = str(key).lower()
                if k == "route53:changeresourcerecordsetsactions":
                    allowed = {str(v).upper() for v in _as_list(value)}
                elif k == "route53:changeresourcerecordsetsnormalizedrecordnames":
                    names = _as_list(value)
    problems = []
    if allowed is None:
        problems.append(
            f"{sid}: ChangeResourceRecordSets without a ForAllValues condition on "
            "route53:ChangeResourceRecordSetsActions (allow CREATE and DELETE only)"
        )
    elif "UPSERT" in allowed or any("*" in a or "?" in a for a in allowed):
        problems.append(f"{sid}: UPSERT allowed; it is last-writer-wins, not a compare-and-set")
    elif not allowed <= {"CREATE", "DELETE"}:
        problems.append(f"{sid}: actions {sorted(allowed - {'CREATE', 'DELETE'})} allowed; only CREATE and DELETE")
    if not names:
        problems.append(
            f"{sid}: ChangeResourceRecordSets without a ForAllValues condition on "
            "route53:ChangeResourceRecordSetsNormalizedRecordNames (limit it to the managed names)"
        )
    else:
        problems += [p for p in (_name_pattern_problem(sid, n) for n in names) if p]
    return problems


# ----------------------------------------------------------------------------------- adapters


def _report(problems: Iterable[str], report_violation: ReportViolation) -> None:
    for p in problems:
        report_violation(p, None)


def _ints(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    return default if value is None else int(value)


def validate_no_empty_values(args: Any, report_violation: ReportViolation) -> None:
    """pulumi-policy adapter of `empty_values_problems`."""
    _report(empty_values_problems(args.resource_type, args.props), report_violation)


def validate_ttl_bounds(args: Any, report_violation: ReportViolation) -> None:
    """pulumi-policy adapter of `ttl_problems` (config: minTtl, maxTtl)."""
    config = args.get_config() or {}
    problems = ttl_problems(
        args.resource_type,
        args.props,
        min_ttl=_ints(config, "minTtl", DEFAULT_MIN_TTL),
        max_ttl=_ints(config, "maxTtl", DEFAULT_MAX_TTL),
    )
    _report(problems, report_violation)


def validate_records_guarded(args: Any, report_violation: ReportViolation) -> None:
    """pulumi-policy adapter of `raw_record_problems` (config: managedZoneIds, managedZoneNames)."""
    config = args.get_config() or {}
    problems = raw_record_problems(
        args.resource_type,
        args.props,
        managed_zone_ids=_as_list(config.get("managedZoneIds")),
        managed_zone_names=_as_list(config.get("managedZoneNames")),
    )
    _report(problems, report_violation)


def validate_stack_records_guarded(args: Any, report_violation: ReportViolation) -> None:
    """Stack-level: plain records pointed at a zone that `DnsAutomation` created in this stack."""
    ids, names = managed_zone_ids_in_stack(args.resources)
    for r in args.resources:
        for p in raw_record_problems(r.resource_type, r.props, managed_zone_ids=ids, managed_zone_names=names):
            report_violation(p, r.urn)


def validate_tables_protected(args: Any, report_violation: ReportViolation) -> None:
    """pulumi-policy adapter of `table_protection_problems` (config: tableNames)."""
    config = args.get_config() or {}
    problems = table_protection_problems(args.resource_type, args.props, table_names=_as_list(config.get("tableNames")))
    _report(problems, report_violation)


def validate_enactor_iam(args: Any, report_violation: ReportViolation) -> None:
    """pulumi-policy adapter of `iam_problems`."""
    _report(iam_problems(args.resource_type, args.props), report_violation)
