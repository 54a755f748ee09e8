"""The `EnactorDeployment` component's resource graph, checked with Pulumi mocks (no CLI, no AWS):
one ECS service per Availability Zone as given, the least-privilege task role (the policy of
`infra.automation`), an execution role with no DNS or table permission, the plan and lease
tables created or referenced."""

from __future__ import annotations

import configparser
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_mocks import ACCOUNT, REGION, ROOT, Mocks

from infra.automation import DYNAMODB_ACTIONS
from infra.enactor import MAX_STOP_TIMEOUT, EnactorDeployment, EnactorDeploymentArgs

SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
TABLE = "aws:dynamodb/table:Table"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
AZS = {"us-east-1a": ["subnet-a"], "us-east-1b": ["subnet-b1", "subnet-b2"], "us-east-1c": ["subnet-c"]}


class EnactorMocks(Mocks):
    """The shared mocks, plus the region and the ECS and log outputs this component reads."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, outputs = super().new_resource(args)
        if args.typ.startswith("aws:ecs/") or args.typ == "aws:cloudwatch/logGroup:LogGroup":
            kind = args.typ.split(":")[-1].lower()
            outputs.setdefault("name", f"{args.name}-1a2b3c")
            outputs["arn"] = f"arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{args.name}"
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getRegion:getRegion":
            self.calls.append((args.token, dict(args.args)))
            return {"region": REGION, "name": REGION, "id": REGION, "endpoint": "", "description": ""}, []
        return super().call(args)


@pytest.fixture
def mocks() -> EnactorMocks:
    m = EnactorMocks()
    pulumi.runtime.set_mocks(m, project="dns-safeguards", stack="test", preview=False)
    return m


def args(**kw: Any) -> EnactorDeploymentArgs:
    base: dict[str, Any] = dict(
        zone="example.com",
        zone_id="Z0EXISTING",
        managed_names=["api", "www"],
        record_types=["A"],
        availability_zones=AZS,
        image="registry.example.com/dns-safeguards:1.4.0",
        plan_table_name="dnssg-plans",
        lease_table_name="dnssg-leases",
        security_group_ids=["sg-1"],
    )
    base.update(kw)
    return EnactorDeploymentArgs(**base)


def build(a: EnactorDeploymentArgs) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        comp = EnactorDeployment("enactors", a)
        return pulumi.Output.all(
            plan_table=comp.plan_table_name,
            lease_table=comp.lease_table_name,
            task_role=comp.task_role_arn,
            execution_role=comp.execution_role_arn,
            cluster=comp.cluster_arn,
            services=pulumi.Output.all(**comp.service_names),
        ).apply(seen.update)

    program()
    return seen


def test_one_enactor_per_availability_zone_pinned_to_its_subnets(mocks: EnactorMocks) -> None:
    out = build(args())
    services = mocks.of_type(SERVICE)
    assert [s.name for s in services] == ["enactors-us-east-1a", "enactors-us-east-1b", "enactors-us-east-1c"]
    assert sorted(out["services"]) == sorted(AZS)
    for s in services:
        az = s.name.removeprefix("enactors-")
        net = s.inputs["networkConfiguration"]
        assert net["subnets"] == AZS[az] and net["securityGroups"] == ["sg-1"] and net["assignPublicIp"] is False
        assert s.inputs["desiredCount"] == 1 and s.inputs["launchType"] == "FARGATE"
        # Replaced, never doubled; no shell into the task.
        assert s.inputs["deploymentMinimumHealthyPercent"] == 0 and s.inputs["deploymentMaximumPercent"] == 100
        assert s.inputs["enableExecuteCommand"] is False
    assert out["plan_table"] == "dnssg-plans" and out["lease_table"] == "dnssg-leases"


def test_each_task_runs_dns_safeguards_enact_on_the_shared_plan_store(mocks: EnactorMocks) -> None:
    build(args(interval=20))
    tasks = mocks.of_type(TASK)
    assert len(tasks) == 3
    ids = []
    for t in tasks:
        assert t.inputs["networkMode"] == "awsvpc" and t.inputs["requiresCompatibilities"] == ["FARGATE"]
        [container] = json.loads(t.inputs["containerDefinitions"])
        cmd = container["command"]
        assert cmd[:2] == ["--zone", "example.com"] and "enact" not in cmd  # the image's entrypoint says enact
        assert cmd[cmd.index("--interval") + 1] == "20"
        assert cmd[cmd.index("--plan-table") + 1] == "dnssg-plans"
        assert cmd[cmd.index("--lease-table") + 1] == "dnssg-leases"
        assert cmd[cmd.index("--backend") + 1] == "aws" and cmd[cmd.index("--region") + 1] == REGION
        ids.append(cmd[cmd.index("--enactor-id") + 1])
        assert container["stopTimeout"] == MAX_STOP_TIMEOUT and container["readonlyRootFilesystem"] is True
        assert "127.0.0.1:9464/healthz" in " ".join(container["healthCheck"]["command"])
        assert container["image"] == "registry.example.com/dns-safeguards:1.4.0"
    assert sorted(ids) == ["enactors-us-east-1a", "enactors-us-east-1b", "enactors-us-east-1c"]  # distinct ids


def test_task_role_is_the_least_privilege_enactor_policy_and_only_ecs_tasks_assume_it(mocks: EnactorMocks) -> None:
    out = build(args())
    roles = {r.name: r for r in mocks.of_type(ROLE)}
    assert sorted(roles) == ["enactors-execution", "enactors-task"]
    for r in roles.values():
        trust = json.loads(r.inputs["assumeRolePolicy"])
        assert trust["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs-tasks.amazonaws.com"]}}
        ]
    [policy] = mocks.of_type(POLICY)
    doc = json.loads(policy.inputs["policy"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ChangeManagedRecordsOnly"]["Resource"] == ["arn:aws:route53:::hostedzone/Z0EXISTING"]
    assert by_sid["NeverTheApexDelegation"]["Effect"] == "Deny"
    assert by_sid["PlanStore"]["Action"] == list(DYNAMODB_ACTIONS)
    assert sorted(by_sid["PlanStore"]["Resource"]) == [
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/dnssg-leases",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/dnssg-plans",
    ]
    attachments = {a.name: a.inputs for a in mocks.of_type(ATTACH)}
    assert attachments["enactors-task"]["role"] == "enactors-task-1a2b3c"  # the role's name output
    assert attachments["enactors-execution"]["policyArn"].endswith("service-role/AmazonECSTaskExecutionRolePolicy")
    # The task role is the enactors' only AWS identity for DNS and tables; the execution role has none.
    tasks = mocks.of_type(TASK)
    assert {t.inputs["taskRoleArn"] for t in tasks} == {out["task_role"]}
    assert {t.inputs["executionRoleArn"] for t in tasks} == {out["execution_role"]}


def test_tables_created_with_the_plan_store_schema(mocks: EnactorMocks) -> None:
    build(args())
    plans, leases = mocks.of_type(TABLE)[1], mocks.of_type(TABLE)[0]
    assert (plans.name, leases.name) == ("enactors-plans", "enactors-leases")
    assert (plans.inputs["hashKey"], plans.inputs["rangeKey"]) == ("zone", "generation")
    assert leases.inputs["hashKey"] == "zone" and "rangeKey" not in leases.inputs
    for t in (plans, leases):
        assert t.inputs["deletionProtectionEnabled"] is True and t.inputs["billingMode"] == "PAY_PER_REQUEST"
        assert t.inputs["pointInTimeRecovery"] == {"enabled": True}


def test_existing_tables_and_cluster_are_referenced_not_created(mocks: EnactorMocks) -> None:
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/shared"
    out = build(args(create_tables=False, cluster_arn=cluster, availability_zones={"use1-az4": ["subnet-x"]}))
    assert mocks.of_type(TABLE) == [] and mocks.of_type("aws:ecs/cluster:Cluster") == []
    assert out["cluster"] == cluster and out["plan_table"] == "dnssg-plans"
    [service] = mocks.of_type(SERVICE)
    assert service.inputs["cluster"] == cluster and service.name == "enactors-use1-az4"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"availability_zones": {}}, "at least one Availability Zone"),
        ({"availability_zones": {"us-east-1a": []}}, "no subnet"),
        ({"availability_zones": {"zone-a": ["s"]}}, "not an Availability Zone"),
        ({"create_tables": False, "lease_table_name": None}, "give plan_table_name and lease_table_name"),
        ({"stop_timeout": 600}, "ECS maximum"),
        ({"image": "dns-safeguards:latest"}, "pin a tag"),
        ({"managed_name_patterns": ["*.com"]}, "pattern"),
    ],
)
def test_configuration_errors_before_anything_is_declared(
    mocks: EnactorMocks, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EnactorDeployment("bad", args(**change))
    assert mocks.registered == []


# ---------------------------------------------------------------------- the image and the unit
# No Docker engine here and systemd does not run in the test container: both files are parsed,
# and what they tell the CLI to do is run through the real CLI.

IMAGE_DIR = ROOT / "infra" / "enactor"


def containerfile_stages() -> list[list[tuple[str, str]]]:
    """The Containerfile's instructions (continuations joined), one list per stage."""
    text = (IMAGE_DIR / "Containerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            stages.append([])
        stages[-1].append((op.upper(), rest.strip()))
    return stages


def test_containerfile_runs_dns_safeguards_enact_as_a_non_root_user_with_the_project_installed() -> None:
    build_stage, final = containerfile_stages()
    ops = dict(final)  # the last of each instruction wins, as in Docker
    assert json.loads(ops["ENTRYPOINT"]) == ["dns-safeguards", "enact"]
    user = ops["USER"].split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) > 0)
    assert [op for op, _ in final].index("USER") > max(i for i, (op, _) in enumerate(final) if op == "RUN")
    assert ops["STOPSIGNAL"] == "SIGTERM"
    # The project is installed (from the build context) in the build stage and copied over.
    assert build_stage[0][1].endswith("AS build")
    copies = [rest for op, rest in build_stage if op == "COPY"]
    sources = [p for c in copies for p in c.split()[:-1]]
    assert {"pyproject.toml", "README.md", "safeguards"} <= set(sources)
    assert all((ROOT / p).exists() for p in sources)
    installs = [rest for op, rest in build_stage if op == "RUN" and "pip install ." in rest]
    assert installs and "/opt/dns-safeguards/bin/pip install ." in installs[0]
    assert ("COPY", "--from=build /opt/dns-safeguards /opt/dns-safeguards") in final
    assert "PATH=/opt/dns-safeguards/bin:$PATH" in ops["ENV"]
    # The health check asks the port the default arguments serve metrics on.
    args = json.loads(ops["CMD"])
    port = args[args.index("--metrics-port") + 1]
    assert f"127.0.0.1:{port}/healthz" in ops["HEALTHCHECK"]


def test_the_images_default_arguments_are_accepted_by_the_cli(tmp_path: Path) -> None:
    ops = dict(containerfile_stages()[-1])
    args = json.loads(ops["CMD"])
    args[args.index("--metrics-port") + 1] = "0"  # any free port in a test
    cmd = [sys.executable, "-m", "safeguards", "enact", *args, "--zone", "example.com", "--backend", "embedded",
           "--state", str(tmp_path), "--enactor-id", "image-test", "--once"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert '"outcome": "nothing published"' in done.stdout


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(IMAGE_DIR / "dns-safeguards-enactor.service")
    return parser


def test_systemd_unit_restarts_on_failure_and_stops_between_batches() -> None:
    u = unit()
    s = u["Service"]
    assert s["ExecStart"].split()[:3] == ["/opt/dns-safeguards/bin/dns-safeguards", "enact", "$ZONES"]
    assert s["Restart"] == "on-failure" and s["KillSignal"] == "SIGTERM"
    # Long enough for a batch, its INSYNC wait and its verification (a stop waits for the batch in
    # flight), then SIGKILL: the lease expires and another enactor finishes the generation.
    timeout = int(s["TimeoutStopSec"].removesuffix("s"))
    assert 120 <= timeout <= 600
    assert s["KillMode"] == "mixed"  # SIGTERM to the main process only, then SIGKILL to all
    assert u["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in u["Unit"]["After"]


def test_systemd_unit_is_hardened() -> None:
    s = unit()["Service"]
    assert s["NoNewPrivileges"] == "yes" and s["ProtectSystem"] == "strict"
    assert s["DynamicUser"] == "yes" or s.get("User") not in (None, "root", "0")
    assert s["StateDirectory"] == "dns-safeguards"
    assert s["WorkingDirectory"] == "/var/lib/dns-safeguards" == s["Environment"].split("DNS_SAFEGUARDS_STATE=")[-1]
    for key in ("ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID", "ProtectKernelTunables"):
        assert s[key] == "yes", key
    assert s["CapabilityBoundingSet"] == "" and s["AmbientCapabilities"] == ""
    assert set(s["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path: Path) -> None:
    """The real parser, where there is one: unknown keys and bad values are warnings on stderr.
    The venv's binary and the environment file do not exist here: pointed elsewhere."""
    text = (IMAGE_DIR / "dns-safeguards-enactor.service").read_text()
    text = text.replace("/opt/dns-safeguards/bin/dns-safeguards", "/bin/true")
    text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")
    copy = tmp_path / "dns-safeguards-enactor.service"
    copy.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and copy.name not in done.stderr, done.stderr


# ---------------------------------------------------------------------- the program's opt-in flag


@pytest.fixture
def program_config() -> Any:
    def set_config(**values: Any) -> None:
        pulumi.runtime.set_all_config(
            {f"dns-safeguards:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        )

    yield set_config
    pulumi.runtime.set_all_config({})


def run_program() -> None:
    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(ROOT / "infra"), run_name="__main__")

    program()


PROGRAM = dict(
    planFile=str(ROOT / "examples" / "example.com.yaml"),
    trustedPrincipals=[f"arn:aws:iam::{ACCOUNT}:role/dns-pipeline"],
)


def test_the_program_runs_enactors_only_when_asked(mocks: EnactorMocks, program_config: Any) -> None:
    program_config(**PROGRAM)
    run_program()
    assert mocks.of_type(SERVICE) == [] and mocks.of_type(TASK) == []  # the default is unchanged
    mocks.registered.clear()
    program_config(
        **PROGRAM,
        enactors={"image": "registry.example.com/dns-safeguards:1.4.0", "availabilityZones": AZS, "interval": 15},
    )
    run_program()
    assert [s.name for s in mocks.of_type(SERVICE)] == [f"enactors-{az}" for az in sorted(AZS)]
    # On the stack's tables (DnsAutomation made them: not created twice), scoped like its role.
    assert sorted(t.inputs["name"] for t in mocks.of_type(TABLE)) == [
        "dns-safeguards-leases-test",
        "dns-safeguards-plans-test",
    ]
    [task, *_] = mocks.of_type(TASK)
    cmd = json.loads(task.inputs["containerDefinitions"])[0]["command"]
    assert cmd[cmd.index("--plan-table") + 1] == "dns-safeguards-plans-test"
    assert cmd[cmd.index("--interval") + 1] == "15"
    policies = {p.name: json.loads(p.inputs["policy"]) for p in mocks.of_type(POLICY)}
    assert policies["enactors-task"]["Statement"][0] == policies["dns-enactor"]["Statement"][0]
