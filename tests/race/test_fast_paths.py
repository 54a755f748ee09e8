"""The explorer's fast paths change nothing a run shows: greenlets and threads give the same
schedules, traces, outcomes and violations; a world forked from a template is the world built
from scratch; the strict model's reused batch verdicts are the verdicts it would judge; and the
command line resumes a cut-short run where it stopped."""

from __future__ import annotations

import random

import pytest

from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import BatchRejected
from safeguards.records import Change, RecordSet
from safeguards.testing import explore
from safeguards.testing import scheduler as scheduler_module
from safeguards.testing.explore import Scope, explore_random, fingerprint, run_schedule
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
