"""The CLI as a user runs it: real processes on the embedded default, exit codes, one-line
errors, --json shapes, and nothing written on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def embedded_env() -> dict[str, str]:
    """The caller's environment without an endpoint: AWS_ENDPOINT_URL (set to reuse a running
    LocalStack) would switch the CLI from the embedded default to boto3."""
    return {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "DNS_SAFEGUARDS_ENDPOINT_URL")}


def run(tmp_path: Path, *args: str, check: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**embedded_env(), "DNS_SAFEGUARDS_STATE": str(tmp_path / "state"), "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "safeguards", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def write_plan(tmp_path: Path, gen: int, api: list[str], *, extra: str = "", name: str | None = None) -> Path:
    path = tmp_path / (name or f"plan-{gen}.yaml")
    values = ", ".join(api)
    path.write_text(
        textwrap.dedent(
            f"""\
            zone: example.com
            generation: {gen}
            records:
              - name: api
                type: A
                ttl: 60
                values: [{values}]
              - name: www
                type: CNAME
                ttl: 300
                values: [api.example.com]
            """
        )
        + extra
    )
    return path


def status(tmp_path: Path) -> dict:
    return json.loads(run(tmp_path, "status", "--zone", "example.com", "--json", check=0).stdout)


def state_files(tmp_path: Path) -> dict[str, bytes]:
    d = tmp_path / "state"
    return {p.name: p.read_bytes() for p in sorted(d.glob("*"))} if d.exists() else {}


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = run(tmp_path, "--help", check=0).stdout
    for cmd in ("plan", "apply", "status", "rollback", "repair", "cleanup", "reset", "demo"):
        assert cmd in out


def test_apply_then_status_json_shape(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.2", "192.0.2.1"])), check=0)
    st = status(tmp_path)
    assert st["zone"] == "example.com." and st["generation"] == 1
    assert st["circuit"]["open"] is False
    api = next(r for r in st["records"] if r["name"] == "api.example.com.")
    assert api == {"name": "api.example.com.", "type": "A", "ttl": 60, "values": ["192.0.2.1", "192.0.2.2"]}
    assert not any(r["name"].startswith("_dnssg") for r in st["records"])
    # Applying the same plan again: nothing to do, exit 0.
    again = run(tmp_path, "apply", str(tmp_path / "plan-1.yaml"), "--json", check=0)
    assert json.loads(again.stdout)["outcome"] == "noop"


def test_invalid_plan_exits_2_with_one_line_per_problem_and_writes_nothing(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    before = state_files(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "zone: example.com\ngeneration: -1\nrecords:\n  - {name: api.other.org, type: A, ttl: 60, values: [1.2.3]}\n"
    )
    proc = run(tmp_path, "apply", str(bad), check=2)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("error:") and len(lines) >= 3
    assert state_files(tmp_path) == before


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("zone: [unclosed\n", "YAML"),
        (None, "No such file"),
    ],
)
def test_malformed_or_missing_file_is_one_clear_line(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "p.yaml"
    if content is not None:
        path.write_text(content)
    proc = run(tmp_path, "plan", str(path), check=2)
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_plan_shows_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1", "192.0.2.2"])), check=0)
    before = state_files(tmp_path)
    proc = run(tmp_path, "plan", str(write_plan(tmp_path, 2, ["192.0.2.1", "192.0.2.3"])), check=0)
    assert "~ api.example.com. A" in proc.stdout and "192.0.2.3" in proc.stdout
    data = json.loads(run(tmp_path, "plan", str(tmp_path / "plan-2.yaml"), "--json", check=0).stdout)
    assert data["live_generation"] == 1 and len(data["updates"]) == 1
    assert state_files(tmp_path) == before


def test_a_plan_that_empties_a_name_exits_3_and_changes_nothing(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    before = status(tmp_path)
    only_www = tmp_path / "only-www.yaml"
    only_www.write_text(
        "zone: example.com\ngeneration: 2\nrecords:\n  - {name: www, type: A, ttl: 60, values: [192.0.2.9]}\n"
    )
    proc = run(tmp_path, "apply", str(only_www), check=3)
    assert "api.example.com." in proc.stderr and "no records" in proc.stderr
    assert status(tmp_path)["records"] == before["records"]


def test_stale_generation_exits_4(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 7, ["192.0.2.7"])), check=0)
    proc = run(tmp_path, "apply", str(write_plan(tmp_path, 5, ["192.0.2.5"])), check=4)
    assert "generation 7 is live" in proc.stderr
    assert status(tmp_path)["generation"] == 7


def test_two_processes_applying_5_and_7_leave_7_live(tmp_path: Path) -> None:
    """Started together, in both orders: 7 always ends live; 5 exits 4 unless it finished
    before 7 began (then both succeed, and 7 still wins)."""
    p5 = write_plan(tmp_path, 5, ["192.0.2.5"])
    p7 = write_plan(tmp_path, 7, ["192.0.2.7"])
    for order in ((p5, p7), (p7, p5)):
        env = {**embedded_env(), "DNS_SAFEGUARDS_STATE": str(tmp_path / f"state-{order[0].stem}"), "NO_COLOR": "1"}
        procs = {
            p.stem: subprocess.Popen(
                [sys.executable, "-m", "safeguards", "apply", str(p)],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in order
        }
        codes = {k: p.wait(timeout=120) for k, p in procs.items()}
        assert codes["plan-7"] == 0
        assert codes["plan-5"] in (0, 4)
        st = json.loads(
            subprocess.run(
                [sys.executable, "-m", "safeguards", "status", "--zone", "example.com", "--json"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert st["generation"] == 7
        api = next(r for r in st["records"] if r["name"] == "api.example.com.")
        assert api["values"] == ["192.0.2.7"]
    # Sequentially in the stale order the outcome is certain.
    env_dir = tmp_path / "seq"
    env_dir.mkdir()
    run(env_dir, "apply", str(p7), check=0)
    run(env_dir, "apply", str(p5), check=4)


def test_rollback_after_1_then_2_leaves_1s_content_as_a_revision_of_2(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1", "192.0.2.2"])), check=0)
    run(tmp_path, "apply", str(write_plan(tmp_path, 2, ["192.0.2.1", "192.0.2.3"])), check=0)
    out = json.loads(run(tmp_path, "rollback", "--zone", "example.com", "--json", check=0).stdout)
    # Under the live generation one revision up: the planner's generation 3 stays free.
    assert (out["generation"], out["revision"], out["rolled_back_to"]) == (2, 1, 1)
    st = status(tmp_path)
    assert (st["generation"], st["revision"], st["content_generation"]) == (2, 1, 1)
    api = next(r for r in st["records"] if r["name"] == "api.example.com.")
    assert api["values"] == ["192.0.2.1", "192.0.2.2"]


def test_repair_and_cleanup_and_reset(tmp_path: Path) -> None:
    for g in range(1, 6):
        run(tmp_path, "apply", str(write_plan(tmp_path, g, ["192.0.2.1", f"192.0.2.{10 + g}"])), check=0)
    assert json.loads(run(tmp_path, "repair", "--zone", "example.com", "--json", check=0).stdout)["outcome"] == "noop"
    out = json.loads(run(tmp_path, "cleanup", "--zone", "example.com", "--keep", "1", "--json", check=0).stdout)
    assert out["deleted"] == [1, 2, 3]
    run(tmp_path, "reset", "--zone", "example.com", check=0)


def test_unreachable_endpoint_is_one_line_and_nonzero(tmp_path: Path) -> None:
    env_plan = write_plan(tmp_path, 1, ["192.0.2.1"])
    proc = subprocess.run(
        [sys.executable, "-m", "safeguards", "--endpoint-url", "http://127.0.0.1:9", "apply", str(env_plan)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "NO_COLOR": "1",
            "AWS_MAX_ATTEMPTS": "1",
            "DNS_SAFEGUARDS_STATE": str(tmp_path / "state"),
        },
    )
    assert proc.returncode not in (0, 2, 3, 4, 5, 6) and proc.returncode != 0
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1


def test_missing_credentials_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "NO_COLOR": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "safeguards", "--backend", "aws", "status", "--zone", "example.com"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and "credentials" in proc.stderr and "Traceback" not in proc.stderr
