"""The Promela models, checked by Spin: the naive 2025 enactor has a counterexample, the fixed
protocol none, the fixed protocol without its fence compare has one again; and the naive
model's trail, replayed in the Python race harness, empties the same endpoint.

Spin and gcc come from Debian's packages (.ci/run installs them). Without them these tests
skip on a workstation and fail in CI (the CI environment variable is set).
"""

from __future__ import annotations

import os

import pytest

from safeguards.testing.models.runner import RUNS, Result, Run, SpinMissing, tools, verify, verify_all
from safeguards.testing.models.trail import parse_trail, replay_in_harness, schedule

# Under pytest-xdist these tests share one worker:
# every Spin run is made once per module (`results`), not once per worker.
pytestmark = pytest.mark.xdist_group("spin-models")

try:
    tools()
    MISSING = ""
except SpinMissing as exc:
    MISSING = str(exc)

if MISSING and not os.environ.get("CI"):
    pytest.skip(MISSING, allow_module_level=True)


@pytest.fixture(autouse=True, scope="module")
def _spin() -> None:
    """In CI every test here fails (the rest of the suite still runs) when spin or gcc is missing."""
    if MISSING:
        pytest.fail(f"CI must check the Promela models, but {MISSING}", pytrace=False)


BY_NAME = {r.name: r for r in RUNS}


@pytest.fixture(scope="module")
def results(_spin: None) -> dict[str, Result]:
    """Every run of the runner (about 1.5 minutes on 2 cores)."""
    done = verify_all(RUNS)
    for res in done:
        print(res.line())
    return {r.run.name: r for r in done}


def test_every_run_finds_what_it_must(results: dict[str, Result]) -> None:
    bad = [res.line() + "\n" + res.output[-1500:] for res in results.values() if not res.ok]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", ["naive-I1", "naive-I1-regional", "naive-I2", "naive-I3"])
def test_the_naive_enactor_has_a_counterexample_trail(results: dict[str, Result], name: str) -> None:
    res = results[name]
    assert res.violated and "assertion violated" in res.message
    steps = parse_trail(res.trail)
    assert steps and len(steps) == len(res.trail)
    assert {s.actor for s in steps} >= {"P", "B"}


def test_the_fixed_protocol_has_none(results: dict[str, Result]) -> None:
    for name in ("fixed-enactors", "fixed-recovery", "fixed-recovery-faults", "fixed-I4"):
        res = results[name]
        assert res.errors == 0, f"{name}: {res.message}\n" + "\n".join(res.trail)
        assert res.states > 1000, f"{name} explored only {res.states} states: the model is vacuous"
    assert results["fixed-enactors"].states > 100_000
    assert results["fixed-I4"].run.liveness


def test_removing_the_fence_compare_finds_a_violation(results: dict[str, Result]) -> None:
    """-DNOFENCE: the fence DELETE matches whatever fence is there; everything else stays."""
    res = results["fixed-NOFENCE"]
    assert res.violated
    # I2: a stale writer's batch puts back an older generation.
    assert "fence>>20" in res.message, res.message
    assert any("batch accepted" in line for line in res.trail)


@pytest.mark.parametrize("name", ["fixed-NOPIN", "fixed-PIN_STAMP"])
def test_without_the_generation_pin_clean_up_loses_the_live_content_source(
    results: dict[str, Result], name: str
) -> None:
    """Pins that protect nothing, or a time-based pin ("not pinned at/after clean-up's
    decision"): a rollback pins, clean-up decides from a fence without the rollback yet, the
    rollback writes, clean-up deletes the plan that is now the live content source (I3). The
    applier's rule (pinned under a generation at or above clean-up's floor) has no such trail."""
    res = results[name]
    assert res.violated
    assert any("pins plan" in line for line in res.trail)
    assert "clean-up deletes plan" in res.trail[-1]


def test_the_fence_compare_alone_is_what_the_mutant_removes() -> None:
    """Without -DNOFENCE the same small scope is clean: the violation is the mutation's."""
    base = BY_NAME["fixed-NOFENCE"]
    control = Run(base.name + "-control", base.model, tuple(d for d in base.defines if d != "NOFENCE"), False, "")
    clean = verify(control)
    assert clean.ok and clean.errors == 0 and clean.states > 0


@pytest.mark.parametrize("name", ["naive-I1", "naive-I1-regional"])
def test_the_naive_trail_replays_in_the_harness(results: dict[str, Result], name: str) -> None:
    """The model's counterexample, as a harness schedule: the harness parks at the same
    checkpoint after every step and ends with the same endpoint empty."""
    steps = parse_trail(results[name].trail)
    replay = replay_in_harness(steps)
    assert replay.mismatches == []
    assert replay.checkpoints == [s.checkpoint for s in steps]
    assert replay.schedule == schedule(steps)
    # The model stopped at its first emptied endpoint: the harness sees it at the same step.
    assert "I1" in replay.broken(step=len(steps))
    want = "regional" if name.endswith("regional") else None
    assert replay.empty, replay.values
    if want:
        assert [e.split(".", 1)[0] for e in replay.empty] == ["regional"]
    # The naive enactor also put an older plan back (I2) and left a pointer at a deleted plan (I3).
    assert {"I1", "I2", "I3"} <= set(replay.broken())
    # The emptying step is a clean-up of the plan the stale writer had just written.
    last = steps[-1]
    assert last.checkpoint == "cleanup.after"
    stale_writer = next(s for s in reversed(steps) if s.checkpoint == "batch.after" and s.generation == last.generation)
    assert stale_writer.actor != last.actor and stale_writer.generation == last.generation
