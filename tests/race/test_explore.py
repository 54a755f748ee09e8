"""Exploring interleavings with faults: the guarded applier holds I1-I5 on every schedule of a
small scope and on a CI-sized random sample; the naive enactor is caught within 100 schedules.

Sizes can be changed from the environment: DNSSG_RACE_SCHEDULES (random schedules in the CI-sized
run, default 100000), DNSSG_RACE_WORKERS (default: 2, or fewer CPUs), DNSSG_RACE_FULL=1 (also the
larger exhaustive scopes, several minutes each).
"""

from __future__ import annotations

import dataclasses
import itertools
import os

import pytest

from safeguards.backends.strict import StrictRoute53
from safeguards.testing import statekey
from safeguards.testing.explore import ExploreResult, Scope, build, explore_exhaustive, explore_random, replay
from safeguards.testing.scheduler import FAULTS, ActorBody, ActorContext, ReplayPolicy

WORKERS = int(os.environ.get("DNSSG_RACE_WORKERS", min(2, len(os.sched_getaffinity(0)))))
SCHEDULES = int(os.environ.get("DNSSG_RACE_SCHEDULES", "100000"))
FULL = os.environ.get("DNSSG_RACE_FULL") == "1"


def test_every_schedule_of_a_small_scope_holds() -> None:
    """2 enactors, the planner publishing 2 plans, 1 name: every interleaving."""
    result = explore_exhaustive(Scope("guarded", enactors=2, plans=2, names=1), workers=WORKERS)
    print(result.summary())
    assert result.complete
    assert result.visited > 3000  # states (6,541 on one worker); the sleep-set search alone ran 5,136 schedules
    assert result.violating == 0, result.first_failure


@pytest.mark.slow
def test_every_schedule_with_a_crash_at_any_step_holds() -> None:
    """The same with one crash (and restart) at any checkpoint of any actor (12,845 states on one
    worker, about 25 CPU s; the sleep-set search alone took 160-200 s)."""
    result = explore_exhaustive(Scope("guarded", 2, 1, 1), faults=("crash",), max_faults=1, workers=WORKERS)
    print(result.summary())
    assert result.complete and result.visited > 5000
    assert result.violating == 0, result.first_failure


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="set DNSSG_RACE_FULL=1 (about 2 minutes on 2 cores)")
def test_every_schedule_with_any_one_fault_holds() -> None:
    result = explore_exhaustive(Scope("guarded", 2, 1, 1), faults=FAULTS, max_faults=1, workers=WORKERS)
    print(result.summary())
    assert result.complete and result.violating == 0, result.first_failure


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="set DNSSG_RACE_FULL=1 (several minutes on 2 cores)")
@pytest.mark.parametrize("scope", [Scope("guarded", 3, 1, 1), Scope("guarded", 2, 3, 1), Scope("guarded", 2, 2, 2)])
def test_every_schedule_of_the_larger_small_scopes_holds(scope: Scope) -> None:
    result = explore_exhaustive(scope, workers=WORKERS)
    print(result.summary())
    assert result.complete and result.violating == 0, result.first_failure


def test_exhaustive_search_catches_the_naive_enactor() -> None:
    result = explore_exhaustive(Scope("naive", 2, 2, 1), workers=1)
    print(result.summary())
    assert result.complete and result.violating > 0
    assert result.by_invariant.get("I2", 0) > 0


def test_exhaustive_search_catches_the_stale_write_without_the_fence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teeth for the explorer: with every DELETE matched to the current set, some interleaving
    lets a stalled enactor put an older generation live (the lease alone does not stop it)."""
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
    result = explore_exhaustive(Scope("guarded", 2, 2, 1), stop_on_violation=True, workers=1)
    assert result.violating == 1
    assert "I2" in result.by_invariant


@pytest.mark.parametrize(
    ("scope", "faults"),
    [
        (Scope("naive", 2, 2, 1), ()),
        (Scope("naive", 2, 1, 1), ("crash",)),
        (Scope("guarded", 2, 2, 1), ()),
        (Scope("guarded", 1, 1, 1, rollbackers=1, history=2), ()),
        (Scope("guarded", 0, 0, 1, repairers=1, vandal=True, history=2), ("crash",)),
        pytest.param(Scope("guarded", 1, 1, 1, repairers=1, vandal=True, history=2), (), marks=pytest.mark.slow),
    ],
    ids=["naive", "naive-crash", "guarded", "guarded-rollbacker", "repair-vandal-crash", "guarded-repairer-vandal"],
)
def test_the_reduction_loses_no_end_state(scope: Scope, faults: tuple[str, ...]) -> None:
    """Soundness of the reductions (sleep sets, state caching, and the footprint tables and state
    keys they trust): every end state a random sample reaches is among the end states of the
    exhaustive search."""
    exhaustive = explore_exhaustive(scope, faults=faults, collect_states=True, workers=WORKERS)
    sample = explore_random(
        scope, schedules=1500, faults=faults, fault_rate=0.05, max_faults=1, collect_states=True, workers=WORKERS
    )
    assert exhaustive.states is not None and sample.states is not None
    assert len(sample.states) >= 2  # not a trivial sample
    missing = sample.states - exhaustive.states
    assert not missing, f"{len(missing)} end states reached at random but not by the exhaustive search"


#: Scopes small enough for the search without any reduction (every order of every step), with
#: crashes, recovery actors and the naive enactor.
UNREDUCED = [
    pytest.param(Scope("guarded", 1, 1, 1), ("crash",), id="enactor-planner-crash"),
    pytest.param(Scope("guarded", 0, 0, 1, repairers=1, vandal=True, history=2), FAULTS, id="repair-vandal-any-fault"),
    pytest.param(
        Scope("guarded", 0, 0, 1, rollbackers=1, cleaners=1, history=2), ("crash",), id="rollback-cleanup-crash"
    ),
    pytest.param(Scope("naive", 1, 1, 1), ("crash",), id="naive-crash"),
]


def _searches(scope: Scope, faults: tuple[str, ...], reductions: tuple[str, ...]) -> dict[str, ExploreResult]:
    out = {}
    for reduction in reductions:
        result = explore_exhaustive(scope, faults=faults, collect_states=True, reduction=reduction)  # type: ignore[arg-type]
        print(reduction, result.summary())
        assert result.complete
        out[reduction] = result
    return out


def _same_findings(reference: ExploreResult, reduced: ExploreResult) -> None:
    assert reference.states is not None and reduced.states is not None
    assert reference.found is not None and reduced.found is not None
    assert reduced.states == reference.states, (
        f"end states: {len(reference.states - reduced.states)} lost, {len(reduced.states - reference.states)} new"
    )
    assert reduced.found == reference.found, reference.found ^ reduced.found


@pytest.mark.parametrize(("scope", "faults"), UNREDUCED)
def test_the_reductions_find_what_the_unreduced_search_finds(scope: Scope, faults: tuple[str, ...]) -> None:
    """Soundness of sleep sets and of state caching (its state key: world, checker history,
    scheduler, each actor's observations): the same end states and the same violations as the
    search that runs every schedule, with far fewer steps."""
    got = _searches(scope, faults, ("none", "sleep", "states"))
    _same_findings(got["none"], got["sleep"])
    _same_findings(got["none"], got["states"])
    assert got["states"].steps < got["sleep"].steps < got["none"].steps
    assert not statekey.UNKNOWN_TYPES, statekey.UNKNOWN_TYPES


def _vandal_empties(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teeth: the vandal empties the endpoint instead of dropping one value (I1, and I4 when no
    repair follows)."""
    from safeguards.records import Change
    from safeguards.testing.world import MODEL_ACCESS, World

    def vandal_body(self: World, endpoint: str | None = None) -> ActorBody:
        def body(ctx: ActorContext) -> str:
            self.roles[ctx.name] = "vandal"
            model = ctx.guard(self.model, name="zone", access=MODEL_ACCESS)
            current = next(r for r in model.list_record_sets(self.zone_id) if r.name == self.endpoints[0])
            model.change_record_sets(self.zone_id, [Change("DELETE", current)], "vandal")
            return "emptied"

        return body

    monkeypatch.setattr(World, "vandal_body", vandal_body)


def test_the_reductions_find_the_violations_the_unreduced_search_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    _vandal_empties(monkeypatch)
    scope = Scope("guarded", 0, 0, 1, repairers=1, vandal=True, history=2)
    got = _searches(scope, ("crash",), ("none", "sleep", "states"))
    assert got["none"].found and {inv for inv, _ in got["none"].found} >= {"I1"}
    _same_findings(got["none"], got["sleep"])
    _same_findings(got["none"], got["states"])


@pytest.mark.parametrize(
    ("scope", "faults"),
    [
        pytest.param(Scope("naive", 2, 2, 1), (), id="naive"),
        pytest.param(Scope("naive", 2, 1, 1), ("crash",), id="naive-crash"),
        pytest.param(Scope("guarded", 2, 1, 1), (), id="guarded"),
        pytest.param(Scope("guarded", 1, 1, 1, rollbackers=1, history=2), (), id="guarded-rollbacker"),
        pytest.param(Scope("guarded", 1, 0, 1, rollbackers=1, history=2), ("crash",), id="rollbacker-crash"),
    ],
)
def test_state_caching_finds_what_sleep_sets_alone_find(scope: Scope, faults: tuple[str, ...]) -> None:
    """On scopes too large to run unreduced: state caching on top of sleep sets loses no end state
    and no violation of the sleep-set search, in a fraction of its schedules."""
    got = _searches(scope, faults, ("sleep", "states"))
    _same_findings(got["sleep"], got["states"])
    assert got["states"].steps < got["sleep"].steps


def test_the_state_key_classifies_every_attribute_of_the_world() -> None:
    """An attribute added to the world, its model or its store is folded into the state key
    generically (sound, but perhaps pruning less): classify it in `statekey`."""
    world, checker, _ = build(Scope("guarded", 1, 1, 1, repairers=1, vandal=True, history=2), ReplayPolicy([]))
    assert statekey.unclassified(world, checker) == {}


def test_the_naive_enactor_is_caught_within_100_random_schedules() -> None:
    result = explore_random(Scope("naive", enactors=3, plans=3, names=2), schedules=100, stop_on_violation=True)
    failure = result.first_failure
    assert failure is not None, result.summary()
    assert result.schedules <= 100
    print(result.summary())
    print(failure)  # the schedule, ready to replay
    assert {"I1", "I2"} & {v.invariant for v in failure.violations}
    again = replay(Scope("naive", enactors=3, plans=3, names=2), failure.schedule)
    assert [str(v) for v in again.violations] == [str(v) for v in failure.violations]


def _ci_sized_parts(parts: int = 4) -> list[tuple[Scope, int, int]]:
    """SCHEDULES random schedules over three scopes: 80% the race (2 enactors, 2 plans, 2
    names) in `parts` consecutive ranges, 10% the same without leases (the fence alone), the
    rest a wider one (3 enactors x 2 rounds, 3 plans, 3 names). The ranges of one scope are
    the schedules one run of it would make (seeds "2025/i"), cut so that pytest-xdist can give
    them to different workers."""
    race = SCHEDULES * 8 // 10
    cuts = [race * k // parts for k in range(parts + 1)]
    out = [(Scope("guarded", 2, 2, 2), a, b - a) for a, b in itertools.pairwise(cuts)]
    out.append((Scope("guarded", 2, 2, 2, use_lease=False), 0, SCHEDULES // 10))
    out.append((Scope("guarded", 3, 3, 3, rounds=2), 0, SCHEDULES - race - SCHEDULES // 10))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scope", "start", "n"),
    _ci_sized_parts(),
    ids=[f"{s.enactors}x{s.plans}x{s.names}{'-no-lease' * (not s.use_lease)}-{a}" for s, a, _ in _ci_sized_parts()],
)
def test_ci_sized_random_exploration_with_faults(scope: Scope, start: int, n: int) -> None:
    """The CI-sized run (SCHEDULES random schedules in all, see `_ci_sized_parts`), every fault
    kind, 10% of steps carry one; each part asserts that every fault kind took effect."""
    result = explore_random(scope, schedules=n, seed=2025, start=start, faults=FAULTS, fault_rate=0.1, workers=WORKERS)
    print(result.summary())
    assert result.schedules == n
    assert result.violating == 0, result.first_failure
    if n >= 1000:  # every kind of fault took effect, many times
        assert all(result.faults_fired.get(f, 0) >= n // 1000 for f in FAULTS), result.faults_fired


def test_the_ci_sized_parts_are_the_schedules_of_one_run() -> None:
    parts = _ci_sized_parts()
    assert sum(n for _, _, n in parts) == SCHEDULES
    race = [(start, n) for scope, start, n in parts if scope == Scope("guarded", 2, 2, 2)]
    assert [start for start, _ in race] == [0] + [a + n for a, n in race[:-1]]  # consecutive, from 0
