"""Teeth: take one safeguard out and the same guarded replay must turn red. If these pass with
the safeguard removed, the harness proves nothing."""

from __future__ import annotations

import dataclasses

import pytest

from safeguards import guards
from safeguards.backends.strict import StrictRoute53
from safeguards.testing.scenario import replay_outage


def _unconditional_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DELETE is rewritten to match whatever is current (or dropped when nothing is):
    the batch no longer compares anything, like an UPSERT. The fence DELETE stops fencing."""
    real = StrictRoute53.change_record_sets

    def unconditional(self, zone_id, changes, comment=""):  # type: ignore[no-untyped-def]
        current = {r.key: r for r in self.list_record_sets(zone_id)}
        fixed = [
            dataclasses.replace(c, rrset=current[c.rrset.key]) if c.action == "DELETE" else c
            for c in changes
            if c.action != "DELETE" or c.rrset.key in current
        ]
        return real(self, zone_id, fixed, comment)

    monkeypatch.setattr(StrictRoute53, "change_record_sets", unconditional)


def test_baseline_is_green() -> None:
    assert replay_outage("guarded").violations == []


def test_without_the_fence_compare_and_set_the_stale_write_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _unconditional_deletes(monkeypatch)
    report = replay_outage("guarded")
    assert report.violations, "the harness missed a stale write with the fence disabled"
    assert "I2" in report.broken
    i2 = next(v for v in report.violations if v.invariant == "I2")
    assert "g6 to g2" in i2.message
    assert report.steps[i2.step].actor == "A"  # A's stale batch went through
    # ... and with the live generation now g2, B's clean-up deletes the plan that is live.
    assert "I3" in report.broken


def test_without_the_never_empty_guard_the_bad_plan_empties_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "check_never_empty", lambda plan, observed, diff: [])
    report = replay_outage("guarded")
    assert report.violations, "the harness missed the bad plan with the never-empty guard disabled"
    assert "I1" in report.broken
    i1 = next(v for v in report.violations if v.invariant == "I1")
    assert "regional is EMPTY" in i1.message
    assert report.steps[i1.step].actor == "C"  # C applied the plan that drops the endpoint
