"""Reads at scale (issue 14, item 6): an apply over a finished generation of ours reads only its
fence, the names the plan adds and the names it keeps unchanged, and reads back only the names it
changed (with their markers).

What each write rests on, and what these tests pin:
- the fence, read now, DELETEd exactly in the first batch (compare-and-set), as before;
- the names the live plan holds: that plan's content (the store's copy, verified against the
  fence's checksum), DELETEd exactly in the batch, so content changed since fails the batch and the
  apply decides again on a whole read;
- the names the plan adds: a read of those names and their markers (the ownership guard decides
  on it), as before;
- the names the plan keeps unchanged: read, so drift there is seen and converged;
- the markers of the names it writes: read back with them; a name whose marker no longer names
  us (taken by another owner, released by a person) fails verification and is put back.

Explicit checkpoints (a `Pause`), never sleeps.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from test_recovery import Actor, Env, Pause  # same directory: pytest puts it on sys.path

from safeguards.errors import GuardRefused, VerificationFailed
from safeguards.fence import marker
from safeguards.plan import Plan
from safeguards.records import Change, RecordSet, owner_name

Z = "example.com."
OWNER = "dns-safeguards"


def rs(name: str, *values: str) -> RecordSet:
    return RecordSet(f"{name}.{Z}", "A", 60, tuple(sorted(values)))


def many(gen: int, n: int, changed: int | None = None) -> tuple[RecordSet, ...]:
    """`n` names; the first `changed` (all by default) carry generation `gen`'s value."""
    changed = n if changed is None else changed
    return tuple(rs(f"n{i:04d}", f"10.{gen if i < changed else 1}.{i // 250}.{i % 250}") for i in range(n))


def plan(gen: int, records: tuple[RecordSet, ...], **kw: Any) -> Plan:
    return Plan(Z, gen, tuple(sorted(records)), **kw)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "event", "") for r in caplog.records]


def edit(env: Env, *changes: Change) -> None:
    """Someone outside the library (a person, another tool) writes the zone."""
    env.model.change_record_sets(env.zone_id, list(changes))


def test_an_update_reads_only_its_fence_and_reads_back_only_what_changed(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.applier().apply(plan(1, many(1, 1000)))
    whole = -(-len(env.model.list_record_sets(env.zone_id)) // 300)  # pages of one whole read
    env.model.calls.clear()
    result = env.applier().apply(plan(2, many(2, 1000)))
    pages = env.model.calls["ListResourceRecordSets"]
    assert result.outcome == "applied" and not env.holds(many(2, 1000))
    # The fence (1 page) before writing, then the 1,000 changed names with their markers: one
    # whole read's worth, where reading the zone before and after took two.
    assert pages == 1 + whole, (pages, whole)


def test_a_small_change_reads_the_names_it_keeps_once_and_reads_back_only_what_changed(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.applier().apply(plan(1, many(1, 1000)))
    whole = -(-len(env.model.list_record_sets(env.zone_id)) // 300)
    env.model.calls.clear()
    result = env.applier().apply(plan(2, many(2, 1000, changed=10)))
    pages = env.model.calls["ListResourceRecordSets"]
    assert result.outcome == "applied" and not env.holds(many(2, 1000, changed=10))
    # The fence, the 990 names kept (drift there must be seen), then the 10 changed names: not
    # the two whole reads of before.
    assert pages <= whole + 2 < 2 * whole, (pages, whole)


def test_drift_at_a_name_the_plan_keeps_is_converged(tmp_path: Path) -> None:
    """A person empties a name the next plan does not change: the apply reads it and puts the
    plan's content back (no write of that name would have noticed)."""
    env = Env(tmp_path)
    env.applier().apply(plan(1, (rs("api", "192.0.2.1"), rs("www", "192.0.2.2", "192.0.2.3"))))
    edit(env, Change("DELETE", rs("www", "192.0.2.2", "192.0.2.3")), Change("CREATE", rs("www", "192.0.2.2")))
    new = (rs("api", "192.0.2.11"), rs("www", "192.0.2.2", "192.0.2.3"))
    result = env.applier().apply(plan(2, new))
    assert result.outcome == "applied"
    assert not env.holds(new)


def test_a_new_name_is_read_with_its_marker_and_the_ownership_guard_still_refuses(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.applier().apply(plan(1, (rs("api", "192.0.2.1"),)))
    edit(env, Change("CREATE", rs("www", "198.51.100.7")))  # a person's name: no marker of ours
    before = env.model.snapshot(env.zone_id)
    with pytest.raises(GuardRefused, match="not managed by dns-safeguards"):
        env.applier().apply(plan(2, (rs("api", "192.0.2.2"), rs("www", "192.0.2.9"))))
    assert env.model.snapshot(env.zone_id) == before


def test_content_changed_since_our_last_write_fails_the_batch_and_the_apply_decides_on_a_whole_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="safeguards")
    env = Env(tmp_path)
    env.applier().apply(plan(1, (rs("api", "192.0.2.1"), rs("www", "192.0.2.2"))))
    edit(env, Change("DELETE", rs("www", "192.0.2.2")), Change("CREATE", rs("www", "192.0.2.66")))
    new = (rs("api", "192.0.2.11"), rs("www", "192.0.2.12"))
    assert env.applier().apply(plan(2, new)).outcome == "applied"
    assert not env.holds(new)
    assert "batch.rejected" in logged(caplog)  # the DELETE of www as our last write left it did not match


def test_a_name_edited_between_our_read_and_our_write_fails_the_batch(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.applier().apply(plan(1, (rs("api", "192.0.2.1"), rs("www", "192.0.2.2"))))
    pause = Pause("batch.before")
    new = (rs("api", "192.0.2.11"), rs("www", "192.0.2.12"))
    a = Actor(lambda: env.applier("enactor-a", pause).apply(plan(2, new)))
    assert pause.reached.wait(10)  # decided on the fence and generation 1's content
    edit(env, Change("DELETE", rs("www", "192.0.2.2")), Change("CREATE", rs("www", "192.0.2.66")))
    pause.release.set()
    a.join()
    # Rejected, decided again on a whole read: www is ours (marker), so the plan's content wins,
    # exactly as an apply that read the person's edit would have decided.
    assert a.error is None and a.result.outcome == "applied", a.error
    assert not env.holds(new)


@pytest.mark.parametrize("when", ["before our apply", "between our read and our write"])
def test_a_marker_a_person_deleted_fails_verification_and_the_name_is_put_back(tmp_path: Path, when: str) -> None:
    env = Env(tmp_path)
    old = (rs("api", "192.0.2.1"), rs("www", "192.0.2.2"))
    env.applier().apply(plan(1, old))
    release = Change("DELETE", marker(f"www.{Z}", OWNER))
    pause = Pause("batch.before")
    new = plan(2, (rs("api", "192.0.2.11"), rs("www", "192.0.2.12")))
    a = Actor(lambda: env.applier("enactor-a", pause).apply(new))
    if when == "before our apply":
        edit(env, release)
    assert pause.reached.wait(10)
    if when != "before our apply":
        edit(env, release)  # the first version never noticed this one at all
    pause.release.set()
    a.join()
    assert isinstance(a.error, VerificationFailed), a.error
    assert "www.example.com. is marked as nobody's" in str(a.error)
    assert not env.holds(old)  # every name as it was, the person's www included
    assert (owner_name(f"www.{Z}"), "TXT", None) not in env.sets()  # and still not ours
    # The next apply decides on a whole read (a restore is live): the guard refuses www.
    with pytest.raises(GuardRefused, match=r"www\.example\.com\.: has records not managed"):
        env.applier().apply(plan(3, (rs("api", "192.0.2.21"), rs("www", "192.0.2.22"))))


def test_another_owner_adopting_our_name_with_its_content_is_caught_and_put_back(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.applier().apply(plan(1, (rs("api", "192.0.2.1"), rs("www", "192.0.2.2"))))
    pause = Pause("batch.before")
    new = plan(2, (rs("api", "192.0.2.11"), rs("www", "192.0.2.12")))
    a = Actor(lambda: env.applier("enactor-a", pause).apply(new))
    assert pause.reached.wait(10)
    taken = Plan(Z, 1, (rs("www", "192.0.2.2"),), owner="team-b")  # same content: only the marker moves
    assert env.applier("enactor-b").apply(taken, adopt=True).outcome == "applied"
    pause.release.set()
    a.join()
    assert isinstance(a.error, VerificationFailed) and "marked as team-b's" in str(a.error), a.error
    assert env.sets()[rs("www").key] == rs("www", "192.0.2.2")  # team-b's name, as team-b left it
    assert env.sets()[(owner_name(f"www.{Z}"), "TXT", None)] == marker(f"www.{Z}", "team-b")


def test_a_stale_fence_read_decides_on_an_older_plan_and_its_batch_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="safeguards")
    env = Env(tmp_path)
    env.applier().apply(plan(1, (rs("api", "192.0.2.1"),)))
    env.applier().apply(plan(2, (rs("api", "192.0.2.2"),)))
    env.model.faults.stale_read(1)  # the fence read shows generation 1, done: a replica behind
    new = (rs("api", "192.0.2.3"),)
    assert env.applier().apply(plan(3, new)).outcome == "applied"
    assert not env.holds(new)
    assert "batch.rejected" in logged(caplog)  # the fence as read was not live: Route 53 said no


def test_a_lagging_read_back_is_read_again_not_taken_for_a_failed_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="safeguards")
    env = Env(tmp_path)
    env.applier().apply(plan(1, many(1, 50)))

    def lag(name: str, **_: Any) -> None:
        if name == "batch.after":
            env.model.faults.stale_read(1)  # the read-back's first page shows the zone before our batch

    new = many(2, 50)
    assert env.applier(checkpoint=lag).apply(plan(2, new)).outcome == "applied"
    assert not env.holds(new) and "read.lagging" in logged(caplog)
