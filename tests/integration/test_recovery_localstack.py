"""`repair` and `rollback` as separate OS processes during newer applies on LocalStack: strict
Route 53 over HTTP and the DynamoDB plan store (fresh tables per test), every process the real CLI
with ``--endpoint-url`` and ``--plan-table``. The same scenarios as tests/race/test_processes.py
(the embedded default): corrective writes decided before a newer apply never revert it, and a
SIGKILLed lease holder is taken over at once (dead holder, same host) and its generation finished.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _support import route53, tag

from safeguards.fence import ZoneView
from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION

sys.path.insert(0, str(Path(__file__).parents[1] / "race"))
from _processes import Cli, Scenarios, gate, vandalised


@dataclass
class LocalStackZone:
    """A fresh zone on LocalStack, read and damaged through the library's boto3 backend."""

    endpoint: str
    zone: str

    def view(self) -> ZoneView:
        backend = route53(self.endpoint)
        return ZoneView.of(self.zone, backend.list_record_sets(backend.resolve_zone(self.zone)))

    def vandalise(self) -> None:
        vandalised(route53(self.endpoint), self.zone)


@pytest.fixture
def races(localstack_strict: str, tmp_path: Path) -> Iterator[Scenarios]:
    t = tag()
    env = {
        "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": TEST_REGION,
    }
    options = [
        "--endpoint-url",
        localstack_strict,
        "--plan-table",
        f"rec-plans-{t}",
        "--lease-table",
        f"rec-leases-{t}",
    ]
    with gate(tmp_path) as g:
        cli = Cli([*options, "--state", str(tmp_path / "state")], g, env=env)
        try:
            yield Scenarios(cli, g, LocalStackZone(localstack_strict, f"p{t}.example."), tmp_path)
        finally:
            cli.close()


def test_repair_decided_before_a_newer_apply_never_reverts_it(races: Scenarios) -> None:
    races.repair_decided_before_a_newer_apply()


def test_rollback_decided_before_a_newer_apply_is_stale(races: Scenarios) -> None:
    races.rollback_decided_before_a_newer_apply()


def test_repair_and_rollback_during_a_newer_apply(races: Scenarios) -> None:
    races.repair_and_rollback_during_a_newer_apply()


@pytest.mark.parametrize("finisher", ["apply", "repair"])
def test_a_killed_lease_holder_is_taken_over_at_once_and_its_generation_finished(
    races: Scenarios, finisher: str
) -> None:
    races.killed_lease_holder(finisher)
