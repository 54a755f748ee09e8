"""Properties of the pure diff and batching: applying the diff to the observed zone gives the
desired one, every batch is within Route 53's limits, a name's changes are never split."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.diff import apply_diff, batch_groups, compute_diff
from safeguards.records import MAX_RECORDS_PER_BATCH, MAX_VALUE_CHARS_PER_BATCH, RecordSet

ZONE = "example.com."
names = st.sampled_from([f"n{i}.{ZONE}" for i in range(12)] + [ZONE])
ips = st.integers(1, 250).map(lambda i: f"192.0.2.{i}")


@st.composite
def record_sets(draw: st.DrawFn) -> RecordSet:
    name = draw(names)
    rtype = draw(st.sampled_from(["A", "TXT"]))
    if rtype == "A":
        values = draw(st.lists(ips, min_size=1, max_size=6, unique=True))
    else:
        values = draw(
            st.lists(
                st.text("abcdef", min_size=1, max_size=300).map(lambda t: f'"{t}"'), min_size=1, max_size=3, unique=True
            )
        )
    return RecordSet(name, rtype, draw(st.sampled_from([60, 300])), tuple(sorted(values)))


zones = st.lists(record_sets(), max_size=20, unique_by=lambda r: r.key).map(lambda rs: {r.key: r for r in rs})


@given(observed=zones, desired=zones)
@settings(max_examples=300, deadline=None)
def test_diff_applied_to_observed_gives_desired(observed: dict, desired: dict) -> None:
    diff = compute_diff(list(desired.values()), observed)
    after = apply_diff(observed, diff.groups)
    assert after == desired
    assert not compute_diff(list(desired.values()), after).groups


@given(observed=zones, desired=zones)
@settings(max_examples=200, deadline=None)
def test_only_create_and_delete_never_upsert(observed: dict, desired: dict) -> None:
    diff = compute_diff(list(desired.values()), observed)
    actions = {c.action for g in diff.groups for c in g.changes}
    assert actions <= {"CREATE", "DELETE"}
    for g in diff.groups:
        kinds = [c.action for c in g.changes]
        assert kinds == sorted(kinds, key=lambda a: a != "DELETE"), "DELETEs come first within a name"


@given(
    sizes=st.lists(st.tuples(st.integers(1, 400), st.integers(1, 20)), min_size=1, max_size=60),
    reserve=st.integers(0, 10),
)
@settings(max_examples=300, deadline=None)
def test_batches_within_limits_and_groups_never_split(sizes: list[tuple[int, int]], reserve: int) -> None:
    desired, observed = [], {}
    for i, (n, width) in enumerate(sizes):
        name = f"n{i}.{ZONE}"
        old = RecordSet(name, "TXT", 60, tuple(sorted(f'"{i}-{j}-{"x" * width}"' for j in range(n))))
        new = old.with_values(v[:-1] + 'y"' for v in old.values)
        observed[old.key] = old
        desired.append(new)
    diff = compute_diff(desired, observed)
    batches = batch_groups(diff.groups, reserve_records=reserve, reserve_chars=reserve * 100)
    seen = [g.name for b in batches for g in b]
    assert seen == [g.name for g in diff.groups]  # order kept, nothing lost, nothing twice
    for b in batches:
        assert sum(g.record_count for g in b) <= MAX_RECORDS_PER_BATCH - reserve
        assert sum(g.value_chars for g in b) <= MAX_VALUE_CHARS_PER_BATCH - reserve * 100
    # Each DELETE travels with its CREATE: a set's pair is inside one group, hence one batch.
    for b in batches:
        for g in b:
            dels = {c.rrset.key for c in g.changes if c.action == "DELETE"}
            adds = {c.rrset.key for c in g.changes if c.action == "CREATE"}
            assert dels == adds
    # First fit in order is minimal here: no two neighbours could have shared a batch.
    for a, b in itertools.pairwise(batches):
        assert (
            sum(g.record_count for g in a) + b[0].record_count > MAX_RECORDS_PER_BATCH - reserve
            or sum(g.value_chars for g in a) + b[0].value_chars > MAX_VALUE_CHARS_PER_BATCH - reserve * 100
        )


def test_a_name_too_large_for_one_request_is_refused_not_split() -> None:
    import pytest

    from safeguards.errors import InvalidInput

    old = RecordSet(f"big.{ZONE}", "TXT", 60, tuple(f'"{i:03d}{"x" * 200}"' for i in range(100)))
    new = old.with_values(v[:-1] + 'y"' for v in old.values)
    diff = compute_diff([new], {old.key: old})
    with pytest.raises(InvalidInput, match="too large for one Route 53 request"):
        batch_groups(diff.groups)
