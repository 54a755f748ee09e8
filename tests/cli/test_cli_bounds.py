"""Bounded input, adversarially: a plan that is an alias bomb, a 50 MB file, 100,000-deep nesting
(JSON and YAML), a huge single value or huge keys is refused by `dns-safeguards plan` and `apply`
with exit 2 and one short error line, in a process that stays small, and nothing is applied.

No timing is asserted (only a generous wall timeout against hangs); memory is the CLI process's
own peak (VmHWM), reported by a wrapper around `safeguards.cli.main`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeguards.planfile import DEFAULT_MAX_PLAN_BYTES, MAX_PLAN_BYTES_ENV

ROOT = Path(__file__).resolve().parents[2]
MEMORY_MB = 100
#: Runs the CLI and writes its own peak RSS (MB) to $DNSSG_TEST_HWM at exit, whatever the exit.
WRAPPER = """
import os, sys
from safeguards.cli import main
try:
    main(sys.argv[1:])
finally:
    with open("/proc/self/status") as fh:
        hwm = next((int(l.split()[1]) / 1024 for l in fh if l.startswith("VmHWM:")), 0.0)
    with open(os.environ["DNSSG_TEST_HWM"], "w") as out:
        out.write(str(hwm))
"""


def cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    hwm = tmp_path / "hwm"
    base = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "DNS_SAFEGUARDS_ENDPOINT_URL")}
    full = {**base, "DNS_SAFEGUARDS_STATE": str(tmp_path / "state"), "NO_COLOR": "1", "COLUMNS": "200",
            "DNSSG_TEST_HWM": str(hwm), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=full, cwd=tmp_path, timeout=120
    )
    peak = float(hwm.read_text()) if hwm.exists() else 0.0
    return proc, peak


def assert_refused(tmp_path: Path, plan: Path, needle: str, *, apply: bool = False) -> None:
    """`plan` (and `apply`), text and --json, exit 2 with one short line naming the problem; nothing applied."""
    for command in ("plan", "apply") if apply else ("plan",):
        proc, peak = cli(tmp_path, command, "--create-zone", str(plan))
        assert proc.returncode == 2, (command, proc.returncode, proc.stdout[-500:], proc.stderr[-500:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, lines[:5]
        assert lines[0].startswith("error: "), lines[0]
        assert needle in lines[0], lines[0]
        assert len(lines[0]) < 1200, len(lines[0])
        assert "Traceback" not in proc.stderr
        assert peak < MEMORY_MB, f"{command}: peak RSS {peak:.0f} MB"
    proc, _ = cli(tmp_path, "plan", "--json", str(plan))
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 2 and doc["kind"] in ("PlanInvalid", "InvalidInput")
    assert needle in doc["error"] and len(doc["error"]) < 1200
    # Nothing was applied: the state holds no zone of ours, or a zone with no fence.
    status, _ = cli(tmp_path, "status", "--zone", "example.com", "--json")
    if status.returncode == 0:
        assert json.loads(status.stdout)["generation"] is None, status.stdout


BILLION_LAUGHS = """\
zone: example.com
generation: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
records: *i
"""


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "bomb.yaml"
    plan.write_text(BILLION_LAUGHS)
    assert_refused(tmp_path, plan, "alias", apply=True)


def test_alias_bomb_in_a_record_value_is_refused(tmp_path: Path) -> None:
    body = BILLION_LAUGHS.replace("records: *i\n", "records:\n  - {name: api, type: TXT, ttl: 60, values: *i}\n")
    plan = tmp_path / "bomb2.yaml"
    plan.write_text(body)
    assert_refused(tmp_path, plan, "alias")


def test_self_referring_alias_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "loop.yaml"
    plan.write_text("zone: example.com\ngeneration: 1\nrecords: &r [*r]\n")
    assert_refused(tmp_path, plan, "refers to itself")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_fifty_megabyte_file_is_refused_before_it_is_read(tmp_path: Path, suffix: str) -> None:
    plan = tmp_path / f"big{suffix}"
    with plan.open("w") as fh:  # a valid start, then 50 MB of padding
        fh.write('{"zone": "example.com", "generation": 1, "records": [], "x": "')
        fh.write("a" * (50 * 1024 * 1024))
        fh.write('"}\n')
    assert_refused(tmp_path, plan, f"{DEFAULT_MAX_PLAN_BYTES:,} bytes", apply=suffix == ".yaml")
    proc, _ = cli(tmp_path, "plan", str(plan))
    assert MAX_PLAN_BYTES_ENV in proc.stderr  # the error says how to raise the limit


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    plan = tmp_path / "small.yaml"
    plan.write_text("zone: example.com\ngeneration: 1\nrecords: []\n" + "#" * 2000 + "\n")
    proc, _ = cli(tmp_path, "plan", "--create-zone", str(plan), env={MAX_PLAN_BYTES_ENV: "1000"})
    assert proc.returncode == 2 and "1,000 bytes" in proc.stderr, proc.stderr
    proc, _ = cli(tmp_path, "plan", "--create-zone", str(plan), env={MAX_PLAN_BYTES_ENV: "10000"})
    assert proc.returncode == 0, proc.stderr
    proc, _ = cli(tmp_path, "plan", "--create-zone", str(plan), env={MAX_PLAN_BYTES_ENV: "lots"})
    assert proc.returncode == 2 and MAX_PLAN_BYTES_ENV in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),  # msgspec, then json: RecursionError
        ("deep-object.json", '{"a":' * 100_000 + "1" + "}" * 100_000),
        ("deep-in-plan.json", '{"zone": "example.com", "generation": 1, "records": ' + "[" * 10**5 + "]" * 10**5 + "}"),
        ("deep.yaml", "[" * 100_000 + "]" * 100_000),
        ("deep-flow-map.yaml", "{a: " * 100_000 + "1" + "}" * 100_000),
        ("deep-block.yaml", "zone: example.com\ngeneration: 1\nrecords:\n" + "- " * 100_000 + "x\n"),
    ],
    # Named by file: a 200,000-character test id overflows the environment (PYTEST_CURRENT_TEST)
    # of every process the test starts (E2BIG).
    ids=lambda value: value if value.endswith((".json", ".yaml")) else "nested",
)
def test_deep_nesting_is_refused(tmp_path: Path, name: str, body: str) -> None:
    plan = tmp_path / name
    plan.write_text(body)
    assert_refused(tmp_path, plan, "nested")


def test_nesting_within_the_parsers_limit_is_refused_by_validation(tmp_path: Path) -> None:
    """900 levels: within libyaml's limit, so parsed; the record is not a mapping, and the message
    quotes it cut short."""
    plan = tmp_path / "deep900.yaml"
    plan.write_text("zone: example.com\ngeneration: 1\nrecords: " + "[" * 900 + "]" * 900 + "\n")
    assert_refused(tmp_path, plan, "records[0]: must be a mapping")


def test_huge_single_value_is_refused_with_a_short_line(tmp_path: Path) -> None:
    plan = tmp_path / "huge.yaml"
    huge = "x" * (8 * 1024 * 1024)  # a 20 MB value is refused too, at ~160 MB peak (ryaml holds copies)
    record = f'{{name: api, type: TXT, ttl: 60, values: ["{huge}"]}}'
    plan.write_text(f"zone: example.com\ngeneration: 1\nrecords:\n  - {record}\n")
    assert_refused(tmp_path, plan, "characters")


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        ('{"name": "api", "type": "A", "ttl": 60, "values": ["HUGE"]}', "a value of 5,242,880 characters"),
        ('{"name": "HUGE", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}', "records[0]"),
        ('{"name": "api", "type": "HUGE", "ttl": 60, "values": ["192.0.2.1"]}', "unsupported type"),
        ('{"name": "api", "type": "A", "ttl": 60, "values": ["192.0.2.1"], "HUGE": 1}', "unknown key"),
        ('{"name": "api", "type": "A", "ttl": "HUGE", "values": ["192.0.2.1"]}', "ttl must be"),
    ],
)
def test_very_long_strings_in_errors_are_cut_before_formatting(tmp_path: Path, record: str, needle: str) -> None:
    plan = tmp_path / "long.json"
    huge = "z" * (5 * 1024 * 1024)
    plan.write_text('{"zone": "example.com", "generation": 1, "records": [' + record.replace("HUGE", huge) + "]}")
    assert_refused(tmp_path, plan, needle)


def test_plan_json_is_a_summary_unless_all(tmp_path: Path) -> None:
    """`plan --json` lists the first 20 changes of each kind with the counts; `--all` lists them all."""
    records = [{"name": f"h{i}", "type": "A", "ttl": 60, "values": [f"192.0.2.{i % 250 + 1}"]} for i in range(30)]
    plan = tmp_path / "many.json"
    plan.write_text(json.dumps({"zone": "example.com", "generation": 1, "records": records}))
    proc, _ = cli(tmp_path, "plan", "--create-zone", "--json", str(plan))
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert len(doc["creates"]) == 20 and doc["counts"] == {"creates": 30, "updates": 0, "deletes": 0}
    assert doc["truncated"] is True
    proc, _ = cli(tmp_path, "plan", "--create-zone", "--json", "--all", str(plan))
    doc = json.loads(proc.stdout)
    assert len(doc["creates"]) == 30 and doc["truncated"] is False
