"""Route 53 behaviours the safety relies on, run against every backend through `Route53Backend`.

Each test is one rule of ChangeResourceRecordSets / GetChange / ListResourceRecordSets from the
Route 53 API reference (see ../../../shared/route53-semantics.md). Rejections are asserted by
exception type (`BatchRejected`: nothing applied) and by reading the zone back, never by message
text. Backends that break a rule are listed in gaps.py and run as strict xfails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from safeguards.errors import BatchRejected
from safeguards.records import Change, ChangeInfo, RecordKey, RecordSet, fqdn

if TYPE_CHECKING:
    from conftest import Target

# ---------------------------------------------------------------------------------- helpers


def rrset(
    t: Target,
    label: str,
    rtype: str = "A",
    values: Iterable[str] = ("192.0.2.1",),
    ttl: int = 300,
    set_id: str | None = None,
    weight: int | None = None,
) -> RecordSet:
    """A set at `label` ("@" = apex) of the target's zone; values kept in the order given."""
    name = t.zone if label == "@" else fqdn(f"{label}.{t.zone}")
    return RecordSet(name, rtype, ttl, tuple(values), set_id, weight)


def create(r: RecordSet) -> Change:
    return Change("CREATE", r)


def delete(r: RecordSet) -> Change:
    return Change("DELETE", r)


def upsert(r: RecordSet) -> Change:
    return Change("UPSERT", r)


def submit(t: Target, *changes: Change, backend: Any = None) -> ChangeInfo:
    """Submit one batch of `changes` to the target's zone (through `backend`, default the main one)."""
    return (backend or t.backend).change_record_sets(t.zone_id, list(changes))


def zone_sets(t: Target, backend: Any = None) -> list[RecordSet]:
    """Every set of the target's zone, sorted (the Protocol does not promise an order)."""
    return sorted((backend or t.backend).list_record_sets(t.zone_id))


def sets_at(t: Target, name: str, rtype: str) -> list[RecordSet]:
    """Sets of the zone with that name and type (several if weighted, or if a backend duplicated one)."""
    return [r for r in zone_sets(t) if r.name == name and r.type == rtype]


def assert_rejected_and_unchanged(t: Target, *changes: Change) -> None:
    """The batch raises `BatchRejected` and the zone reads back exactly as before."""
    before = zone_sets(t)
    with pytest.raises(BatchRejected):
        submit(t, *changes)
    assert zone_sets(t) == before


def apex(t: Target, rtype: str) -> RecordSet:
    """The zone's apex set of `rtype` (SOA or NS), as read back."""
    (found,) = sets_at(t, t.zone, rtype)
    return found


def route53_order(key: RecordKey) -> tuple[Any, ...]:
    """ListResourceRecordSets order: labels reversed, then type, then set identifier.

    Test names use only lower-case letters and digits, for which this tuple order and Route 53's
    character order of the reversed name agree."""
    name, rtype, set_id = key
    return (tuple(reversed(name.rstrip(".").split("."))), rtype, set_id or "")


def many_a_sets(t: Target, n: int, prefix: str = "n") -> list[RecordSet]:
    """`n` distinct single-value A sets (one record each)."""
    return [rrset(t, f"{prefix}{i}", values=(f"10.{i // 250}.{i % 250}.1",)) for i in range(n)]


def submit_in_batches(t: Target, changes: Sequence[Change], size: int = 400) -> None:
    for i in range(0, len(changes), size):
        submit(t, *changes[i : i + size])


# ---------------------------------------------------------------------------------- sharing


def test_peer_sees_writes(target: Target) -> None:
    """A second client (another connection / process) reads what the first wrote, and back."""
    t = target
    assert t.peer.resolve_zone(t.zone) == t.zone_id
    a = rrset(t, "from-main", values=("192.0.2.10",))
    submit(t, create(a))
    assert a in zone_sets(t, t.peer)
    b = rrset(t, "from-peer", values=("192.0.2.11",))
    submit(t, create(b), backend=t.peer)
    assert b in zone_sets(t)


# ---------------------------------------------------------------------------------- batches


@pytest.mark.parametrize("invalid", ["delete-missing", "outside-zone", "create-existing"])
def test_batch_is_all_or_nothing(target: Target, invalid: str) -> None:
    """A valid CREATE followed by an invalid change: the batch is refused and nothing applies.

    The invalid change varies because emulators check some problems before applying anything
    and others only when they reach the change."""
    t = target
    existing = rrset(t, "existing", values=("192.0.2.9",))
    submit(t, create(existing))
    valid = rrset(t, "first", values=("192.0.2.1",))
    bad = {
        "delete-missing": delete(rrset(t, "never-created", values=("192.0.2.2",))),
        "outside-zone": create(RecordSet(fqdn("www.elsewhere.example."), "A", 300, ("192.0.2.3",))),
        "create-existing": create(existing.with_values(["192.0.2.4"])),
    }[invalid]
    assert_rejected_and_unchanged(t, create(valid), bad)
    assert sets_at(t, valid.name, "A") == []


def test_batch_over_1000_records_rejected(target: Target) -> None:
    """1,001 records in one request exceed the limit of 1,000."""
    t = target
    assert_rejected_and_unchanged(t, *(create(r) for r in many_a_sets(t, 1001)))


def test_batch_of_1000_records_accepted(target: Target) -> None:
    """The limit is exactly 1,000 records: a batch of 1,000 applies (the boundary of the test above)."""
    t = target
    wanted = many_a_sets(t, 1000)
    submit(t, *(create(r) for r in wanted))
    assert set(wanted) <= set(zone_sets(t))


def test_501_upserts_rejected(target: Target) -> None:
    """An UPSERT counts twice against the 1,000-record limit: 501 single-record UPSERTs are 1,002."""
    t = target
    assert_rejected_and_unchanged(t, *(upsert(r) for r in many_a_sets(t, 501)))


def test_500_upserts_accepted(target: Target) -> None:
    """500 single-record UPSERTs count 1,000: exactly at the limit, accepted."""
    t = target
    wanted = many_a_sets(t, 500)
    submit(t, *(upsert(r) for r in wanted))
    assert set(wanted) <= set(zone_sets(t))


def _txt_sets(t: Target, total_chars: int) -> list[RecordSet]:
    """TXT sets whose values add up to `total_chars` characters (quotes included), 250 per value."""
    out: list[RecordSet] = []
    i = 0
    while total_chars > 0:
        n = min(250, total_chars)
        out.append(rrset(t, f"t{i}", "TXT", ('"' + "x" * (n - 2) + '"',)))
        total_chars -= n
        i += 1
    return out


def test_over_32000_value_chars_rejected(target: Target) -> None:
    """More than 32,000 characters of record values in one request are refused."""
    t = target
    sets = _txt_sets(t, 33_000)
    assert sum(r.value_chars() for r in sets) == 33_000
    assert_rejected_and_unchanged(t, *(create(r) for r in sets))


def test_under_32000_value_chars_accepted(target: Target) -> None:
    """31,000 characters fit (the control of the test above: the size alone is not refused)."""
    t = target
    sets = _txt_sets(t, 31_000)
    submit(t, *(create(r) for r in sets))
    assert set(sets) <= set(zone_sets(t))


# ---------------------------------------------------------------------------------- DELETE


def establish(t: Target, current: RecordSet, history: str, earlier: RecordSet) -> None:
    """Make `current` the live set. With history "replaced", `earlier` was the live set before
    (created, then replaced by an exact DELETE + CREATE), so a DELETE of `earlier` is a DELETE
    built on a read that was once true; with "fresh", `earlier` never existed."""
    if history == "replaced":
        submit(t, create(earlier))
        submit(t, delete(earlier), create(current))
    else:
        submit(t, create(current))


#: A mismatching DELETE names a set content that never existed ("fresh") or that was the live
#: content before it was replaced ("replaced": the stale read of a real race). A fake that checks
#: DELETEs against its history of writes instead of the current sets passes only the first.
HISTORIES = ["fresh", "replaced"]


@pytest.mark.parametrize("history", HISTORIES)
def test_delete_stale_value_rejected(target: Target, history: str) -> None:
    """DELETE must name the current values: a DELETE built on another read is refused."""
    t = target
    current = rrset(t, "www", values=("192.0.2.1",))
    stale = current.with_values(["192.0.2.99"])
    establish(t, current, history, stale)
    assert_rejected_and_unchanged(t, delete(stale))
    assert sets_at(t, current.name, "A") == [current]


@pytest.mark.parametrize("history", HISTORIES)
def test_delete_different_ttl_rejected(target: Target, history: str) -> None:
    """DELETE must name the current TTL too."""
    t = target
    current = rrset(t, "www", ttl=300)
    stale = RecordSet(current.name, current.type, 60, current.values)
    establish(t, current, history, stale)
    assert_rejected_and_unchanged(t, delete(stale))
    assert sets_at(t, current.name, "A") == [current]


def test_delete_values_in_other_order_accepted(target: Target) -> None:
    """Values are a set: a DELETE listing them in another order than they were created matches."""
    t = target
    created = rrset(t, "multi", values=("192.0.2.3", "192.0.2.1", "192.0.2.2"))
    submit(t, create(created))
    reordered = rrset(t, "multi", values=("192.0.2.1", "192.0.2.2", "192.0.2.3"))
    submit(t, delete(reordered))
    assert sets_at(t, created.name, "A") == []


@pytest.mark.parametrize("history", HISTORIES)
def test_partial_txt_delete_rejected(target: Target, history: str) -> None:
    """DELETE naming some of a TXT set's values is refused; the set keeps all of them."""
    t = target
    txt = rrset(t, "txt", "TXT", ('"alpha"', '"beta"'))
    partial = txt.with_values(['"alpha"'])
    establish(t, txt, history, partial)
    assert_rejected_and_unchanged(t, delete(partial))
    assert sets_at(t, txt.name, "TXT") == [txt]


@pytest.mark.parametrize("history", HISTORIES)
def test_weighted_delete_wrong_weight_rejected(target: Target, history: str) -> None:
    """A weighted DELETE must name the current weight, not just the set identifier and values."""
    t = target
    blue = rrset(t, "api", values=("192.0.2.1",), set_id="blue", weight=10)
    green = rrset(t, "api", values=("192.0.2.2",), set_id="green", weight=20)
    wrong = rrset(t, "api", values=("192.0.2.1",), set_id="blue", weight=30)
    establish(t, blue, history, wrong)
    submit(t, create(green))
    assert_rejected_and_unchanged(t, delete(wrong))
    assert sorted(sets_at(t, blue.name, "A")) == sorted([blue, green])


def test_weighted_delete_removes_only_matching_set_id(target: Target) -> None:
    """An exact weighted DELETE removes that one set: not the name's other set identifiers, nor
    sets with the same identifier at other names."""
    t = target
    blue = rrset(t, "api", values=("192.0.2.1",), set_id="blue", weight=10)
    green = rrset(t, "api", values=("192.0.2.2",), set_id="green", weight=20)
    other_blue = rrset(t, "web", values=("192.0.2.3",), set_id="blue", weight=10)
    submit(t, create(blue), create(green), create(other_blue))
    submit(t, delete(blue))
    assert sets_at(t, blue.name, "A") == [green]
    assert sets_at(t, other_blue.name, "A") == [other_blue]


def test_apex_soa_delete_rejected(target: Target) -> None:
    """The zone's SOA cannot be deleted, even with an exact DELETE."""
    t = target
    assert_rejected_and_unchanged(t, delete(apex(t, "SOA")))


def test_apex_ns_delete_rejected(target: Target) -> None:
    """The zone's apex NS set cannot be deleted, even with an exact DELETE."""
    t = target
    assert_rejected_and_unchanged(t, delete(apex(t, "NS")))


# ---------------------------------------------------------------------------------- CREATE / UPSERT


def test_create_existing_rejected(target: Target) -> None:
    """CREATE of a set that exists is refused: no duplicate, no overwrite."""
    t = target
    first = rrset(t, "www", values=("192.0.2.1",))
    submit(t, create(first))
    assert_rejected_and_unchanged(t, create(first.with_values(["192.0.2.2"])))
    assert sets_at(t, first.name, "A") == [first]


def test_upsert_replaces(target: Target) -> None:
    """UPSERT replaces the set (values and TTL) unconditionally, leaving one set."""
    t = target
    old = rrset(t, "www", values=("192.0.2.1",), ttl=300)
    submit(t, create(old))
    new = rrset(t, "www", values=("192.0.2.2", "192.0.2.3"), ttl=60)
    submit(t, upsert(new))
    assert sets_at(t, old.name, "A") == [new]


def test_delete_and_recreate_earlier_content_in_one_batch(target: Target) -> None:
    """Changes apply in order: DELETE the live set and CREATE content it had before (a rollback)
    in one batch is valid, and leaves exactly the recreated set."""
    t = target
    v1 = rrset(t, "api", values=("192.0.2.1",))
    v2 = v1.with_values(["192.0.2.2"])
    submit(t, create(v1))
    submit(t, delete(v1), create(v2))
    submit(t, delete(v2), create(v1))
    assert sets_at(t, v1.name, "A") == [v1]


# ---------------------------------------------------------------------------------- compare-and-set


def _cas(observed: RecordSet, value: str) -> tuple[Change, Change]:
    """DELETE what was read, CREATE its successor: Route 53's compare-and-set."""
    return delete(observed), create(observed.with_values([value]))


def test_cas_second_writer_on_same_read_rejected(target: Target) -> None:
    """Two writers read the same set; the first DELETE+CREATE applies, the second is refused."""
    t = target
    submit(t, create(rrset(t, "cas", values=("192.0.2.1",))))
    (seen_a,) = sets_at(t, fqdn(f"cas.{t.zone}"), "A")
    (seen_b,) = [r for r in zone_sets(t, t.peer) if r.key == seen_a.key]
    submit(t, *_cas(seen_a, "198.51.100.1"))
    with pytest.raises(BatchRejected):
        submit(t, *_cas(seen_b, "198.51.100.2"), backend=t.peer)
    assert sets_at(t, seen_a.name, "A") == [seen_a.with_values(["198.51.100.1"])]


def test_cas_race_threads_exactly_one_wins(target: Target) -> None:
    """Two threads (main and peer client) race the same compare-and-set: exactly one wins and the
    zone holds the winner's value only."""
    t = target
    submit(t, create(rrset(t, "race", values=("192.0.2.1",))))
    (observed,) = sets_at(t, fqdn(f"race.{t.zone}"), "A")
    writers = [(t.backend, "198.51.100.1"), (t.peer, "198.51.100.2")]
    barrier = threading.Barrier(len(writers))
    outcome: dict[str, str] = {}
    unexpected: list[BaseException] = []

    def write(backend: Any, value: str) -> None:
        batch = _cas(observed, value)
        barrier.wait(timeout=30)
        try:
            t_info = backend.change_record_sets(t.zone_id, list(batch))
            outcome[value] = f"won {t_info.id}"
        except BatchRejected:
            outcome[value] = "lost"
        except BaseException as exc:  # surfaced in the main thread below
            unexpected.append(exc)

    threads = [threading.Thread(target=write, args=w) for w in writers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not unexpected, unexpected
    winners = [value for value, result in outcome.items() if result.startswith("won")]
    assert len(winners) == 1, outcome
    assert sets_at(t, observed.name, "A") == [observed.with_values(winners)]


# ---------------------------------------------------------------------------------- names


def test_cname_beside_other_type_rejected(target: Target) -> None:
    """A CNAME cannot join another type at a name, nor another type join a CNAME."""
    t = target
    a = rrset(t, "dual", values=("192.0.2.1",))
    submit(t, create(a))
    assert_rejected_and_unchanged(t, create(rrset(t, "dual", "CNAME", ("target.example.net.",))))
    alias = rrset(t, "alias", "CNAME", ("target.example.net.",))
    submit(t, create(alias))
    assert_rejected_and_unchanged(t, create(rrset(t, "alias", "TXT", ('"x"',))))


def test_cname_at_apex_rejected(target: Target) -> None:
    """No CNAME at the zone apex (it would sit beside the SOA and NS)."""
    t = target
    assert_rejected_and_unchanged(t, create(rrset(t, "@", "CNAME", ("target.example.net.",))))


def test_name_outside_zone_rejected(target: Target) -> None:
    """A set whose name is not in the zone is refused."""
    t = target
    outside = RecordSet(fqdn("www.elsewhere.example."), "A", 300, ("192.0.2.1",))
    assert_rejected_and_unchanged(t, create(outside))


def test_escaped_wildcard_name_canonical(target: Target) -> None:
    """Route 53 lists `*` as `\\052`; a backend returns it canonical, and a DELETE of what was
    read removes it."""
    t = target
    wild = rrset(t, "*.wild", values=("192.0.2.7",))
    assert wild.name == fqdn(f"\\052.wild.{t.zone}")
    submit(t, create(wild))
    listed = zone_sets(t)
    assert not [r.name for r in listed if "\\" in r.name]
    assert wild in listed
    (read_back,) = [r for r in listed if r.key == wild.key]
    submit(t, delete(read_back))
    assert sets_at(t, wild.name, "A") == []


# ---------------------------------------------------------------------------------- GetChange


def test_get_change_pending_then_insync(target: Target) -> None:
    """A change is PENDING when submitted and INSYNC once propagated (about 60 s on Route 53)."""
    t = target
    info = submit(t, create(rrset(t, "www")))
    assert info.status == "PENDING"
    assert t.backend.get_change(info.id).status == "PENDING"
    t.advance(t.insync_after)
    assert t.backend.get_change(info.id).status == "INSYNC"
    assert t.peer.get_change(info.id).status == "INSYNC"


def test_change_ids_unique(target: Target) -> None:
    """Each batch gets its own change id (GetChange polls one batch, not "the last one")."""
    t = target
    first = submit(t, create(rrset(t, "one")))
    second = submit(t, create(rrset(t, "two")))
    assert first.id != second.id


# ---------------------------------------------------------------------------------- listing


def _listing_sets(t: Target) -> list[RecordSet]:
    """650 sets over 601 names whose Route 53 order differs from plain string order:
    `zNN.a.<zone>` sorts before `bNNN.<zone>` (labels reversed), and three types share `b000`."""
    out = [rrset(t, f"b{i:03d}", values=(f"10.1.{i // 250}.{i % 250}",)) for i in range(550)]
    out += [rrset(t, f"z{i:02d}.a", values=(f"10.2.0.{i}",)) for i in range(98)]
    out += [rrset(t, "b000", "AAAA", ("2001:db8::1",)), rrset(t, "b000", "TXT", ('"order"',))]
    return out


def test_listing_returns_every_set_across_pages(target: Target) -> None:
    """More than 300 sets (several pages) are all listed, once each."""
    t = target
    wanted = _listing_sets(t)
    submit_in_batches(t, [create(r) for r in wanted])
    listed = t.backend.list_record_sets(t.zone_id)
    assert len(listed) == len({r.key for r in listed}), "a set was listed twice"
    assert set(listed) == {*wanted, apex(t, "SOA"), apex(t, "NS")}


def test_listing_order_is_route53_order(target: Target) -> None:
    """The server pages sets in Route 53's order (reversed labels, then type): paging by
    StartRecordName/Type relies on it."""
    t = target
    wanted = _listing_sets(t)
    submit_in_batches(t, [create(r) for r in wanted])
    keys = t.server_order()
    assert len(keys) == len(wanted) + 2  # plus SOA and NS
    assert keys == sorted(keys, key=route53_order)
