"""`repair` and `rollback` as separate OS processes during newer applies, on the embedded default
(`dns-safeguards --state DIR`: the strict Route 53 model and the plan store in SQLite, shared by
every process): they never revert the newer plan. And a lease holder killed with SIGKILL is taken
over at once by another process, which finishes its half-applied generation.

Every process is the real CLI (see `_processes.py`, which holds the scenarios; the LocalStack
suite runs the same ones); the only thing added is a checkpoint hook that parks a child on the
test's Unix socket at a named checkpoint until the test lets it go. The interleavings are forced
that way; nothing waits on time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _processes import Cli, Scenarios, gate, vandalised

from safeguards.backends.strict import StrictRoute53
from safeguards.fence import ZoneView


@dataclass
class Embedded:
    """The embedded default's state directory, read and damaged from outside the CLI."""

    state: Path
    zone: str = "proc.example."

    def _model(self) -> StrictRoute53:
        return StrictRoute53(path=self.state / "route53.sqlite", insync_after=0.0)

    def view(self) -> ZoneView:
        model = self._model()
        return ZoneView.of(self.zone, model.list_record_sets(model.resolve_zone(self.zone)))

    def vandalise(self) -> None:
        vandalised(self._model(), self.zone)


@pytest.fixture
def races(tmp_path: Path) -> Iterator[Scenarios]:
    state = tmp_path / "state"
    with gate(tmp_path) as g:
        cli = Cli(["--state", str(state)], g)
        try:
            yield Scenarios(cli, g, Embedded(state), tmp_path)
        finally:
            cli.close()


def test_repair_decided_before_a_newer_apply_never_reverts_it(races: Scenarios) -> None:
    races.repair_decided_before_a_newer_apply()


@pytest.mark.slow  # the same shape is in test_repair_and_rollback_during_a_newer_apply
def test_repair_held_while_a_newer_apply_holds_the_lease_never_reverts_it(races: Scenarios) -> None:
    races.repair_held_while_a_newer_apply_holds_the_lease()


def test_rollback_decided_before_a_newer_apply_is_stale(races: Scenarios) -> None:
    races.rollback_decided_before_a_newer_apply()


def test_repair_and_rollback_during_a_newer_apply(races: Scenarios) -> None:
    races.repair_and_rollback_during_a_newer_apply()


@pytest.mark.slow
def test_a_rollback_after_the_newer_apply_is_a_revision_of_it(races: Scenarios) -> None:
    races.rollback_after_the_newer_apply()


@pytest.mark.parametrize("finisher", ["apply", "repair"])
def test_a_killed_lease_holder_is_taken_over_at_once_and_its_generation_finished(
    races: Scenarios, finisher: str
) -> None:
    races.killed_lease_holder(finisher)
