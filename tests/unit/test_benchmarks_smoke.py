"""Smoke test of the benchmark suite: `python -m benchmarks --quick --json` runs every benchmark at
small sizes and prints a well-formed report. Timings are never asserted (figures are reported,
not enforced); what is checked is the structure and the figures that are exact arithmetic."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Under pytest-xdist these tests share one worker:
# the quick benchmark run (`report`) is made once per module, not once per worker.
pytestmark = pytest.mark.xdist_group("benchmarks-smoke")

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ["api", "planning", "apply", "explore", "pulumi"]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_header_names_the_machine_and_the_command(report: dict[str, Any]) -> None:
    assert report["quick"] is True
    assert report["command"] == "python -m benchmarks --quick --json"
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["python"].count(".") == 2
    assert report["date"][:2] == "20"


def test_every_benchmark_ran_and_none_crashed(report: dict[str, Any]) -> None:
    names = [b["name"] for b in report["benchmarks"]]
    assert names == EXPECTED
    for bench in report["benchmarks"]:
        assert bench["figures"], bench["name"]
        assert not any(f["name"].endswith("crashed") for f in bench["figures"]), bench["details"].get("traceback")


def test_figures_are_well_formed(report: dict[str, Any]) -> None:
    keys = {"name", "value", "unit", "goal", "ratio", "ratio_label", "passed", "available", "note"}
    for bench in report["benchmarks"]:
        for f in bench["figures"]:
            assert set(f) == keys
            if f["available"]:
                assert isinstance(f["value"], int | float) and math.isfinite(f["value"]), f
            else:
                assert f["passed"] is None and f["note"], f
            if f["passed"] is not None:
                assert f["goal"], f


def _bench(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in report["benchmarks"] if b["name"] == name)


def test_api_economy_counts_are_consistent(report: dict[str, Any]) -> None:
    api = _bench(report, "api")
    for key, d in api["details"].items():
        scenario, n = key.split("-")
        ours, unguarded = d["ours"], d["unguarded"]
        assert ours["total"] == sum(v for k, v in ours.items() if k != "total")
        # The blind writer only writes: one zone lookup plus its change batches.
        assert unguarded["total"] == unguarded["ChangeResourceRecordSets"] + 1
        # Nobody beats the floor of Route 53's per-request limits.
        assert ours["ChangeResourceRecordSets"] >= d["minimum_change_calls"] >= 1
        assert unguarded["ChangeResourceRecordSets"] >= d["minimum_change_calls"]
        # Every payload record was written: one per created set, two (DELETE + CREATE) per update.
        assert d["records"]["payload"] == int(n) * (1 if scenario == "create" else 2)
        assert d["largest_batch_records"] <= 1000


def test_ratios_match_their_values(report: dict[str, Any]) -> None:
    api = _bench(report, "api")
    for f in api["figures"]:
        if f["ratio_label"] == "ours/minimum":
            n = f["name"].split(":")[0].replace("create ", "create-").replace("update ", "update-").replace(",", "")
            assert f["ratio"] == pytest.approx(f["value"] / api["details"][n]["minimum_change_calls"])
            assert f["passed"] == (f["ratio"] <= 1.0)


def test_planning_reports_memory_and_a_profile_or_says_why_not(report: dict[str, Any]) -> None:
    planning = _bench(report, "planning")
    rss = next(f for f in planning["figures"] if "RSS" in f["name"])
    assert rss["value"] > 0 and rss["unit"] == "MB"
    ours = planning["details"]["ours"]["json"]
    assert ours["records"] == planning["details"]["input"]["sets"]
    assert ours["updates"] == planning["details"]["input"]["updates"]
    assert "profile" in planning["details"] or any("pyinstrument" in n for n in planning["notes"])
    octo = [f for f in planning["figures"] if "octoDNS" in f["name"]]
    assert octo, "the octoDNS comparison is reported, measured or not available"


def test_apply_reports_virtual_time_against_its_floor(report: dict[str, Any]) -> None:
    apply = _bench(report, "apply")
    d = apply["details"]
    # Applied and verified means at least the 60 s INSYNC wait passed on the virtual clock.
    assert d["virtual_seconds"] >= 60.0
    assert d["floor_our_calls"] >= 60.0 and d["floor_minimum_work"] >= 60.0
    assert d["calls"]["ChangeResourceRecordSets"] >= 1 and d["calls"]["GetChange"] >= 1
