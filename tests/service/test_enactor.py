"""The long-running enactor, one step at a time on a virtual clock: publish/enact cycles, the
newest generation only, clean-up, a half-applied generation finished by another enactor,
continuous repair within two intervals, backoff with jitter, and the circuit stopping it."""

from __future__ import annotations

import logging

import pytest
from _svc import Service, make_service

from safeguards.errors import GuardRefused, SafeguardsError
from safeguards.fence import find_fence, parse_fence
from safeguards.records import Change
from safeguards.service import Enactor, EnactorStopped


class Crash(BaseException):
    """A process dying at a checkpoint (not an error any code catches)."""


def test_publish_then_enact_applies_the_newest_generation_only_and_cleans_up(svc: Service) -> None:
    a = svc.enactor("A")
    for g in (2, 3, 4, 5, 6):
        svc.publish(g)
    calls_before = sum(svc.model.calls.values())
    [report] = a.run_once()
    assert (report.action, report.outcome, report.live_generation) == ("apply", "applied", 6)
    assert svc.live_is(svc.world.plan(6))
    # Clean-up kept the live plan and `keep` (2 in this world) older ones: never the live one.
    assert report.deleted == [1, 2, 3]
    assert svc.store.generations(svc.zone) == [4, 5, 6]
    assert sum(svc.model.calls.values()) > calls_before
    # The next cycle finds it in sync and writes nothing.
    changes = svc.model.calls["ChangeResourceRecordSets"]
    [again] = a.run_once()
    assert (again.action, again.outcome) == ("check", "in-sync")
    assert svc.model.calls["ChangeResourceRecordSets"] == changes
    assert a.metrics.get("live_generation", zone=svc.zone) == 6
    assert a.metrics.get("published_generation", zone=svc.zone) == 6
    assert a.metrics.get("applies_total", zone=svc.zone, outcome="applied") == 1


def test_a_poll_reads_only_the_plan_store_until_something_new_is_published(svc: Service) -> None:
    a = svc.enactor("A")
    a.run_once()
    reads = svc.model.calls["ListResourceRecordSets"]
    assert a.run_once(full=False) == []  # nothing newer than what it saw live
    assert svc.model.calls["ListResourceRecordSets"] == reads
    svc.publish(2)
    [report] = a.run_once(full=False)
    assert (report.outcome, report.live_generation) == ("applied", 2)


def test_a_crashed_enactors_half_applied_generation_is_finished_by_another(svc: Service) -> None:
    def crash_at_second_batch(name: str, **ctx: object) -> None:
        if name == "batch.before" and ctx.get("index") == 2:
            raise Crash

    crashing = svc.enactor("A", checkpoint=crash_at_second_batch)
    svc.publish(2)
    with pytest.raises(Crash):
        crashing.run_once()
    fence = svc.fence()
    assert fence is not None and (fence.generation, fence.done) == (2, False)  # half applied: canary only
    values = svc.values()
    assert svc.world.label(values[svc.endpoint(0)]) == "g2" and svc.world.label(values[svc.endpoint(2)]) == "g1"
    # A dead process does not give its lease back: it holds it until the TTL runs out.
    svc.store.acquire_lease(svc.zone, "A", svc.world.options.lease_ttl)
    crashed_at = svc.clock.now()

    b = svc.enactor("B")
    [report] = b.run_once()
    assert (report.action, report.outcome) == ("resume", "resumed"), report.line()
    assert svc.live_is(svc.world.plan(2))
    fence = svc.fence()
    assert fence is not None and fence.writer == "B" and fence.rank == (2, 0)
    # Within the stated bound: the lease TTL plus one lease-wait backoff step.
    assert svc.clock.now() - crashed_at <= svc.world.options.lease_ttl + 13.0
    assert b.metrics.get("repairs_total", zone=svc.zone) == 1


def test_a_stop_request_stops_between_batches_and_gives_the_lease_back(svc: Service) -> None:
    holder: dict[str, Enactor] = {}

    def stop_after_first_batch(name: str, **ctx: object) -> None:
        if name == "batch.after" and ctx.get("index") == 1:
            holder["e"].stop()

    holder["e"] = e = svc.enactor("A", checkpoint=stop_after_first_batch)
    svc.publish(2)
    with pytest.raises(EnactorStopped):
        e.run_once()
    fence = svc.fence()
    assert fence is not None and (fence.generation, fence.done, fence.writer) == (2, False, "A")
    assert svc.world.label(svc.values()[svc.endpoint(2)]) == "g1"  # batch 2 never written
    # The lease was given back: another holder takes it at once (no wait, epoch + 1).
    lease = svc.store.acquire_lease(svc.zone, "other", 30.0)
    assert lease.holder == "other"
    svc.store.release_lease(lease)
    e.run()  # a stopped enactor's loop ends at once
    assert e.metrics.get("stopping") == 1
    b = svc.enactor("B")
    assert b.run_once()[0].outcome == "resumed"
    assert svc.live_is(svc.world.plan(2))


@pytest.mark.parametrize("damage", ["emptied", "below-minimum", "foreign-content"])
def test_continuous_repair_restores_a_vandalised_name_within_two_intervals(
    damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="safeguards.service")
    svc = make_service(interval=10.0, min_values={"ep1.example.com.": 2})
    svc.publish(2)
    a = svc.enactor("A")
    a.run_once()
    assert svc.live_is(svc.world.plan(2))
    target = svc.endpoint(0) if damage != "foreign-content" else svc.endpoint(2)
    done: dict[str, float] = {}

    def vandal_then_watch(report: object) -> None:
        if "at" not in done:
            done["at"] = svc.clock.now()
            new = {"emptied": None, "below-minimum": ("10.0.2.1",), "foreign-content": ("203.0.113.66",)}[damage]
            svc.vandalise(target, new)
            assert not svc.live_is(svc.world.plan(2))
        elif "repaired" not in done and svc.live_is(svc.world.plan(2)):
            done["repaired"] = svc.clock.now()
            a.stop()

    a.on_report = vandal_then_watch
    a.run(cycles=200)  # the loop itself: full cycles every interval, polls in between (virtual time)
    assert "repaired" in done, "never repaired"
    assert done["repaired"] - done["at"] <= 2 * svc.interval
    fence = svc.fence()
    assert fence is not None and fence.generation == 2 and fence.done
    assert a.metrics.get("repairs_total", zone=svc.zone) == 1
    report = a.metrics.reports[svc.zone]
    assert report["action"] == "repair" and report["outcome"] in ("resumed", "repaired")
    # The log shows the repair too.
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("self-repair")]
    assert "enactor=A zone=example.com. action=repair" in line and "generation=2" in line
    assert 'dnssg_repairs_total{zone="example.com."} 1' in a.metrics.render()


def test_errors_back_off_with_full_jitter_and_recover(svc: Service) -> None:
    a = svc.enactor("A")
    svc.publish(2)
    budget = svc.world.options.backoff.max_attempts
    svc.model.faults.throttle(budget + 1)  # more than the applier's own retries: the cycle fails
    [failed] = a.run_once()
    assert (failed.action, failed.kind) == ("error", "Throttled")
    assert failed.retry_in is not None and 0.0 <= failed.retry_in <= 1.0  # first wait: jitter in [0, base]
    assert a.metrics.get("errors_total", zone=svc.zone, kind="Throttled") == 1
    # While backing off the zone is left alone: no Route 53 call at all.
    calls = sum(svc.model.calls.values())
    [waiting] = a.run_once()
    assert waiting.action == "backoff" and sum(svc.model.calls.values()) == calls
    svc.model.faults.throttle(budget + 1)
    svc.clock.advance(failed.retry_in + 0.001)
    [second] = a.run_once()
    assert second.kind == "Throttled" and second.retry_in is not None and second.retry_in <= 2.0  # cap doubles
    svc.clock.advance(second.retry_in + 0.001)
    [ok] = a.run_once()
    assert ok.outcome == "applied" and svc.live_is(svc.world.plan(2))
    # Different enactors draw different waits (full jitter, not lockstep).
    waits = set()
    for name in ("j1", "j2", "j3"):
        e = svc.enactor(name)
        svc.publish(len(svc.store.generations(svc.zone)) + 10)
        svc.model.faults.throttle(budget + 1)
        waits.add(e.run_once()[0].retry_in)
        svc.model.faults.clear()
        svc.store.reset_circuit(svc.zone)
    assert len(waits) == 3


def test_an_open_circuit_stops_enacting_and_says_why_until_reset(svc: Service) -> None:
    a = svc.enactor("A")
    svc.publish(2)
    a.run_once()
    before = svc.world.snapshot()
    svc.publish(3, omit=(svc.endpoint(2),))  # a planner bug: would empty 'regional'
    refusals = []
    for _ in range(3):
        [r] = a.run_once()
        refusals.append(r)
        assert r.action == "error" and r.kind == "GuardRefused" and r.exit_code == GuardRefused.exit_code
        svc.clock.advance((r.retry_in or 0) + 0.001)
    assert svc.world.snapshot() == before  # nothing of the refused plan was written (I5)
    assert a.metrics.get("refusals_total", zone=svc.zone, guard="never-empty") == 3
    assert svc.store.state(svc.zone).circuit_open
    svc.publish(4)  # a good plan now: still not enacted while the circuit is open
    [stopped] = a.run_once()
    assert (stopped.action, stopped.exit_code) == ("circuit-open", 6)
    assert stopped.reason is not None
    assert "reset --zone example.com." in stopped.reason and "never-empty" in stopped.reason
    assert a.metrics.get("circuit_open", zone=svc.zone) == 1
    assert svc.world.snapshot() == before
    assert a.metrics.ready() == (False, f"circuit open: example.com.: {stopped.reason}")
    svc.store.reset_circuit(svc.zone)  # a person looked
    [applied] = a.run_once()
    assert (applied.outcome, applied.live_generation) == ("applied", 4)
    assert a.metrics.get("circuit_open", zone=svc.zone) == 0


def test_a_rolled_back_generation_is_kept_as_rolled_back_and_its_names_repaired() -> None:
    svc = make_service(min_values={"ep1.example.com.": 2})
    a = svc.enactor("A")
    svc.publish(2)
    a.run_once()
    result = a.applier.rollback(svc.zone, to=1)
    assert result.outcome == "rolled-back"
    [r] = a.run_once()
    assert (r.action, r.outcome, r.live_generation, r.content_generation) == ("check", "in-sync", 2, 1)
    svc.vandalise(svc.endpoint(0), None)  # emptied
    [r] = a.run_once()
    assert (r.action, r.outcome) == ("repair", "repaired")
    fence = svc.fence()
    assert fence is not None and fence.content == 1 and fence.generation == 2 and fence.rev == 2
    assert svc.world.label(svc.values()[svc.endpoint(0)]) == "g1"


def test_stale_and_busy_are_not_errors(svc: Service) -> None:
    a, b = svc.enactor("A"), svc.enactor("B")
    svc.publish(2)
    lease = svc.store.acquire_lease(svc.zone, "B", 300.0)  # B is at work (not provably dead)
    [busy] = a.run_once()
    assert busy.outcome == "busy" and busy.exit_code == 0
    assert a.metrics.get("lease_busy_total", zone=svc.zone) == 1
    assert a.metrics.total("errors_total") == 0
    svc.store.release_lease(lease)
    assert b.run_once()[0].outcome == "applied"
    assert a.run_once()[0].outcome == "in-sync"


def test_an_enactor_needs_a_zone_and_a_positive_interval(svc: Service) -> None:
    a = svc.enactor("A")
    with pytest.raises(ValueError):
        Enactor(a.applier, [])
    with pytest.raises(ValueError):
        Enactor(a.applier, [svc.zone], interval=0)
    assert parse_fence(find_fence(svc.world.sets(), svc.zone)) is not None
    assert issubclass(EnactorStopped, Exception) and not issubclass(EnactorStopped, SafeguardsError)


def test_enactors_of_two_owners_share_a_zone_each_with_its_own_generations(svc: Service) -> None:
    from safeguards.plan import Plan
    from safeguards.planstore import scope
    from safeguards.records import RecordSet
    from safeguards.service import Planner

    def team_plan(value: str) -> Plan:
        return Plan(svc.zone, 1, (RecordSet("a1.example.com.", "A", 60, (value,)),), owner="team-a")

    planner = Planner(svc.store)
    assert planner.publish(team_plan("198.51.100.1")) == 1  # team-a's own sequence starts at 1
    assert planner.publish(team_plan("198.51.100.2")) == 2
    svc.publish(2)  # the default owner's g2
    team = svc.enactor("T", owner="team-a")
    default = svc.enactor("A")
    assert team.run_once()[0].outcome == "applied"
    assert default.run_once()[0].outcome == "applied"
    assert svc.store.generations(scope(svc.zone, "team-a")) == [1, 2]
    team_fence = parse_fence(find_fence(svc.world.sets(), svc.zone, "team-a"))
    assert team_fence is not None and team_fence.generation == 2 and team_fence.owner == "team-a"
    assert svc.live_is(svc.world.plan(2))
    a1 = [r for r in svc.world.sets() if r.name == "a1.example.com." and r.type == "A"]
    assert [r.values for r in a1] == [("198.51.100.2",)]
    # team-a's name vandalised: team-a's enactor repairs it; the default owner's is in sync.
    svc.model.change_record_sets(svc.world.zone_id, [Change("DELETE", a1[0])], "vandal")
    assert default.run_once()[0].outcome == "in-sync"
    [r] = team.run_once()
    assert (r.action, r.outcome) == ("repair", "resumed")
    assert [x.values for x in svc.world.sets() if x.name == "a1.example.com." and x.type == "A"] == [("198.51.100.2",)]


def test_a_plan_store_outage_backs_off_instead_of_ending_the_loop(svc: Service) -> None:
    from typing import Any

    from safeguards.errors import StateLocked

    class Flaky:
        """The plan store, failing while `down` is set."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.down = inner, True

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self.inner, name)
            if not callable(attr):
                return attr

            def call(*args: Any, **kwargs: Any) -> Any:
                if self.down:
                    raise StateLocked("plans.sqlite: state database stayed locked by another process")
                return attr(*args, **kwargs)

            return call

    store = Flaky(svc.store)
    svc.publish(2)
    e = Enactor.create(svc.model, store, [svc.zone], enactor_id="A", options=svc.world.options, clock=svc.clock,
                       interval=svc.interval)  # fmt: skip
    [failed] = e.run_once()
    assert (failed.action, failed.kind) == ("error", "StateLocked") and failed.retry_in is not None
    assert e.run_once(full=False) == []  # a poll while backing off says nothing
    store.down = False
    svc.clock.advance(failed.retry_in + 0.001)
    assert e.run_once()[0].outcome == "applied"
    assert svc.live_is(svc.world.plan(2))


def test_an_open_circuit_is_said_once_per_interval_not_at_every_poll(svc: Service) -> None:
    a = svc.enactor("A")
    svc.store.record_failure(svc.zone, "refused by never-empty guard: x", threshold=1)
    svc.publish(2)
    assert a.run_once(full=False) == []
    [r] = a.run_once()
    assert r.action == "circuit-open"


def test_while_the_newest_plan_is_refused_an_emptied_live_name_is_still_repaired(svc: Service) -> None:
    a = svc.enactor("A")
    svc.publish(2)
    a.run_once()
    svc.vandalise(svc.endpoint(0), None)  # ep1 emptied out of band
    svc.publish(3, omit=(svc.endpoint(2),))  # and the newest plan is refused (it would empty 'regional')
    [r] = a.run_once()
    assert (r.action, r.kind) == ("error", "GuardRefused")
    assert svc.live_is(svc.world.plan(2))  # ep1 answers again with the live content
    fence = svc.fence()
    assert fence is not None and fence.rank == (2, 1) and fence.content == 2  # a repair: g2.r1, never g3
    assert a.metrics.get("repairs_total", zone=svc.zone) == 1
    assert a.metrics.get("refusals_total", zone=svc.zone, guard="never-empty") == 1
