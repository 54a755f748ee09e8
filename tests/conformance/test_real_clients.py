"""Real clients against every backend they can reach: the AWS CLI (emulators: it needs an HTTP
endpoint), botocore's waiter (the embedded model through botocore's own Waiter class) and octoDNS
with octodns-route53 (test_octodns.py). Skipped when the client is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.waiter import Waiter
from test_route53_fidelity import create, wire
from wire import REGION, submit_raw

from safeguards.records import Change, RecordSet, fqdn

if TYPE_CHECKING:
    from conftest import Target

AWS = shutil.which("aws")


def aws(t: Target, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "1",
    }
    endpoint = str(t.backend.client.meta.endpoint_url)
    cmd = [str(AWS), "route53", *args, "--endpoint-url", endpoint, "--output", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def _needs_cli(t: Target) -> None:
    if AWS is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    if t.is_strict:
        pytest.skip("the embedded model has no HTTP endpoint for the AWS CLI")


def test_aws_cli_page_size_2_lists_every_set_once(target: Target) -> None:
    t = target
    _needs_cli(t)
    sets = [wire(t, "api", values=(f"192.0.2.{i}",), SetIdentifier=f"w{i}", Weight=i) for i in range(1, 6)]
    sets += [wire(t, "geo", values=("198.51.100.1",), SetIdentifier="de", GeoLocation={"CountryCode": "DE"})]
    assert submit_raw(t, [create(w) for w in sets]) is None
    out = aws(t, "list-resource-record-sets", "--hosted-zone-id", t.zone_id, "--page-size", "2")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["ResourceRecordSets"]
    keys = [(w["Name"], w["Type"], w.get("SetIdentifier")) for w in listed]
    assert len(keys) == len(set(keys)) == len(sets) + 2


def test_aws_cli_documented_change_batches(target: Target, tmp_path: Any) -> None:
    """The API reference's weighted example is accepted; deleting a set that is not there is
    refused with InvalidChangeBatch (a non-zero exit: 255 in AWS CLI v1, 254 in v2)."""
    t = target
    _needs_cli(t)
    batch = {"Comment": "weighted example", "Changes": [
        {"Action": "CREATE", "ResourceRecordSet": wire(t, "www", values=("192.0.2.44",), ttl=600,
                                                       SetIdentifier="Seattle data center", Weight=100)},
        {"Action": "CREATE", "ResourceRecordSet": wire(t, "www", values=("192.0.2.45",), ttl=600,
                                                       SetIdentifier="Portland data center", Weight=200)},
    ]}
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(batch))
    ok = aws(t, "change-resource-record-sets", "--hosted-zone-id", t.zone_id, "--change-batch", f"file://{path}")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ChangeInfo"]["Status"] in ("PENDING", "INSYNC")
    missing = {"Changes": [{"Action": "DELETE", "ResourceRecordSet": wire(t, "nothing-here")}]}
    path.write_text(json.dumps(missing))
    refused = aws(t, "change-resource-record-sets", "--hosted-zone-id", t.zone_id, "--change-batch", f"file://{path}")
    assert refused.returncode in (254, 255) and "(InvalidChangeBatch)" in refused.stderr, refused.stderr
    assert "but it was not found]" in refused.stderr


def test_resource_record_sets_changed_waiter_waits_for_insync(target: Target) -> None:
    """botocore's own waiter (its model and Waiter class) polls GetChange through PENDING until
    INSYNC on the model's clock."""
    t = target
    if not t.is_strict:
        pytest.skip("emulators are INSYNC at the first GetChange (see gaps.py)")
    info = t.backend.change_record_sets(t.zone_id, [Change("CREATE", RecordSet(fqdn(f"w.{t.zone}"), "A", 60,
                                                                                ("192.0.2.1",)))])
    polls: list[str] = []

    def get_change(**kw: Any) -> dict[str, Any]:
        status = t.backend.get_change(kw["Id"]).status
        polls.append(status)
        t.advance(t.insync_after / 3)  # the next poll comes a while later
        return {"ChangeInfo": {"Id": kw["Id"], "Status": status}}

    client = boto3.client("route53", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    model = client.get_waiter("resource_record_sets_changed").config
    Waiter("ResourceRecordSetsChanged", model, get_change).wait(Id=info.id, WaiterConfig={"Delay": 0})
    assert polls[0] == "PENDING" and polls[-1] == "INSYNC" and len(polls) >= 3


WAITER_PORT = 4599  # its own instance: insync_after > 0 must not slow the suites sharing 4566


@pytest.mark.dnssg_localstack
def test_waiter_waits_for_pending_on_strict_localstack() -> None:
    """botocore's resource_record_sets_changed waiter against the strict LocalStack provider sees
    PENDING, then INSYNC once DNSSG_ROUTE53_INSYNC_AFTER seconds have passed."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "DNSSG_ROUTE53_INSYNC_AFTER": "3"}
    started = subprocess.run([f"{root}/localstack/start", "--port", str(WAITER_PORT)], capture_output=True,
                             text=True, env=env, timeout=300, check=False)
    assert started.returncode == 0, started.stderr
    try:
        endpoint = started.stdout.strip().splitlines()[-1]
        client = boto3.client("route53", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        import requests

        requests.post(f"{endpoint}/_dnssg/settings", json={"insync_after": 3}, timeout=10)
        zone_id = client.create_hosted_zone(Name="waiter.example.", CallerReference=str(os.getpid()))[
            "HostedZone"]["Id"]
        info = client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {"Name": "w.waiter.example.", "Type": "A", "TTL": 60,
                                                      "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})["ChangeInfo"]
        assert client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
        client.get_waiter("resource_record_sets_changed").wait(Id=info["Id"],
                                                               WaiterConfig={"Delay": 1, "MaxAttempts": 20})
        assert client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    finally:
        subprocess.run([f"{root}/localstack/stop", "--port", str(WAITER_PORT)], capture_output=True, timeout=60,
                       check=False)
