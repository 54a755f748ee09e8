"""The fast paths of planning read, decide and keep exactly what the reference paths do.

- YAML records in the simple block style are read by regular expressions (`planfile._block_yaml`):
  every document it accepts must equal PyYAML's strict reading; anything else falls through.
- `planfile.gc_paused` promotes what it built to the oldest generation and leaves a program's own
  `gc.freeze()` alone.
- `fence.marker_owners` and `ZoneView.governed`, computed in C-level passes, equal the plain loops.
"""

from __future__ import annotations

import gc
import itertools
import random

import pytest
import yaml

from safeguards import planfile
from safeguards.fence import ZoneView, marker_owners
from safeguards.records import RecordSet, owner_name

HEAD = "zone: example.com.\ngeneration: 3\nrecords:\n"
TAIL = "retire: [old]\n"


def item(name: str, rtype: str, ttl: str, values: str, indent: int = 0) -> str:
    i = " " * indent
    return f"{i}- name: {name}\n{i}  type: {rtype}\n{i}  ttl: {ttl}\n{i}  values: [{values}]\n"


def check(text: str, *, fast: bool | None = None) -> None:
    """`load_yaml(text)` equals the strict reading (or raises as it does); `fast` says whether the
    block reader must have taken it (True), refused it (False), or either."""
    try:
        taken = planfile._block_yaml(text)
    except Exception:  # load_yaml treats this as not taken: the parsers after it decide
        taken = None
    if fast is True:
        assert taken is not None
    if fast is False:
        assert taken is None
    if taken is not None:  # the block reader hands its records over column by column
        assert isinstance(taken["records"], planfile.SimpleRecords)
        taken["records"] = taken["records"].dicts()
    try:
        want = planfile.strict_yaml(text)
    except yaml.YAMLError:
        assert taken is None
        with pytest.raises(yaml.YAMLError):
            planfile.load_yaml(text)
        return
    if taken is not None:
        assert taken == want
        assert [type(v) for r in taken["records"] for v in r["values"]] == [
            type(v) for r in want["records"] for v in r["values"]
        ]
    assert planfile.load_yaml(text) == want


def test_simple_block_is_read_directly() -> None:
    text = HEAD + item("www", "A", "300", "10.0.0.1, 10.0.0.2") + item("mail", "MX", "3600", "10 mx1.example.net.")
    text += item("v6", "AAAA", "300", "'2001:db8::1'") + item("t", "TXT", "60", "'\"v=spf1 -all\"', 'it''s'") + TAIL
    check(text, fast=True)
    doc = planfile.load_yaml(text)
    assert doc["records"][3]["values"] == ['"v=spf1 -all"', "it's"]
    assert doc["retire"] == ["old"]


@pytest.mark.parametrize(
    "value",
    [
        "yes", "No", "on", "OFF", "true", "null", "Null", "1.5", "10", "010", "08", "0x1f", "1_000", "1e3",
        "1:30", "2001-01-01", "0b101", "190:20:30", "6.8523015e+5", "10 mx.example.", "10.0.0.1", "y", "n",
        "1.2.3", "a-b", "_x", "x_",
    ],
)
def test_plain_values_resolve_as_pyyaml_does(value: str) -> None:
    check(HEAD + item("www", "A", "300", value) + item("two", "A", "300", f"1.2.3.4, {value}"))


@pytest.mark.parametrize("name", ["yes", "null", "123", "1e3", "2001-01-01", "true", "www", "0"])
def test_names_and_types_resolve_as_pyyaml_does(name: str) -> None:
    check(HEAD + item(name, "A", "300", "1.2.3.4"))
    check(HEAD + item("www", name, "300", "1.2.3.4"))


@pytest.mark.parametrize("ttl", ["0", "300", "0300", "1_0", "3e2", "99999999999999999999"])
def test_ttls(ttl: str) -> None:
    check(HEAD + item("www", "A", ttl, "1.2.3.4"))


@pytest.mark.parametrize(
    "text",
    [
        HEAD + item("www", "A", "300", "1.2.3.4") + "# a comment\n" + item("b", "A", "300", "1.2.3.4"),
        HEAD + item("www", "A", "300", "1.2.3.4") + "\n" + item("b", "A", "300", "1.2.3.4"),
        HEAD + item("www", "A", "300", "1.2.3.4").replace("type", "kind"),
        HEAD + item("www", "A", "300", "1.2.3.4").replace("  ttl: 300\n", "  ttl: 300\n  ttl: 300\n"),
        HEAD + item("www", "A", "300", "1.2.3.4") + "  min_values: 2\n",
        HEAD + item("www", "A", "300", "1.2.3.4 # c"),
        HEAD + item("www", "A", "300", "&a 1.2.3.4"),
        HEAD + item("www", "A", "300", "'1.2.3.4"),
        HEAD + item("www", "A", "300", "1.2.3.4").rstrip("\n"),
        HEAD + item("w\u00e9", "A", "300", "1.2.3.4"),
        HEAD + item("www", "A", "300", "1.2.3.4,5.6.7.8"),
        HEAD + item("www", "A", "300", "1.2.3.4") + "records: []\n",
        # A quoted scalar open across the block swallows it: the marker check refuses the block.
        "zone: 'example.com.\nrecords:\n" + item("www", "A", "300", "1.2.3.4") + "'\ngeneration: 1\nrecords: []\n",
        "records:\n" + item("www", "A", "300", "1.2.3.4"),
        HEAD + item("www", "A", "300", "1.2.3.4", indent=2) + TAIL,
        HEAD + item("www", "A", "300", "1.2.3.4", indent=2) + item("b", "A", "300", "1.2.3.4") + TAIL,
    ],
)
def test_other_forms_fall_through_or_agree(text: str) -> None:
    check(text)


def test_random_documents_agree() -> None:
    rng = random.Random(14)
    words = ["www", "a.b", "x-1", "yes", "no", "null", "10", "1.5", "08", "1_0", "2020-01-02", "_s", "on"]
    values = ["1.2.3.4", "10 mx.example.", "'2001:db8::1'", "'\"q\"'", "'a, b'", "''", "'it''s'", "y", "0x10"]
    for _ in range(300):
        items = "".join(
            item(rng.choice(words), rng.choice(["A", "TXT", "MX", "yes"]), rng.choice(["0", "300", "07"]),
                 ", ".join(rng.choices(values, k=rng.randint(1, 3))))
            for _ in range(rng.randint(1, 4))
        )
        check(HEAD + items + rng.choice(["", TAIL, "owner: me\n"]))


def test_gc_paused_promotes_and_respects_a_programs_freeze() -> None:
    assert gc.isenabled()
    with planfile.gc_paused():
        assert not gc.isenabled()
        built = [[i] for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_count()[0] < 1000  # promoted: not left for the young collection
    assert gc.get_freeze_count() == 0
    del built
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with planfile.gc_paused():
            pass
        # The program's freeze is kept (an unfreeze would empty it); objects of other threads (xdist's
        # execnet) may still be freed meanwhile, so not an exact count.
        assert gc.get_freeze_count() > frozen // 2 > 0
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with planfile.gc_paused():
            pass
        assert not gc.isenabled()  # a disabled collector stays disabled
    finally:
        gc.enable()


def _marker(name: str, value: str, rtype: str = "TXT") -> RecordSet:
    return RecordSet(owner_name(name), rtype, 300, (value,))


def test_marker_owners_equal_a_loop() -> None:
    mine = '"v=dnssg1 owner=me"'
    sets = [
        RecordSet("a.example.", "A", 300, ("1.2.3.4",)),
        _marker("a.example.", mine),
        _marker("b.example.", '"v=dnssg1 owner=you"'),
        _marker("b.example.", '"not a marker"'),  # does not overwrite b's owner
        _marker("c.example.", '"v=dnssg1 owner=me"', rtype="A"),
        RecordSet(owner_name("d.example."), "TXT", 300, (mine, mine + " ")),
        _marker("e.example.", '"v=dnssg1 owner=x"'),
        _marker("e.example.", mine),  # the last marker naming an owner wins
    ]

    def loop(observed: list[RecordSet]) -> dict[str, str]:
        out: dict[str, str] = {}
        cut = len(owner_name(""))
        for r in observed:
            if r.name.startswith(owner_name("")) and r.type == "TXT" and len(r.values) == 1:
                owner = planfile_owner(r.values[0])
                if owner is not None:
                    out[r.name[cut:]] = owner
        return out

    from safeguards.fence import _marker_owner as planfile_owner

    got = marker_owners(sets)
    assert got == loop(sets)
    assert list(got) == list(loop(sets))
    assert marker_owners(iter(sets)) == got


def test_governed_equals_picking_by_name() -> None:
    zone = "example."
    sets = [
        RecordSet(zone, "NS", 172800, ("ns1.x.",)),
        RecordSet(zone, "SOA", 900, ("ns1.x. h.x. 1 7200 900 1209600 86400",)),
        RecordSet(zone, "A", 300, ("1.2.3.4",)),
        RecordSet("a.example.", "A", 300, ("1.2.3.4",)),
        RecordSet("a.example.", "AAAA", 300, ("::1",)),
        RecordSet("b.example.", "A", 300, ("1.2.3.4",)),
        _marker("a.example.", '"v=dnssg1 owner=me"'),
    ]
    view = ZoneView.of(zone, sets)
    for names in ([zone, "a.example."], ["b.example.", owner_name("a.example.")], [], [zone]):
        wanted = {n for n in names if not n.startswith("_dnssg")}
        want = {r.key: r for r in sets if r.name in wanted and not view.is_apex_ns(r)}
        got = view.governed(names)
        assert got == want
        assert list(got) == list(want)


def test_records_sorted_as_the_dataclass_orders_them() -> None:
    from safeguards.plan import parse_plan

    records = [
        {"name": n, "type": t, "ttl": ttl, "values": ["1.2.3.4"] if t == "A" else ["::1"]}
        for n, t, ttl in itertools.product(["b", "a", "c.a"], ["AAAA", "A"], [300])
    ]
    for subset in (records, records[::2], records[1::2]):
        plan = parse_plan({"zone": "example.", "generation": 1, "records": subset})
        assert list(plan.records) == sorted(plan.records)


def test_canonical_form_equals_the_generic_one() -> None:
    """`Plan.canonical` builds simple sets' mappings directly and skips sorting a parsed plan's
    records: the same mapping (and checksum) as `to_dict` over sorted records gives."""
    import dataclasses

    from safeguards.plan import Plan, content_checksum, parse_plan

    doc = {
        "zone": "example.",
        "generation": 2,
        "records": [
            {"name": "b", "type": "A", "ttl": 300, "values": ["1.2.3.4"]},
            {"name": "a", "type": "A", "ttl": 60, "values": ["1.2.3.5", "1.2.3.4"], "min_values": 2},
            {"name": "w", "type": "A", "ttl": 60, "values": ["1.2.3.4"], "set_identifier": "x", "weight": 0},
            {"name": "w", "type": "A", "ttl": 60, "values": ["1.2.3.5"], "set_identifier": "y", "weight": 5},
            {"name": "f", "type": "A", "ttl": 60, "values": ["1.2.3.5"], "set_identifier": "p", "failover": "PRIMARY"},
            {"name": "f", "type": "A", "ttl": 60, "values": ["1.2.3.6"], "set_identifier": "s",
             "failover": "SECONDARY", "health_check_id": "hc-1"},
        ],
        "retire": ["old"],
    }
    parsed = parse_plan(doc)
    built = Plan(parsed.zone, parsed.generation, tuple(reversed(parsed.records)), parsed.retire, parsed.min_values)
    for plan in (parsed, built, dataclasses.replace(parsed, records=tuple(reversed(parsed.records)))):
        records = sorted(plan.records, key=lambda r: tuple(getattr(r, f.name) for f in dataclasses.fields(r)))
        want = {
            "zone": plan.zone,
            "owner": plan.owner,
            "records": [{**r.to_dict(), "min_values": plan.min_for(r.key)} for r in records],
            "retire": sorted(plan.retire),
            "canary": sorted(plan.canary),
        }
        assert plan.canonical() == want
        assert plan.checksum == content_checksum(want)
