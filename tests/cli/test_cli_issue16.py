"""Issue 16 through the CLI: every error a documented exit code and one line, nothing applied on
bad input; the conventions users expect (--version, global options after the command, AWS_REGION
and AWS_ENDPOINT_URL, --yes, help without type-name metavars, a private state directory)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import run, state_files, status, write_plan
from typer.testing import CliRunner

from safeguards import cli

ROOT = Path(__file__).resolve().parents[2]


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    return lines[0]


def run_env(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DNS_SAFEGUARDS_"))}
    full = {
        **base,
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "DNS_SAFEGUARDS_STATE": str(tmp_path / "state"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "safeguards", *args], capture_output=True, text=True, env=full, cwd=tmp_path, timeout=120
    )


# ------------------------------------------------------------------------- exit codes


def test_json_nested_2000_deep_is_invalid_input(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"zone": "example.com", "generation": 1, "records": ' + "[" * 2000 + "]" * 2000 + "}")
    proc = run(tmp_path, "apply", str(deep), check=2)
    assert "nested too deeply" in one_error_line(proc)
    assert state_files(tmp_path) == {} or status_absent(tmp_path)


def status_absent(tmp_path: Path) -> bool:
    return run(tmp_path, "status", "-z", "example.com").returncode == 2


@pytest.mark.parametrize("generation", [2**63, 10**21])
def test_generation_beyond_64_bits_is_invalid_in_plan_and_apply(tmp_path: Path, generation: int) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    before = state_files(tmp_path)
    big = write_plan(tmp_path, generation, ["192.0.2.9"])
    assert "too large" in one_error_line(run(tmp_path, "plan", str(big), check=2))
    assert "too large" in one_error_line(run(tmp_path, "apply", str(big), check=2))
    assert state_files(tmp_path) == before


def test_rollback_to_beyond_64_bits_is_a_one_line_usage_error(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    before = state_files(tmp_path)
    line = one_error_line(run(tmp_path, "rollback", "-z", "example.com", "--to", str(10**21), "--yes", check=2))
    assert "--to" in line
    one_error_line(run(tmp_path, "rollback", "-z", "example.com", "--to", "0", "--yes", check=2))
    assert state_files(tmp_path) == before


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com", "http://", "http://host:99999"])
def test_endpoint_url_that_is_not_a_url_exits_2(tmp_path: Path, url: str) -> None:
    proc = run_env(tmp_path, {}, "--endpoint-url", url, "status", "-z", "example.com")
    assert proc.returncode == 2, proc.stderr
    assert "--endpoint-url" in one_error_line(proc)


def test_missing_credentials_exits_2_for_a_real_endpoint(tmp_path: Path) -> None:
    proc = run_env(tmp_path, {}, "--backend", "aws", "status", "-z", "example.com")
    assert proc.returncode == 2
    assert "credentials" in one_error_line(proc)


def test_loopback_endpoint_needs_no_credentials(tmp_path: Path) -> None:
    """LocalStack and moto take any credentials: the CLI does not ask for dummy ones."""
    proc = run_env(tmp_path, {}, "--endpoint-url", "http://127.0.0.1:9", "status", "-z", "example.com")
    line = one_error_line(proc)
    assert proc.returncode == 1 and "credentials" not in line and "127.0.0.1:9" in line


def test_credentials_in_an_endpoint_url_are_never_echoed(tmp_path: Path) -> None:
    for url in ("http://admin:hunter2@127.0.0.1:9", "ftp://admin:hunter2@127.0.0.1:9"):
        proc = run_env(tmp_path, {}, "--endpoint-url", url, "status", "-z", "example.com")
        assert proc.returncode in (1, 2)
        assert "hunter2" not in proc.stderr + proc.stdout and "admin" not in proc.stderr
        assert "***@" in one_error_line(proc)


def test_corrupt_state_database_exits_7_with_what_to_do(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    (tmp_path / "state" / "route53.sqlite").write_bytes(b"this is not a database" * 200)
    line = one_error_line(run(tmp_path, "status", "-z", "example.com", check=7))
    assert "route53.sqlite" in line and "damaged" in line and "backup" in line
    (tmp_path / "state" / "plans.sqlite").write_bytes(b"garbage" * 1000)
    line = one_error_line(run(tmp_path, "status", "-z", "example.com", check=7))
    assert "damaged" in line


def test_state_path_that_is_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file, not a directory")
    assert "not a directory" in one_error_line(run(tmp_path, "status", "-z", "example.com", check=2))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_read_only_state_directory_exits_7(tmp_path: Path) -> None:  # pragma: no cover - not as root
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    state = tmp_path / "state"
    for p in state.iterdir():
        p.chmod(0o400)
    state.chmod(0o500)
    try:
        proc = run(tmp_path, "apply", str(write_plan(tmp_path, 2, ["192.0.2.2"])))
        assert proc.returncode == 7 and "writable" in one_error_line(proc)
    finally:
        state.chmod(0o700)


def test_sqlite_fault_escaping_the_library_is_mapped_not_unexpected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's last line of defence maps SQLite faults too (disk full mid-apply: exit 7)."""

    def boom(*_a: object, **_k: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cli, "_wiring", boom)
    result = CliRunner().invoke(cli.app, ["status", "-z", "example.com"])
    assert result.exit_code == 7
    assert "free disk space" in result.output and "unexpected" not in result.output


# ------------------------------------------------------------------------- zones, options


def test_a_plan_for_another_zone_never_creates_a_hosted_zone(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    other = tmp_path / "net.yaml"
    other.write_text(write_plan(tmp_path, 1, ["192.0.2.1"]).read_text().replace("example.com", "example.net"))
    line = one_error_line(run(tmp_path, "apply", str(other), check=2))
    assert "example.net." in line and "--create-zone" in line
    # plan and apply --dry-run say so too (they exit as apply would), and write nothing.
    before = state_files(tmp_path)
    proc = run(tmp_path, "plan", str(other), check=2)
    assert "no such zone" in proc.stderr and "--create-zone" in proc.stderr
    assert json.loads(run(tmp_path, "plan", str(other), "--json", check=2).stdout)["zone_missing"]
    assert "--create-zone" in one_error_line(run(tmp_path, "apply", str(other), "--dry-run", check=2))
    run(tmp_path, "plan", str(other), "--create-zone", check=0)
    assert state_files(tmp_path) == before
    run(tmp_path, "status", "-z", "example.net", check=2)  # still no such zone
    run(tmp_path, "apply", str(other), "--create-zone", check=0)
    assert status(tmp_path)["generation"] == 1


@pytest.mark.parametrize("keep", ["0", "-5"])
def test_cleanup_keep_below_1_is_refused_and_deletes_nothing(tmp_path: Path, keep: str) -> None:
    for g in (1, 2, 3):
        run(tmp_path, "apply", str(write_plan(tmp_path, g, ["192.0.2.1", f"192.0.2.{10 + g}"])), check=0)
    before = state_files(tmp_path)
    assert "--keep" in one_error_line(run(tmp_path, "cleanup", "-z", "example.com", "--keep", keep, "--yes", check=2))
    assert state_files(tmp_path) == before


@pytest.mark.parametrize("zone", ["exa mple..com", "example..com", "-", "ex_ample.com" + ".x" * 200])
def test_reset_refuses_a_malformed_or_unknown_zone(tmp_path: Path, zone: str) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    one_error_line(run(tmp_path, "reset", "-z", zone, "--yes", check=2))


def test_reset_of_a_zone_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    assert "not found" in one_error_line(run(tmp_path, "reset", "-z", "example.org", "--yes", check=2))


def test_open_circuit_is_visible_in_plan_and_plan_exits_6(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    emptying = tmp_path / "only-www.yaml"
    for g in (2, 3, 4):
        emptying.write_text(
            f"zone: example.com\ngeneration: {g}\nrecords:\n  - {{name: www, type: A, ttl: 60, values: [192.0.2.9]}}\n"
        )
        run(tmp_path, "apply", str(emptying), check=3)
    good = write_plan(tmp_path, 5, ["192.0.2.5"])
    proc = run(tmp_path, "plan", str(good), check=6)
    assert "circuit open" in proc.stderr and "reset" in proc.stderr
    doc = json.loads(run(tmp_path, "plan", str(good), "--json", check=6).stdout)
    assert doc["circuit"]["open"] is True and doc["circuit"]["reason"]
    run(tmp_path, "apply", str(good), check=6)
    run(tmp_path, "reset", "-z", "example.com", "--yes", check=0)
    run(tmp_path, "plan", str(good), check=0)


def test_invalid_plan_header_does_not_repeat_the_first_problem(tmp_path: Path) -> None:
    proc = run(tmp_path, "plan", str(ROOT / "examples" / "bad-plan.yaml"), check=2)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    header, problems = lines[0], [ln.strip()[2:] for ln in lines[1:]]
    assert header.startswith("error: ") and header.endswith("problem(s)")
    assert len(problems) >= 2 and problems[0] not in header
    assert len(set(problems)) == len(problems)
    doc = json.loads(run(tmp_path, "plan", str(ROOT / "examples" / "bad-plan.yaml"), "--json", check=2).stdout)
    assert doc["error"] == header[len("error: ") :] and doc["problems"] == problems


def test_usage_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    assert "--nope" in one_error_line(run(tmp_path, "status", "-z", "example.com", "--nope", check=2))
    doc = json.loads(run(tmp_path, "cleanup", "-z", "example.com", "--keep", "x", "--json", check=2).stdout)
    assert doc["exit_code"] == 2 and "--keep" in doc["error"]


# ------------------------------------------------------------------------- conventions


def test_version(tmp_path: Path) -> None:
    from safeguards import __version__

    assert run(tmp_path, "--version", check=0).stdout.strip() == f"dns-safeguards {__version__}"


def test_global_options_after_the_command(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), "--state", str(other), check=0)
    assert (other / "route53.sqlite").exists() and not (tmp_path / "state").exists()
    doc = json.loads(run(tmp_path, "status", "-z", "example.com", "--json", "--state", str(other), check=0).stdout)
    assert doc["generation"] == 1
    run(tmp_path, "--state", str(other), "status", "-z", "example.com", "-v", "--enactor-id", "me", check=0)


def test_aws_region_and_endpoint_url_are_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[cli.Settings] = []
    monkeypatch.setattr(cli, "_wiring", lambda **_: seen.append(cli._settings) or (_ for _ in ()).throw(SystemExit))
    env = {"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    for k in ("DNS_SAFEGUARDS_ENDPOINT_URL",):
        monkeypatch.delenv(k, raising=False)
    CliRunner().invoke(cli.app, ["status", "-z", "example.com"], env=env)
    assert seen and seen[0].region == "eu-west-3"
    assert seen[0].endpoint_url == "http://127.0.0.1:9" and seen[0].backend == "aws"
    seen.clear()
    CliRunner().invoke(cli.app, ["status", "-z", "example.com", "--region", "ap-south-1"], env=env)
    assert seen[0].region == "ap-south-1"


def test_aws_endpoint_url_switches_off_the_embedded_default(tmp_path: Path) -> None:
    proc = run_env(tmp_path, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "status", "-z", "example.com")
    assert proc.returncode == 1 and "127.0.0.1:9" in one_error_line(proc)
    assert not (tmp_path / "state" / "route53.sqlite").exists()


@pytest.mark.parametrize(
    ("command", "action"),
    [
        (["rollback", "-z", "example.com"], "Roll"),
        (["cleanup", "-z", "example.com", "--keep", "1"], "Delete"),
        (["reset", "-z", "example.com"], "circuit"),
    ],
)
def test_destructive_commands_ask_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str], action: str
) -> None:
    for g in (1, 2, 3):
        run(tmp_path, "apply", str(write_plan(tmp_path, g, ["192.0.2.1", f"192.0.2.{10 + g}"])), check=0)
    before = state_files(tmp_path)
    for name in ("AWS_ENDPOINT_URL", "DNS_SAFEGUARDS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    args = ["--state", str(tmp_path / "state"), *command]
    declined = CliRunner().invoke(cli.app, args, input="n\n")
    assert declined.exit_code == 1 and action in declined.output and "not confirmed" in declined.output
    assert state_files(tmp_path) == before
    accepted = CliRunner().invoke(cli.app, [*args, "--yes"])
    assert accepted.exit_code == 0, accepted.output
    assert action not in accepted.output.split("\n")[0] or "?" not in accepted.output


def test_plan_shows_both_sides_of_a_weight_and_ttl_change(tmp_path: Path) -> None:
    def weighted(gen: int, blue: int, ttl: int) -> Path:
        p = tmp_path / f"w{gen}.yaml"
        p.write_text(
            f"zone: example.com\ngeneration: {gen}\nrecords:\n"
            f"  - {{name: app, type: A, ttl: {ttl}, set_identifier: blue, weight: {blue}, values: [198.51.100.10]}}\n"
            f"  - {{name: app, type: A, ttl: {ttl}, set_identifier: green, weight: {100 - blue},"
            " values: [198.51.100.20]}\n"
        )
        return p

    run(tmp_path, "apply", str(weighted(1, 90, 60)), check=0)
    out = run(tmp_path, "plan", str(weighted(2, 70, 120)), "--force", check=0).stdout
    assert "[blue w=90->70]" in out and "[green w=10->30]" in out and "ttl=60->120" in out


def test_help_has_plain_metavars_and_describes_every_option(tmp_path: Path) -> None:
    import typer.main

    group = typer.main.get_command(cli.app)
    assert group.params and all(p.help for p in group.params if not getattr(p, "hidden", False))  # type: ignore[attr-defined]
    for name in ("plan", "apply", "status", "rollback", "repair", "cleanup", "reset", "demo"):
        command = group.commands[name]  # type: ignore[attr-defined]
        undescribed = [
            p.name
            for p in command.params
            if not getattr(p, "hidden", False) and p.param_type_name == "option" and not p.help
        ]
        assert undescribed == [], (name, undescribed)
        text = run(tmp_path, name, "--help", check=0).stdout
        assert "{" not in text.split("\n")[0] and "<list" not in text and "<str>" not in text, text


def test_state_directory_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    run(tmp_path, "apply", str(write_plan(tmp_path, 1, ["192.0.2.1"])), check=0)
    state = tmp_path / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = list(state.iterdir())
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files
    ]


@pytest.mark.parametrize("json_lines", [False, True])
def test_the_decision_log_never_carries_url_credentials(capsys: pytest.CaptureFixture[str], json_lines: bool) -> None:
    import logging

    from safeguards import logs

    logs.configure(verbose=True, json_lines=json_lines)
    try:
        log = logging.getLogger("safeguards.test")
        log.info("calling %s", "http://admin:hunter2@127.0.0.1:9/", extra={"fields": {"url": "https://k:s@x/"}})
        err = capsys.readouterr().err
        assert "hunter2" not in err and "k:s@" not in err and "***@127.0.0.1:9" in err
    finally:
        logs.configure()


def test_a_plan_with_one_problem_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "f.yaml"
    bad.write_text("zone: example.com\ngeneration: 1.5\nrecords: [{name: a, type: A, ttl: 60, values: [192.0.2.1]}]\n")
    line = one_error_line(run(tmp_path, "plan", str(bad), check=2))
    assert "generation" in line and "1.5" in line
    doc = json.loads(run(tmp_path, "plan", str(bad), "--json", check=2).stdout)
    assert len(doc["problems"]) == 1 and doc["problems"][0] in doc["error"]


def test_a_state_directory_that_cannot_be_created_exits_7(tmp_path: Path) -> None:
    proc = run_env(tmp_path, {"DNS_SAFEGUARDS_STATE": "/proc/no/such/state"}, "status", "-z", "example.com")
    assert proc.returncode == 7 and "cannot create" in one_error_line(proc)


def test_a_refusal_with_one_problem_is_one_line(tmp_path: Path) -> None:
    names = ["api", "www", "x1", "x2", "x3", "x4", "x5"]
    first = tmp_path / "a.yaml"
    first.write_text(
        "zone: example.com\ngeneration: 1\nrecords:\n"
        + "".join(f"  - {{name: {n}, type: A, ttl: 60, values: [192.0.2.1]}}\n" for n in names)
    )
    run(tmp_path, "apply", str(first), check=0)
    second = tmp_path / "b.yaml"
    second.write_text(first.read_text().replace("generation: 1", "generation: 2").replace("  - {name: api,", "#"))
    line = one_error_line(run(tmp_path, "apply", str(second), check=3))
    assert "never-empty" in line and "api.example.com." in line
