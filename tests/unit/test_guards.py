"""Each guard refuses what it must and names the name and the numbers; only blast radius
yields to force."""

from __future__ import annotations

import pytest

from safeguards.diff import compute_diff
from safeguards.errors import GuardRefused
from safeguards.fence import Fence, find_fence, marker, marker_owners, parse_fence
from safeguards.guards import (
    GuardOptions,
    check_all,
    check_blast_radius,
    check_capacity,
    check_checksum,
    check_never_empty,
    check_ownership,
)
from safeguards.plan import Plan
from safeguards.records import RecordSet

Z = "example.com."


def rs(name: str, *values: str, rtype: str = "A", ttl: int = 60) -> RecordSet:
    return RecordSet(f"{name}.{Z}" if name != "@" else Z, rtype, ttl, tuple(sorted(values)))


def plan(*records: RecordSet, gen: int = 2, **kw) -> Plan:
    return Plan(Z, gen, tuple(sorted(records)), **kw)


def test_never_empty_refuses_a_set_below_its_minimum() -> None:
    old = rs("api", "192.0.2.1", "192.0.2.2", "192.0.2.3")
    new = rs("api", "192.0.2.1")
    p = plan(new, min_values={new.key: 2})
    diff = compute_diff(p.records, {old.key: old})
    problems = check_never_empty(p, {old.key: old}, diff)
    assert problems == ["api.example.com. A: would have 1 value(s), fewer than its minimum 2"]


def test_never_empty_refuses_a_name_left_without_records_unless_retired() -> None:
    a, aaaa = rs("api", "192.0.2.1"), rs("api", "2001:db8::1", rtype="AAAA")
    observed = {a.key: a, aaaa.key: aaaa}
    # A plan that governs the name but keeps no set there (only reachable by retiring).
    p = plan(gen=2, retire=())
    diff = compute_diff([], observed, retire=["api.example.com."])
    assert check_never_empty(p, observed, diff) == [
        "api.example.com.: would be left with no records (list it under 'retire' to remove it)"
    ]
    retired = plan(retire=("api.example.com.",))
    assert check_never_empty(retired, observed, diff) == []


def test_capacity_refuses_dropping_more_than_the_fraction_at_once() -> None:
    old = rs("api", *(f"192.0.2.{i}" for i in range(1, 5)))
    new = rs("api", "192.0.2.1")
    diff = compute_diff([new], {old.key: old})
    assert check_capacity(diff, GuardOptions()) == [
        "api.example.com. A: would drop 3 of 4 live values at once (max 50%); shrink it in steps"
    ]
    assert check_capacity(diff, GuardOptions(max_drop_fraction=0.8)) == []
    # Replacing values one for one keeps capacity: allowed.
    swap = rs("api", *(f"192.0.2.{i}" for i in range(11, 15)))
    assert check_capacity(compute_diff([swap], {old.key: old}), GuardOptions()) == []


def test_blast_radius_has_a_fraction_and_an_absolute_floor() -> None:
    observed = {r.key: r for r in (rs(f"n{i}", "192.0.2.1") for i in range(10))}
    sets = list(observed.values())

    def moving(n: int, among: list[RecordSet]) -> list[RecordSet]:
        return [r.with_values(["192.0.2.9"]) for r in among[:n]] + among[n:]

    problems = check_blast_radius(10, compute_diff(moving(4, sets), observed), GuardOptions())
    assert len(problems) == 1 and "4 of 10 managed record sets" in problems[0] and "3 allowed" in problems[0]
    assert check_blast_radius(10, compute_diff(moving(3, sets), observed), GuardOptions()) == []
    # Deletions count too.
    assert check_blast_radius(10, compute_diff(sets[:6], observed), GuardOptions())
    # Small zone: 30% of 3 is 0, the floor still lets 2 sets move, not 3.
    small = dict(list(observed.items())[:3])
    assert check_blast_radius(3, compute_diff(moving(2, sets[:3]), small), GuardOptions()) == []
    assert check_blast_radius(3, compute_diff(moving(3, sets[:3]), small), GuardOptions())


def test_ownership_needs_our_marker_or_adopt() -> None:
    a = rs("api", "192.0.2.1")
    p = plan(rs("api", "192.0.2.2"))
    assert check_ownership(p, {a.key: a}, {}, adopt=False) == [
        "api.example.com.: has records not managed by dns-safeguards (use --adopt to take it over)"
    ]
    assert check_ownership(p, {a.key: a}, {}, adopt=True) == []
    assert check_ownership(p, {a.key: a}, {"api.example.com.": "dns-safeguards"}, adopt=False) == []
    assert "owned by 'other'" in check_ownership(p, {a.key: a}, {"api.example.com.": "other"}, adopt=False)[0]


def test_checksum_guard() -> None:
    p = plan(rs("api", "192.0.2.1"))
    assert check_checksum(p) == []
    bad = Plan(p.zone, p.generation, p.records, declared_checksum="0" * 64)
    assert "checksum mismatch" in check_checksum(bad)[0]


def test_force_overrides_blast_radius_but_never_never_empty() -> None:
    observed = {r.key: r for r in (rs(f"n{i}", "192.0.2.1", "192.0.2.2") for i in range(4))}
    owners = {k[0]: "dns-safeguards" for k in observed}
    moved = [r.with_values(["192.0.2.7", "192.0.2.8"]) for r in observed.values()]
    p = plan(*moved)
    diff = compute_diff(p.records, observed)
    with pytest.raises(GuardRefused) as exc:
        check_all(p, observed, owners, diff, GuardOptions())
    assert exc.value.guard == "blast-radius" and exc.value.exit_code == 3
    check_all(p, observed, owners, diff, GuardOptions(), force=True)

    shrunk = [r.with_values(["192.0.2.7"]) for r in observed.values()]
    p2 = plan(*shrunk, min_values={r.key: 2 for r in shrunk})
    diff2 = compute_diff(p2.records, observed)
    with pytest.raises(GuardRefused) as exc2:
        check_all(p2, observed, owners, diff2, GuardOptions(), force=True)
    assert exc2.value.guard == "never-empty"
    assert len(exc2.value.problems) == 4  # every name named, not just the first


def test_fence_round_trip_and_foreign_values_are_not_trusted() -> None:
    f = Fence(7, "ab" * 32, "team", "enactor-a", 3, True)
    rrset = f.render(Z)
    assert rrset.name == "_dnssg-fence-team.example.com." and rrset.type == "TXT"  # each owner its own
    assert parse_fence(rrset) == f
    assert find_fence([rs("api", "192.0.2.1"), rrset], Z, "team") == rrset
    assert parse_fence(RecordSet(rrset.name, "TXT", 60, ('"gen=99"',))) is None
    assert parse_fence(None) is None
    m = marker("api.example.com.", "team")
    assert marker_owners([m]) == {"api.example.com.": "team"}


# --------------------------------------------------------------------------- guards as data


def test_routing_aware_guards_refuse_a_failover_without_primary_and_a_dangling_alias() -> None:
    import dataclasses

    from safeguards.guards import DEFAULT_GUARDS, GuardContext, judge
    from safeguards.records import alias_value

    primary = dataclasses.replace(rs("app", "192.0.2.1"), set_identifier="a", failover="PRIMARY")
    secondary = dataclasses.replace(rs("app", "192.0.2.2"), set_identifier="b", failover="SECONDARY")
    observed = {primary.key: primary, secondary.key: secondary}
    only_secondary = plan(secondary)
    diff = compute_diff(only_secondary.records, observed, ())
    verdict = judge(GuardContext(only_secondary, observed, {}, diff, GuardOptions(max_change_fraction=1.0)))
    failover = next(f for f in verdict.findings if f.guard == "failover")
    assert failover.problems == ("app.example.com. A: failover sets would be left without a PRIMARY (only SECONDARY)",)
    assert verdict.refusal() is not None and verdict.refusal(force=True) is not None  # not forceable

    target = rs("lb", "192.0.2.9")
    alias = RecordSet("www.example.com.", "A", 0, (alias_value("Z1EXAMPLE", "lb.example.com.", False),))
    observed = {target.key: target, alias.key: alias}
    drops_target = plan(alias, retire=("lb.example.com.",))
    diff = compute_diff(drops_target.records, observed, drops_target.retire)
    owners = {"www.example.com.": drops_target.owner, "lb.example.com.": drops_target.owner}
    verdict = judge(GuardContext(drops_target, observed, owners, diff, GuardOptions(max_change_fraction=1.0)))
    assert [f.guard for f in verdict.findings if f.problems] == ["alias-target"]
    assert [g.name for g in DEFAULT_GUARDS][-4:] == ["failover", "alias-target", "weights", "geo-default"]


def test_routing_aware_guards_refuse_all_weights_at_zero_and_a_lost_geo_default() -> None:
    import dataclasses

    from safeguards.guards import GuardContext, judge

    blue = dataclasses.replace(rs("app", "192.0.2.1"), set_identifier="blue", weight=70)
    green = dataclasses.replace(rs("app", "192.0.2.2"), set_identifier="green", weight=30)
    observed = {blue.key: blue, green.key: green}
    zeroed = plan(dataclasses.replace(blue, weight=0), dataclasses.replace(green, weight=0))
    diff = compute_diff(zeroed.records, observed, ())
    owners = {"app.example.com.": zeroed.owner, "geo.example.com.": zeroed.owner}
    verdict = judge(GuardContext(zeroed, observed, owners, diff, GuardOptions(max_change_fraction=1.0)))
    assert [f.guard for f in verdict.findings if f.problems] == ["weights"]
    assert "all 2 weighted sets would be at weight 0" in verdict.findings[-2].problems[0]

    de = dataclasses.replace(rs("geo", "192.0.2.3"), set_identifier="de", geo=(("CountryCode", "DE"),))
    default = dataclasses.replace(rs("geo", "192.0.2.4"), set_identifier="rest", geo=(("CountryCode", "*"),))
    observed = {de.key: de, default.key: default}
    only_de = plan(de)
    diff = compute_diff(only_de.records, observed, ())
    verdict = judge(GuardContext(only_de, observed, owners, diff, GuardOptions(max_change_fraction=1.0)))
    assert [f.guard for f in verdict.findings if f.problems] == ["geo-default"]


def test_a_guard_of_your_own_is_one_class(tmp_path) -> None:
    from safeguards.applier import Applier, ApplyOptions
    from safeguards.backends.strict import StrictRoute53
    from safeguards.clock import VirtualClock
    from safeguards.stores.sqlite import SqlitePlanStore

    class NoTestNet:
        name, forceable = "no-test-net", False

        def check(self, ctx):
            return [f"{r.name}: 198.51.100.0/24 is a test network" for r in ctx.plan.records
                    if any(v.startswith("198.51.100.") for v in r.values)]  # fmt: skip

    clock = VirtualClock()
    model = StrictRoute53(clock=clock)
    model.resolve_zone(Z, create=True)
    applier = Applier(model, SqlitePlanStore(tmp_path / "p.sqlite", clock=clock), clock=clock,
                      options=ApplyOptions(extra_guards=(NoTestNet(),)))  # fmt: skip
    preview = applier.preview(plan(rs("api", "198.51.100.7"), gen=1))
    assert preview.to_dict()["guards"]["no-test-net"]["problems"] == [
        "api.example.com.: 198.51.100.0/24 is a test network"
    ]
    with pytest.raises(GuardRefused, match="no-test-net"):
        applier.apply(plan(rs("api", "198.51.100.7"), gen=1))
