"""A zone holding every routing policy, aliases and health checks goes through the library's whole
life cycle on every backend: plan, apply, change, roll back, repair (issue 12's "done when")."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeguards import Applier, SqlitePlanStore
from safeguards.applier import ApplyOptions
from safeguards.plan import parse_plan
from safeguards.records import Change

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_plan import every_policy

if TYPE_CHECKING:
    from conftest import Target


def plan(t: Target, generation: int, records: list[dict[str, Any]]) -> Any:
    return parse_plan({"zone": t.zone, "generation": generation, "records": records})


def test_routed_zone_applies_rolls_back_and_repairs(target: Target, tmp_path: Path) -> None:
    t = target
    applier = Applier(t.backend, SqlitePlanStore(str(tmp_path / "plans.sqlite")), enactor_id="e1",
                      options=ApplyOptions(wait_insync=False))
    first = plan(t, 1, every_policy())
    applier.apply(first)
    live = t.backend.list_record_sets(t.zone_id)
    assert [r for r in first.records if r not in live] == []

    changed = every_policy()
    changed[2] = {**changed[2], "region": "eu-central-1"}  # a latency set moves region
    changed[4] = {**changed[4], "health_check_id": "1b7c5a2e-1d4e-4f7a-9c1b-2f3e4d5c6b7a"}  # PRIMARY's check
    second = plan(t, 2, changed)
    applier.apply(second)
    live = t.backend.list_record_sets(t.zone_id)
    assert [r for r in second.records if r not in live] == []

    applier.rollback(t.zone)
    live = t.backend.list_record_sets(t.zone_id)
    assert [r for r in first.records if r not in live] == []

    # An outage empties the failover name behind the library's back; repair restores it.
    failover = [r for r in live if r.name.startswith("fo.")]
    t.backend.change_record_sets(t.zone_id, [Change("DELETE", r) for r in failover])
    applier.repair(t.zone)
    live = t.backend.list_record_sets(t.zone_id)
    assert [r for r in failover if r not in live] == []
