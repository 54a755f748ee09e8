"""Shared hosted zones: several owners in one zone, each with its own fence, generation sequence,
lease, circuit and clean-up; no owner's write touches another owner's names; adoptions race to one
winner; zones written with the first version's single fence are carried over without a window in
which any owner's compare-and-set is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_recovery import Actor, Env, Pause  # same directory: pytest puts it on sys.path

from safeguards.errors import GuardRefused
from safeguards.fence import Fence, fence_record_name, parse_fence
from safeguards.plan import DEFAULT_OWNER, Plan
from safeguards.records import RecordSet, fence_name

Z = "shared.test."


def rs(name: str, *values: str) -> RecordSet:
    return RecordSet(f"{name}.{Z}", "A", 60, tuple(sorted(values)))


def plan(owner: str, gen: int, *records: RecordSet, **kw: Any) -> Plan:
    return Plan(Z, gen, tuple(sorted(records)), owner=owner, **kw)


class SharedEnv(Env):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.zone_id = self.model.resolve_zone(Z, create=True)

    def sets(self) -> dict[Any, RecordSet]:
        return {r.key: r for r in self.model.list_record_sets(self.zone_id)}

    def fence_of(self, owner: str) -> Fence | None:
        return parse_fence(self.sets().get((fence_record_name(Z, owner), "TXT", None)))


def test_two_owners_number_their_plans_independently(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    env.applier().apply(plan("team-a", 5, rs("a1", "192.0.2.1")))
    env.applier().apply(plan("team-b", 1, rs("b1", "192.0.2.2")))  # was: exit 4, "generation 5 is live"
    env.applier().apply(plan("team-a", 6, rs("a1", "192.0.2.3")))  # was: the same number with other content
    a, b = env.fence_of("team-a"), env.fence_of("team-b")
    assert a is not None and b is not None and (a.generation, b.generation) == (6, 1)
    sets = env.sets()
    assert sets[rs("a1", "192.0.2.3").key].values == ("192.0.2.3",)
    assert sets[rs("b1", "192.0.2.2").key].values == ("192.0.2.2",)
    # The plan store keeps them apart too: generations, leases, state per owner.
    assert env.store.generations(f"{Z}#team-a") == [5, 6] and env.store.generations(f"{Z}#team-b") == [1]
    status = env.applier().status(Z, owner="team-b").to_dict()
    assert status["generation"] == 1
    assert status["owners"]["team-a"]["generation"] == 6 and status["owners"]["team-a"]["names"] == [f"a1.{Z}"]
    assert status["owners"]["team-b"]["names"] == [f"b1.{Z}"]


def test_an_owners_older_generation_is_still_stale_for_that_owner(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    env.applier().apply(plan("team-a", 5, rs("a1", "192.0.2.1")))
    env.applier().apply(plan("team-b", 9, rs("b1", "192.0.2.2")))
    with pytest.raises(Exception, match="generation 5 is live") as exc:
        env.applier().apply(plan("team-a", 4, rs("a1", "192.0.2.9")))
    assert exc.value.exit_code == 4  # type: ignore[attr-defined]


def test_two_owners_applying_at_once_neither_blocks_nor_touches_the_other(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    env.applier().apply(plan("team-a", 1, rs("a1", "192.0.2.1"), rs("a2", "192.0.2.1")))
    env.applier().apply(plan("team-b", 1, rs("b1", "192.0.2.2"), rs("b2", "192.0.2.2")))
    pause = Pause("batch.before")
    new_a = plan("team-a", 2, rs("a1", "198.51.100.1"), rs("a2", "198.51.100.2"))
    a = Actor(lambda: env.applier("enactor-a", pause).apply(new_a))
    assert pause.reached.wait(10)  # team-a holds its lease and is about to write
    new_b = plan("team-b", 2, rs("b1", "203.0.113.1"), rs("b2", "203.0.113.2"))
    assert env.applier("enactor-b").apply(new_b).outcome == "applied"  # no wait for team-a's lease
    pause.release.set()
    a.join()
    assert a.error is None and a.result.outcome == "applied", a.error
    sets = env.sets()
    for r in (*new_a.records, *new_b.records):
        assert sets[r.key] == r


def test_a_plan_taking_another_owners_name_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    env.applier().apply(plan("team-a", 1, rs("api", "192.0.2.1")))
    before = env.model.snapshot(env.zone_id)
    with pytest.raises(GuardRefused, match="owned by 'team-a'") as exc:
        env.applier().apply(plan("team-b", 1, rs("api", "192.0.2.66")))
    assert exc.value.exit_code == 3
    assert env.model.snapshot(env.zone_id) == before
    preview = env.applier().preview(plan("team-b", 1, rs("b1", "192.0.2.2")))
    assert preview.to_dict()["other_owners"] == {f"api.{Z}": "team-a"}


def test_two_concurrent_adoptions_of_one_name_exactly_one_wins(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    env.applier().apply(plan("legacy", 1, rs("api", "192.0.2.1")))
    pause = Pause("batch.before")
    b = Actor(lambda: env.applier("enactor-b", pause).apply(plan("team-b", 1, rs("api", "192.0.2.2")), adopt=True))
    assert pause.reached.wait(10)  # team-b decided to adopt api from 'legacy'
    assert env.applier("enactor-a").apply(plan("team-a", 1, rs("api", "192.0.2.3")), adopt=True).outcome == "applied"
    pause.release.set()
    b.join()
    # team-b's batch DELETEd legacy's marker as it read it: rejected; decided again, the name is
    # team-a's now, which team-b's adoption never saw: refused, nothing of team-b written.
    assert isinstance(b.error, GuardRefused) and "'team-a' owns it now" in str(b.error), b.error
    sets = env.sets()
    assert sets[rs("api").key].values == ("192.0.2.3",)
    assert env.fence_of("team-b") is None


def _legacy(gen: int, owner: str) -> RecordSet:
    """A fence as the first version wrote it: one name for every owner."""
    text = f'"v=dnssg1 gen={gen} sum=- owner={owner} by=old seq=4 state=done"'
    return RecordSet(fence_name(Z), "TXT", 60, (text,))


def test_an_owners_first_version_fence_moves_to_its_own_name_on_its_next_apply(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    from safeguards.records import Change

    env.model.change_record_sets(env.zone_id, [Change("CREATE", _legacy(5, "team-a"))])
    with pytest.raises(Exception, match="generation 5 is live"):
        env.applier().apply(plan("team-a", 3, rs("a1", "192.0.2.1")))  # its old fence still fences it
    env.applier().apply(plan("team-a", 6, rs("a1", "192.0.2.1")))
    sets = env.sets()
    assert (fence_name(Z), "TXT", None) not in sets  # moved, in the same batch as the write
    f = env.fence_of("team-a")
    assert f is not None and f.generation == 6


def test_a_first_version_fence_at_the_default_name_is_carried_over_by_the_default_owner(tmp_path: Path) -> None:
    env = SharedEnv(tmp_path)
    from safeguards.records import Change

    env.model.change_record_sets(env.zone_id, [Change("CREATE", _legacy(5, "team-a"))])
    env.applier().apply(plan(DEFAULT_OWNER, 1, rs("d1", "192.0.2.7")))
    moved = env.fence_of("team-a")
    assert moved is not None and (moved.generation, moved.seq, moved.writer) == (5, 4, "old")
    mine = env.fence_of(DEFAULT_OWNER)
    assert mine is not None and mine.owner == DEFAULT_OWNER and mine.generation == 1
    with pytest.raises(Exception, match="generation 5 is live"):  # team-a's fence kept fencing
        env.applier().apply(plan("team-a", 4, rs("a1", "192.0.2.1")))


def test_the_three_commands_of_the_issue_on_the_cli(tmp_path: Path) -> None:
    """zone shared.test: team-a g5, team-b g1, team-a g6 all apply; status shows both owners."""

    def run(*args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "safeguards", "--state", str(tmp_path / "st"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == check, proc.stderr + proc.stdout
        return proc

    def write(owner: str, gen: int, name: str, ip: str) -> str:
        path = tmp_path / f"{owner}-{gen}.json"
        doc = {"zone": "shared.test", "generation": gen, "owner": owner, "records": [
            {"name": name, "type": "A", "ttl": 60, "values": [ip]}]}  # fmt: skip
        path.write_text(json.dumps(doc))
        return str(path)

    run("apply", write("team-a", 5, "a1", "192.0.2.1"), "--create-zone")
    run("apply", write("team-b", 1, "b1", "192.0.2.2"))
    run("apply", write("team-a", 6, "a1", "192.0.2.3"))
    st = json.loads(run("status", "-z", "shared.test", "--json").stdout)
    assert st["owners"]["team-a"]["generation"] == 6 and st["owners"]["team-b"]["generation"] == 1
