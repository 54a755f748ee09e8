"""The CLI's side of decision-bound writes, signing and shared zones: what an operator types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_cli import embedded_env, run, status, write_plan  # same directory: pytest puts it on sys.path


def test_rollback_and_repair_write_revisions_and_a_stale_rollback_exits_4(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1", "192.0.2.2"])), check=0)
    run(tmp_path, "apply", str(write_plan(tmp_path, 2, ["192.0.2.1", "192.0.2.3"])), check=0)
    out = json.loads(run(tmp_path, "rollback", "-z", "example.com", "--yes", "--json", check=0).stdout)
    assert (out["generation"], out["revision"], out["rolled_back_to"]) == (2, 1, 1)
    rep = json.loads(run(tmp_path, "repair", "-z", "example.com", "--json", check=0).stdout)
    assert rep["outcome"] == "noop"
    # The planner's next number is still free, and outranks the rollback.
    run(tmp_path, "apply", str(write_plan(tmp_path, 3, ["192.0.2.1", "192.0.2.4"])), check=0)
    st = status(tmp_path)
    assert (st["generation"], st["revision"]) == (3, 0)
    # Re-applying the rolled-back generation is refused: publish a new one.
    err = run(tmp_path, "apply", str(write_plan(tmp_path, 2, ["192.0.2.1", "192.0.2.3"])), check=4).stderr
    assert "generation 3 is live" in err


def test_an_enactor_id_that_could_bend_the_fence_is_exit_2(tmp_path: Path) -> None:
    plan = str(write_plan(tmp_path, 1, ["192.0.2.1"]))
    for bad in ("evil gen=1", 'a"b', "x" * 65):
        err = run(tmp_path, "--enactor-id", bad, "apply", plan, check=2).stderr
        assert "enactor id" in err and err.count("\n") == 1
    # Nothing was applied: the zone was never even created.
    assert "not found" in run(tmp_path, "status", "-z", "example.com", check=2).stderr


def test_with_a_signing_key_only_signed_plans_are_applied(tmp_path: Path) -> None:
    key = tmp_path / "planner.key"
    key.write_text("0123456789abcdef-a-planner-key\n")
    plan = write_plan(tmp_path, 1, ["192.0.2.1"])
    env = {**embedded_env(), "DNS_SAFEGUARDS_STATE": str(tmp_path / "state"), "DNSSG_SIGNING_KEY_FILE": str(key)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "safeguards", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    refused = cli("apply", str(plan))
    assert refused.returncode == 3 and "not signed" in refused.stderr
    from safeguards.plan import load_plan, plan_to_document
    from safeguards.signing import HmacSigner, sign_plan

    signed = sign_plan(load_plan(plan), HmacSigner.from_file(key))
    signed_path = tmp_path / "signed.json"
    signed_path.write_text(json.dumps(plan_to_document(signed)))
    assert cli("apply", str(signed_path)).returncode == 0
    assert os.environ.get("DNSSG_SIGNING_KEY_FILE") is None  # nothing leaked into this process


def test_owner_scoped_commands(tmp_path: Path) -> None:
    doc = {"zone": "example.com", "generation": 4, "owner": "team-a", "records": [
        {"name": "a1", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}  # fmt: skip
    p = tmp_path / "team-a.json"
    p.write_text(json.dumps(doc))
    run(tmp_path, "apply", str(p), check=0)
    doc["generation"], doc["records"][0]["values"] = 5, ["192.0.2.2"]
    p.write_text(json.dumps(doc))
    run(tmp_path, "apply", str(p), check=0)
    st = json.loads(run(tmp_path, "status", "-z", "example.com", "--owner", "team-a", "--json", check=0).stdout)
    assert (st["owner"], st["generation"]) == ("team-a", 5)
    out = run(tmp_path, "rollback", "-z", "example.com", "--owner", "team-a", "--yes", "--json", check=0).stdout
    assert json.loads(out)["rolled_back_to"] == 4
    # The default owner has nothing live here: its rollback has nothing to act on.
    run(tmp_path, "rollback", "-z", "example.com", "--yes", check=2)
