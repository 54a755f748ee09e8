"""The fence protocol: encoding, parsing (strict, carried over from the first format), the zone
view a decision rests on, and the compare-and-set batch."""

from __future__ import annotations

import pytest

from safeguards.errors import InvalidInput
from safeguards.fence import (
    Fence,
    ZoneView,
    cas_batch,
    check_token,
    fence_record_name,
    fence_reserve,
    marker,
    marker_owners,
    parse_fence,
)
from safeguards.records import Change, RecordSet, fence_name

Z = "example.com."


def test_render_and_parse_round_trip_every_field() -> None:
    for f in (
        Fence(1, "a" * 64, "team", "host:1", 1, False),
        Fence(10, "b" * 64, "team", "e", 7, True, rev=2, source=9),
        Fence(5, "-", "team", "e", 3, True, rev=1, source=0),  # restored to a zone with no plan before
        Fence(2**63 - 1, "c" * 64, "o" * 63, "e" * 64, 2**63 - 1, True, rev=2**63 - 1, source=2**63 - 2),
    ):
        rrset = f.render(Z)
        assert rrset.name == fence_record_name(Z, f.owner) and rrset.type == "TXT"
        assert parse_fence(rrset) == f
        assert all(len(s) <= 255 for s in rrset.values[0].split('"') if s.strip())


def test_rank_content_and_labels() -> None:
    assert Fence(10, "-", "o", "e", 1, True).rank == (10, 0)
    rolled = Fence(10, "-", "o", "e", 1, True, rev=1, source=9)
    assert rolled.rank == (10, 1) and rolled.content == 9 and rolled.label() == "g10.r1 (content of g9)"
    assert Fence(3, "-", "o", "e", 1, True).label() == "g3"


def test_the_first_format_is_read_and_never_written() -> None:
    legacy = RecordSet(
        fence_name(Z), "TXT", 60, ('"v=dnssg1 gen=7 sum=' + "a" * 64 + ' owner=o by=e seq=3 state=done"',)
    )
    f = parse_fence(legacy)
    assert f == Fence(7, "a" * 64, "o", "e", 3, True)
    assert "v=dnssg2" in f.successor("e", done=True).render(Z).values[0]


@pytest.mark.parametrize(
    "text",
    [
        '"v=dnssg2 gen=1 rev=0 src=1 seq=1 state=done" "sum=- owner=o by=e gen=9"',  # duplicate key
        '"v=dnssg2 gen=1 rev=0 src=1 seq=1 state=done" "sum=- owner=o by=e x=1"',  # unknown key
        '"v=dnssg2 gen=-1 rev=0 src=1 seq=1 state=done" "sum=- owner=o by=e"',  # not a number
        '"v=dnssg2 gen=1 rev=0 src=1 seq=1 state=done" "sum=zz owner=o by=e"',  # not a checksum
        '"v=dnssg2 gen=1 rev=0 src=1 seq=1 state=done" "sum=- owner=o by=e\\"x"',  # not a token
        '"v=dnssg3 gen=1 rev=0 src=1 seq=1 state=done" "sum=- owner=o by=e"',  # a future version
        '"gen=99"',
    ],
)
def test_a_fence_that_is_not_exactly_ours_is_never_trusted(text: str) -> None:
    assert parse_fence(RecordSet(fence_name(Z), "TXT", 60, (text,))) is None


def test_tokens() -> None:
    assert check_token("owner", "team-a.prod_1") == "team-a.prod_1"
    assert check_token("enactor id", "host.example:1234") == "host.example:1234"
    for bad in ("", " a", "a b", "a=b", 'a"b', "-a", "x" * 65, "é"):
        with pytest.raises(InvalidInput):
            check_token("enactor id", bad)


def test_zone_view_governs_names_never_the_fence_markers_or_apex_ns_soa() -> None:
    a = RecordSet(f"a.{Z}", "A", 60, ("192.0.2.1",))
    apex = RecordSet(Z, "A", 60, ("192.0.2.9",))
    ns = RecordSet(Z, "NS", 172800, ("ns1.example.net.",))
    soa = RecordSet(Z, "SOA", 900, ("ns1.example.net. h.example.net. 1 7200 900 1209600 86400",))
    fence = Fence(1, "-", "team", "e", 1, True).render(Z)
    view = ZoneView.of(Z, [a, apex, ns, soa, fence, marker(f"a.{Z}", "team")], owner="team")
    assert view.fence == Fence(1, "-", "team", "e", 1, True) and view.fence_rrset == fence
    assert view.owners == {f"a.{Z}": "team"} and view.owned_by("team") == {f"a.{Z}"}
    assert set(view.governed([Z, f"a.{Z}"])) == {a.key, apex.key}
    assert set(view.records()) == {a, apex}
    assert marker_owners(view.sets) == view.owners
    empty = ZoneView.empty(Z)
    assert empty.fence is None and empty.records() == ()


def test_the_compare_and_set_batch_deletes_exactly_what_the_decision_read() -> None:
    old = Fence(1, "-", "o", "e", 4, True).render(Z)
    new = Fence(2, "-", "o", "e", 5, False).render(Z)
    change = Change("CREATE", RecordSet(f"a.{Z}", "A", 60, ("192.0.2.1",)))
    assert cas_batch(old, new, [change]) == [Change("DELETE", old), Change("CREATE", new), change]
    assert cas_batch(None, new, []) == [Change("CREATE", new)]  # CREATE fails if any fence exists
    assert fence_reserve(old) == 2 and fence_reserve(None) == 2


def test_each_owner_has_its_own_fence_and_the_default_keeps_the_first_name() -> None:
    assert fence_record_name(Z) == fence_name(Z) == f"_dnssg-fence.{Z}"
    assert fence_record_name(Z, "team-a") == f"_dnssg-fence-team-a.{Z}"
    a = Fence(5, "-", "team-a", "e", 1, True)
    b = Fence(1, "-", "team-b", "e", 1, True)
    default = Fence(3, "-", "dns-safeguards", "e", 1, True)
    sets = [a.render(Z), b.render(Z), default.render(Z)]
    assert ZoneView.of(Z, sets, "team-a").fence == a and ZoneView.of(Z, sets, "team-b").fence == b
    assert ZoneView.of(Z, sets).fence == default
    assert ZoneView.of(Z, sets).fences == {"team-a": a, "team-b": b, "dns-safeguards": default}


def test_a_first_version_fence_of_another_owner_is_moved_by_the_next_write_never_lost() -> None:
    # Before shared zones, team-a's fence lived at the one name every owner shared.
    legacy = RecordSet(fence_name(Z), "TXT", 60, ('"v=dnssg1 gen=5 sum=- owner=team-a by=e seq=2 state=done"',))
    assert ZoneView.of(Z, [legacy], "team-a").fence_rrset == legacy  # team-a still finds it
    mine = ZoneView.of(Z, [legacy])  # the default owner: no fence of its own, another's at its name
    assert mine.fence is None and mine.displaced == legacy
    successor = Fence(1, "-", "dns-safeguards", "e", 1, True).render(Z)
    batch = cas_batch(None, successor, [], mine.displaced)
    moved = Fence(5, "-", "team-a", "e", 2, True).render(Z)
    assert batch == [Change("DELETE", legacy), Change("CREATE", moved), Change("CREATE", successor)]
