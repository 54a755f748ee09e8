"""The explorer's fast paths change nothing a run shows: greenlets and threads give the same
schedules, traces, outcomes and violations; a world forked from a template is the world built
from scratch; the strict model's reused batch verdicts are the verdicts it would judge; and the
command line resumes a cut-short run where it stopped."""

from __future__ import annotations

import dataclasses
import random

import pytest

from safeguards import decisions, ports
from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import BatchRejected
from safeguards.records import Change, RecordSet
from safeguards.testing import explore, invariants
from safeguards.testing import scheduler as scheduler_module
from safeguards.testing.explore import RunResult, Scope, explore_random, fingerprint, run_schedule
from safeguards.testing.invariants import InvariantChecker
from safeguards.testing.scheduler import ENGINES, FAULTS, RandomPolicy
from safeguards.testing.world import World, default_options

SCOPES = [
    Scope("guarded", 2, 2, 2),
    Scope("naive", 2, 2, 1),
    Scope("guarded", 1, 1, 1, repairers=1, rollbackers=1, cleaners=1, vandal=True, history=2),
]


def runs(scope: Scope, n: int) -> list[tuple]:
    out = []
    for i in range(n):
        policy = RandomPolicy(random.Random(f"7/{i}"), faults=FAULTS, fault_rate=0.2)
        r = run_schedule(scope, policy, observe=None)
        out.append((r.schedule, [str(v) for v in r.violations], r.outcomes, r.state, r.fired))
    return out


@pytest.mark.skipif("greenlet" not in ENGINES, reason="greenlet not installed")
@pytest.mark.parametrize("scope", SCOPES, ids=["guarded", "naive", "recovery"])
def test_greenlets_and_threads_run_the_same_schedules(scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "DEFAULT_ENGINE", "greenlet")
    fast = runs(scope, 25)
    monkeypatch.setattr(scheduler_module, "DEFAULT_ENGINE", "thread")
    slow = runs(scope, 25)
    assert fast == slow
    assert any(r[4] for r in fast)  # faults fired
    if scope.kind == "naive":
        assert any(r[1] for r in fast)  # the naive enactor broke something: violations compared too


@pytest.mark.parametrize("scope", SCOPES, ids=["guarded", "naive", "recovery"])
def test_a_forked_world_is_the_world_built_from_scratch(scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    def from_scratch(scope: Scope) -> World:
        options = default_options(lease_ttl=scope.lease_ttl, keep_plans=scope.keep, use_lease=scope.use_lease)
        mins = {e: scope.min_values for e in explore.endpoint_names(scope.names)} if scope.min_values != 1 else {}
        world = World.create(scope.kind, scope.names, keep=scope.keep, options=options, min_values=mins)
        world.bootstrap(scope.history, fast=True, earlier=range(1, scope.history))
        return world

    forked, built = explore.fresh_world(scope), from_scratch(scope)
    assert fingerprint(forked) == fingerprint(built)
    assert forked.clock.now() == built.clock.now()
    assert forked.store.state(forked.zone) == built.store.state(built.zone)
    fast = runs(scope, 15)
    monkeypatch.setattr(explore, "fresh_world", from_scratch)
    assert runs(scope, 15) == fast
    # Forks are independent: a schedule run on one leaves the template and the next fork alone.
    again = explore.fresh_world(scope)
    assert fingerprint(again) == fingerprint(built)


def test_reused_batch_verdicts_are_the_verdicts_judged_afresh() -> None:
    model = StrictRoute53(clock=VirtualClock(), insync_after=0)
    zone_id = model.resolve_zone("example.com.", create=True)
    a1 = RecordSet("a.example.com.", "A", 60, ("10.0.0.1",))
    a2 = RecordSet("a.example.com.", "A", 60, ("10.0.0.2",))
    swap = [Change("DELETE", a1), Change("CREATE", a2)]

    def verdict(changes: list[Change]) -> tuple[str, ...] | None:
        before = model.records(zone_id)
        try:
            model.change_record_sets(zone_id, changes)
        except BatchRejected as exc:
            assert model.records(zone_id) == before
            return (exc.message, exc.code, *exc.problems)  # type: ignore[attr-defined]
        return None

    first = verdict(swap)  # a1 is not there: rejected
    assert first is not None and "a.example.com" in first[0]
    assert verdict(swap) == first  # the same batch on the same zone: the same rejection, word for word
    assert verdict([Change("CREATE", a1)]) is None
    assert verdict(swap) is None  # the zone changed where the rules read: judged again, accepted
    assert model.records(zone_id)[-1] == a2 or a2 in model.records(zone_id)
    assert verdict(swap) is not None  # a1 is gone again: rejected again
    assert verdict([Change("CREATE", a2)]) is not None  # exists already


def test_a_random_run_resumes_where_it_stopped() -> None:
    scope = Scope("naive", 2, 2, 1)
    whole = explore_random(scope, schedules=12, seed=5, chunk=4)
    seen: list[int] = []
    head = explore_random(scope, schedules=8, seed=5, chunk=4, progress=lambda r, done: seen.append(done))
    tail = explore_random(scope, schedules=4, seed=5, start=8, chunk=4)
    assert seen == [4, 8]
    head.merge(tail)
    assert (head.schedules, head.steps, head.violating, head.faults_fired) == (
        whole.schedules,
        whole.steps,
        whole.violating,
        whole.faults_fired,
    )
    assert whole.schedules == 12 and whole.faults_fired


def test_the_command_line_prints_how_to_resume_an_interrupted_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = explore.explore_random

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen = []

        def progress(result, done):  # type: ignore[no-untyped-def]
            outer(result, done)
            seen.append(done)
            if len(seen) == 2:
                raise KeyboardInterrupt

        outer = kwargs["progress"]
        kwargs["progress"] = progress
        kwargs["chunk"] = 3
        return real(*args, **kwargs)

    monkeypatch.setattr(explore, "explore_random", interrupted)
    code = explore.main(["--kind", "naive", "--plans", "1", "--names", "1", "--schedules", "20", "--start", "4",
                         "--progress", "0"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 130
    assert "interrupted; counted so far: random" in out and "6 schedules" in out
    assert out.strip().splitlines()[-1] == (
        "resume with: python -m safeguards.testing.explore --kind naive --plans 1 --names 1 --progress 0 "
        "--start 10 --schedules 14"
    )


# ------------------------------------------------------------------------- closing rounds reused


def _after(world: World, checker: InvariantChecker, run: RunResult) -> tuple:
    """Everything a run shows and leaves behind: its result (violations with their traces), the
    world after the closing round (zone, change log, store, leases, clock, counts) and the
    checker's state after it."""
    m, st = world.model, world.store
    return (
        run.schedule,
        [v.explain() for v in run.violations],
        [v.to_dict() for v in run.violations],
        run.steps,
        run.outcomes,
        run.state,
        run.fired,
        fingerprint(world),
        world.clock.now(),
        world.clock.slept,
        dict(m._changes),
        m.next_change_number(),
        {z: list(u) for z, u in m._undo.items()},
        dict(m.calls),
        dict(m.faults.fired),
        {k: n for k, n in m.faults._armed.items() if n},
        {z: {g: (s.plan.to_json(), s.pinned) for g, s in rows.items()} for z, rows in st._plans.items()},
        {z: st.state(z) for z in st._states},
        {z: (st._states[z].next_generation) for z in st._states},
        dict(st._leases),
        checker.healthy_outcome,
        sorted(map(repr, checker._open)),
        checker._rank_max,
        checker._fence,
        checker._content,
        sorted(checker._active),
        checker._floor,
        checker._pointer_max,
        dict(checker._changes),
        list(checker._last_sets),
        list(world.sets()),
    )


class _Built:
    """`explore.build`, keeping each run's world and checker (installed once per test: the
    closing rounds kept are keyed by the code, this wrapper included)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = explore.build
        self.last: tuple[World, InvariantChecker] | None = None
        monkeypatch.setattr(explore, "build", self)

    def __call__(self, scope: Scope, policy):  # type: ignore[no-untyped-def]
        world, checker, sched = self.real(scope, policy)
        self.last = (world, checker)
        return world, checker, sched

    def runs(self, scope: Scope, seeds: range) -> list[tuple]:
        """`_after` for each seed (random schedules, every fault kind, 20% of steps carry one)."""
        out = []
        for i in seeds:
            run = run_schedule(scope, RandomPolicy(random.Random(f"closing/{i}"), faults=FAULTS, fault_rate=0.2))
            assert self.last is not None
            out.append(_after(*self.last, run))
        return out

    def reused_and_run(self, scope: Scope, seeds: range, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
        """The same schedules with closing rounds run every time, then reused (the cache filled
        by a first pass: every closing round of the second is reused)."""
        monkeypatch.setattr(invariants, "REUSE_CLOSING", False)
        ran = self.runs(scope, seeds)
        monkeypatch.setattr(invariants, "REUSE_CLOSING", True)
        # Start from an empty cache: one filled near its limit by earlier tests in this process
        # (an xdist worker) would be cleared during the next pass, and that pass could not
        # reuse everything.
        invariants.clear_closing_cache()
        assert self.runs(scope, seeds) == ran
        kept = len(invariants._CLOSING)
        reused = self.runs(scope, seeds)
        assert len(invariants._CLOSING) == kept
        return ran, reused


CLOSING_SCOPES = [
    Scope("guarded", 2, 2, 2),
    Scope("naive", 2, 2, 1),
    Scope("guarded", 1, 1, 1, repairers=1, rollbackers=1, cleaners=1, vandal=True, history=2),
    Scope("guarded", 3, 3, 2, rounds=2, repairers=1, rollbackers=1),
]


@pytest.mark.parametrize("scope", CLOSING_SCOPES, ids=["guarded", "naive", "recovery", "wide"])
def test_a_reused_closing_round_is_the_closing_round_run(scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    ran, reused = _Built(monkeypatch).reused_and_run(scope, range(120), monkeypatch)
    assert reused == ran
    assert any(r[1] for r in ran) == (scope.kind == "naive")  # violations compared too
    assert len({r[5] for r in ran}) >= 3  # several end states


def _teeth_unconditional_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """test_teeth's fence taken out: every DELETE matches whatever is current."""
    real = StrictRoute53.change_record_sets

    def unconditional(self, zone_id, changes, comment=""):  # type: ignore[no-untyped-def]
        current = {r.key: r for r in self.records(zone_id)}
        fixed = [
            dataclasses.replace(c, rrset=current[c.rrset.key]) if c.action == "DELETE" else c
            for c in changes
            if c.action != "DELETE" or c.rrset.key in current
        ]
        return real(self, zone_id, fixed, comment)

    monkeypatch.setattr(StrictRoute53, "change_record_sets", unconditional)


def _teeth_restore_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """test_recovery_actors' teeth: a restore that puts nothing back."""
    monkeypatch.setattr(decisions, "restore_groups", lambda before, now, touched: [])


@pytest.mark.parametrize("teeth", [_teeth_unconditional_deletes, _teeth_restore_nothing], ids=["fence", "restore"])
def test_closing_rounds_kept_under_other_code_are_not_reused(teeth, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A safeguard taken out (as the teeth tests do) after closing rounds were kept: none of them
    is reused under the changed code, and the ones kept under it are the ones run under it."""
    scope = CLOSING_SCOPES[2]
    seeds = range(100)
    built = _Built(monkeypatch)
    monkeypatch.setattr(invariants, "REUSE_CLOSING", True)
    honest = built.runs(scope, seeds)  # kept under the real code
    stamp = invariants._code_stamp()
    with monkeypatch.context() as m:
        teeth(m)
        assert invariants._code_stamp() != stamp
        ran, reused = built.reused_and_run(scope, seeds, m)
        assert reused == ran
        if teeth is _teeth_unconditional_deletes:
            assert ran != honest  # the safeguard mattered
    assert invariants._code_stamp() == stamp
    assert built.runs(scope, seeds) == honest  # and back


@pytest.mark.parametrize("scope", CLOSING_SCOPES, ids=["guarded", "naive", "recovery", "wide"])
def test_shared_views_of_equal_reads_are_the_views_read_afresh(scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Ports.read`/`read_names` share the view of an equal small read (`ports.view_of`): the
    same schedules, violations, outcomes and end states as every read viewed afresh."""
    shared = runs(scope, 60)
    monkeypatch.setattr(ports, "VIEW_MEMO_SETS", -1)  # every read viewed afresh
    assert runs(scope, 60) == shared


class _Forgetful(dict):  # type: ignore[type-arg]
    """A cache that keeps nothing."""

    def __setitem__(self, key: object, value: object) -> None:
        return None


@pytest.mark.parametrize("scope", CLOSING_SCOPES, ids=["guarded", "naive", "recovery", "wide"])
def test_checks_of_a_zone_equal_to_one_checked_before_are_the_checks_read_afresh(
    scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invariants read a zone equal to one read before (another list of equal sets) from the
    view kept by value: the same schedules, violations, outcomes and end states as every zone's
    list read afresh."""
    kept = runs(scope, 60)
    monkeypatch.setattr(invariants, "_VIEWS", _Forgetful())
    monkeypatch.setattr(invariants, "_VIEWS_BY_VALUE", _Forgetful())
    monkeypatch.setattr(invariants, "REUSE_CLOSING", False)  # closing rounds checked afresh too
    assert runs(scope, 60) == kept
