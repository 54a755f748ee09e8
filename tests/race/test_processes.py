"""`repair` and `rollback` as separate OS processes during newer applies, on the embedded default
(`dns-safeguards --state DIR`: the strict Route 53 model and the plan store in SQLite, shared by
every process): they never revert the newer plan. And a lease holder killed with SIGKILL is taken
over at once by another process, which finishes its half-applied generation.

Every process is the real CLI (see `_processes.py`); the only thing added is a checkpoint hook that
parks a child on the test's Unix socket at a named checkpoint until the test lets it go. The
interleavings are forced that way; nothing waits on time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _processes import Cli, Gate, content_of, gate, write_plan

from safeguards.backends.strict import StrictRoute53
from safeguards.fence import Fence, ZoneView
from safeguards.records import Change, RecordSet

ZONE = "proc.example."
WEBS = 6
#: The names whose content changes with every generation (the others never change).
NAMES = ["api", "web1"]


@dataclass
class Embedded:
    """The embedded default's state directory, read and damaged from outside the CLI."""

    state: Path

    def _model(self) -> StrictRoute53:
        return StrictRoute53(path=self.state / "route53.sqlite", insync_after=0.0)

    def view(self) -> ZoneView:
        model = self._model()
        return ZoneView.of(ZONE, model.list_record_sets(model.resolve_zone(ZONE)))

    def fence(self) -> Fence:
        fence = self.view().fence
        assert fence is not None
        return fence

    def contents(self) -> dict[str, int | None]:
        view = self.view()
        for n in range(2, WEBS + 1):  # the constant names: never touched, never empty
            assert content_of(view.by_key[(f"web{n}.{ZONE}", "A", None)].values) == 0
        return {n: content_of(view.by_key[(f"{n}.{ZONE}", "A", None)].values) for n in NAMES}

    def vandalise(self) -> None:
        """Something outside the library drops `api` to one value (its minimum is 2)."""
        model = self._model()
        zone_id = model.resolve_zone(ZONE)
        api = next(r for r in model.list_record_sets(zone_id) if r.name == f"api.{ZONE}" and r.type == "A")
        one = RecordSet(api.name, "A", api.ttl, api.values[:1])
        model.change_record_sets(zone_id, [Change("DELETE", api), Change("CREATE", one)], "vandal")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Cli, Gate, Embedded, Path]]:
    state = tmp_path / "state"
    with gate(tmp_path) as g:
        cli = Cli(["--state", str(state)], g)
        try:
            yield cli, g, Embedded(state), tmp_path
        finally:
            cli.close()


def _applied(cli: Cli, plans: Path, *generations: int, setup: bool = False) -> None:
    """Apply `generations`, each by a CLI process (`setup`: in this process, a starting point)."""
    if setup:
        cli.setup(*(write_plan(plans, ZONE, g, WEBS) for g in generations))
        return
    for g in generations:
        r = cli.run("apply", str(write_plan(plans, ZONE, g, WEBS)), "--json")
        assert r.code == 0, r.err or r.out
        assert r.json["outcome"] == "applied", r.out


def test_repair_decided_before_a_newer_apply_never_reverts_it(world: tuple[Cli, Gate, Embedded, Path]) -> None:
    """g10 live; api dropped below its minimum; `repair` reads and decides (api), then is held;
    `apply g11` runs to its end in another process; `repair` goes on: its batch carries g10's
    fence, Route 53 rejects it, and the fresh read leaves nothing to repair."""
    cli, g, zone, plans = world
    _applied(cli, plans, 10, setup=True)
    zone.vandalise()
    repair = cli.start("repair", "-z", ZONE, "--json", stops=["decided action=repair"])
    decided = g.reached("decided", repair)
    assert decided.context["broken"] == 1 and decided.context["generation"] == 10
    _applied(cli, plans, 11)
    decided.go()
    r = cli.finish(repair)
    assert r.code == 0, r.err
    assert r.json["outcome"] == "noop", r.out
    assert zone.contents() == dict.fromkeys(NAMES, 11)
    fence = zone.fence()
    assert fence.rank == (11, 0) and fence.content == 11 and fence.done


def test_repair_held_while_a_newer_apply_holds_the_lease_never_reverts_it(
    world: tuple[Cli, Gate, Embedded, Path],
) -> None:
    """The same with the newer apply stopped after its canary batch (holding the lease, the zone
    mixed) when the repair is let go: the repair waits for the lease, then finds nothing to do."""
    cli, g, zone, plans = world
    _applied(cli, plans, 10, setup=True)
    zone.vandalise()
    repair = cli.start("repair", "-z", ZONE, "--json", stops=["decided action=repair"])
    decided = g.reached("decided", repair)
    apply = cli.start("apply", str(write_plan(plans, ZONE, 11, WEBS)), "--json", stops=["batch.before index=2"])
    second = g.reached("batch.before", apply)
    assert zone.contents()["api"] == 11 and zone.contents()["web1"] == 10  # mixed: canary done
    decided.go()
    second.go()
    a, r = cli.finish(apply), cli.finish(repair)
    assert a.code == 0 and a.json["outcome"] == "applied", a.err or a.out
    assert r.code == 0 and r.json["outcome"] == "noop", r.err or r.out
    assert zone.contents() == dict.fromkeys(NAMES, 11)
    assert zone.fence().rank == (11, 0) and zone.fence().done


def test_rollback_decided_before_a_newer_apply_is_stale(world: tuple[Cli, Gate, Embedded, Path]) -> None:
    """g9 then g10 live; `rollback` decides "g10 -> g9", is held; `apply g11` ends; the rollback
    goes on and stops with exit 4 (stale), g11 untouched everywhere."""
    cli, g, zone, plans = world
    _applied(cli, plans, 9, 10, setup=True)
    rollback = cli.start("rollback", "-z", ZONE, "--yes", "--json", stops=["decided action=rollback"])
    decided = g.reached("decided", rollback)
    assert decided.context["to"] == 9 and decided.context["generation"] == 10
    _applied(cli, plans, 11)
    decided.go()
    r = cli.finish(rollback)
    assert r.code == 4, r.out + r.err
    assert r.json["kind"] == "StaleGeneration", r.out
    assert "was decided while g10 was live; g11 is live now" in r.json["error"]
    assert zone.contents() == dict.fromkeys(NAMES, 11)
    assert zone.fence().rank == (11, 0)


def test_repair_and_rollback_during_a_newer_apply(world: tuple[Cli, Gate, Embedded, Path]) -> None:
    """Both at once: repair and rollback decided on g10, the apply of g11 stopped between its
    batches, then everyone let go. Neither corrective write lands; g11 ends live everywhere."""
    cli, g, zone, plans = world
    _applied(cli, plans, 9, 10, setup=True)
    zone.vandalise()
    repair = cli.start("repair", "-z", ZONE, "--json", stops=["decided action=repair"])
    r_decided = g.reached("decided", repair)
    rollback = cli.start("rollback", "-z", ZONE, "--yes", "--json", stops=["decided action=rollback"])
    u_decided = g.reached("decided", rollback)
    apply = cli.start("apply", str(write_plan(plans, ZONE, 11, WEBS)), "--json", stops=["batch.before index=2"])
    second = g.reached("batch.before", apply)
    u_decided.go()
    r_decided.go()
    second.go()
    a, r, u = cli.finish(apply), cli.finish(repair), cli.finish(rollback)
    assert a.code == 0 and a.json["outcome"] == "applied", a.err or a.out
    assert r.code == 0 and r.json["outcome"] == "noop", r.err or r.out
    assert u.code == 4 and u.json["kind"] == "StaleGeneration", u.out + u.err
    assert zone.contents() == dict.fromkeys(NAMES, 11)
    assert zone.fence().rank == (11, 0) and zone.fence().done


def test_a_rollback_after_the_newer_apply_is_a_revision_of_it(world: tuple[Cli, Gate, Embedded, Path]) -> None:
    """Decided on g11 (not before it), a rollback goes through: g10's content under g11.r1."""
    cli, _, zone, plans = world
    _applied(cli, plans, 10, 11, setup=True)
    r = cli.run("rollback", "-z", ZONE, "--yes", "--json")
    assert r.code == 0, r.err
    assert r.json["outcome"] == "rolled-back" and r.json["rolled_back_to"] == 10
    assert zone.contents() == dict.fromkeys(NAMES, 10)
    fence = zone.fence()
    assert (fence.generation, fence.rev, fence.content) == (11, 1, 10)


@pytest.mark.parametrize("finisher", ["apply", "repair"])
def test_a_killed_lease_holder_is_taken_over_at_once_and_its_generation_finished(
    world: tuple[Cli, Gate, Embedded, Path], finisher: str
) -> None:
    """`apply g11` holds the lease, its canary batch written (the zone mixed), and is killed with
    SIGKILL. Another process (another enactor id, lease wait 0: it must take the lease at once or
    fail) finishes g11: `apply g11` resumes it, or `repair` completes the half-applied generation."""
    cli, g, zone, plans = world
    _applied(cli, plans, 10, setup=True)
    g11 = write_plan(plans, ZONE, 11, WEBS)
    first = cli.start("apply", str(g11), "--json", stops=["batch.before index=2"], enactor="first")
    g.reached("batch.before", first)
    assert zone.contents()["api"] == 11 and zone.contents()["web1"] == 10
    assert not zone.fence().done and zone.fence().writer == "first"
    cli.kill9(first)
    if finisher == "apply":
        r = cli.run("apply", str(g11), "--json", lease_wait=0, enactor="second")
        assert r.code == 0, r.out + r.err
        assert r.json["outcome"] == "resumed", r.out
    else:
        r = cli.run("repair", "-z", ZONE, "--json", lease_wait=0, enactor="second")
        assert r.code == 0, r.out + r.err
        assert r.json["outcome"] == "repaired", r.out
    assert zone.contents() == dict.fromkeys(NAMES, 11)
    fence = zone.fence()
    assert fence.generation == 11 and fence.content == 11 and fence.done and fence.writer == "second"
