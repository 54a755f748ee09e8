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
import re

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


# ------------------------------------------------------------------ records decoded column by column

ZONE = "example.com."
NAMES = ["www", "a.b", "x-1", "_srv", "@", "Mixed", "example.com", "w.example.com", "api.example.com.", "a\nb",
         "*.w", "0", "yes", "-x", "a..b", "x" * 64, "é"]  # fmt: skip
VALUES = {
    "A": ["192.0.2.1", "192.0.2.2", "010.0.0.1", "256.1.1.1", "1.2.3", " 1.2.3.4", "1.2.3.4\n5.6.7.8", "0.0.0.0", "x"],
    "AAAA": ["2001:db8::1", "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "::ffff:1.2.3.4", "x"],
    "CNAME": ["t.example.net.", "T.example.net", "t.example.net", "-", "a b"],
    "MX": ["10 mx.example.net.", "10 MX.example.net", "99999 mx.example.", "10 mx.example.net"],
    "TXT": ['"v=spf1 -all"', "plain text", '"a" "b"', 'say "hi"', "x" * 300, " ".join(['"' + "a" * 250 + '"'] * 17),
            ""],
    "NS": ["ns1.example.net.", "NS1.example.net"],
    "SRV": ["10 5 443 t.example.net.", "1 2 3"],
    "CAA": ['0 issue "letsencrypt.org"', "0 issue letsencrypt.org"],
}


def _columns(records: list[dict]) -> planfile.SimpleRecords:
    return planfile.SimpleRecords(
        [r["name"] for r in records], [r["type"] for r in records], [r["ttl"] for r in records],
        [tuple(r["values"]) for r in records],
    )  # fmt: skip


def _outcome(doc: dict) -> object:
    from safeguards.errors import PlanInvalid
    from safeguards.plan import parse_plan

    try:
        plan = parse_plan(doc)
    except PlanInvalid as e:
        return ("invalid", e.problems)
    return ("plan", plan.records, plan.checksum)


def test_column_validation_equals_the_record_by_record_one() -> None:
    """`plan._simple_columns` (records handed over as columns) accepts, refuses and canonicalizes
    exactly as the per-record path (`_FastRecords`, `_parse_record`) does the same records."""
    from safeguards import plan as plan_module

    rng = random.Random(141)
    types = list(VALUES)
    taken = 0
    for round_ in range(600):
        gentle = round_ % 2 == 0  # half the plans nearly canonical: the column path takes many of them
        records = []
        for _ in range(rng.randint(1, 6)):
            rtype = rng.choice(types) if rng.random() < 0.95 else rng.choice(["a", "SOA", "txt"])
            pool = VALUES.get(rtype.upper(), ["1.2.3.4"])
            if gentle and rng.random() < 0.97:
                pool = pool[:2]
            values = rng.sample(pool, k=rng.randint(1, min(3, len(pool))))
            if rng.random() < (0.02 if gentle else 0.1):
                values.append(values[0])  # a duplicate
            ttl = 300 if gentle and rng.random() < 0.97 else rng.choice([0, 300, 2147483647, 2147483648, -1])
            records.append({"name": rng.choice(NAMES), "type": rtype, "ttl": ttl, "values": values})
        if round_ % 3 == 0 or (gentle and rng.random() < 0.9):  # distinct names mostly
            for i, r in enumerate(records):
                r["name"] = f"n{i}" if rng.random() < 0.97 else rng.choice(NAMES)
        listed = {"zone": ZONE, "generation": 1, "records": records}
        columns = {"zone": ZONE, "generation": 1, "records": _columns(records)}
        assert _outcome(columns) == _outcome(listed), records
        taken += plan_module._simple_columns(_columns(records), ZONE) is not None
    assert taken > 30  # both outcomes are exercised


def test_the_column_path_is_taken_for_canonical_records() -> None:
    from safeguards import plan as plan_module

    shapes = [
        ("A", ["192.0.2.2", "192.0.2.1"]), ("AAAA", ["2001:db8::1"]), ("CNAME", ["t.example.net."]),
        ("MX", ["10 mx.example.net."]), ("TXT", ["plain"]), ("TXT", ['"quoted"']), ("NS", ["ns.example.net."]),
        ("CNAME", ["T.Example.NET"]),
    ]  # fmt: skip
    records = [{"name": f"h{i}", "type": t, "ttl": 300, "values": v} for i, (t, v) in enumerate(shapes)]
    built = plan_module._simple_columns(_columns(records), ZONE)
    assert built is not None
    assert [r.values for r in built][:2] == [("192.0.2.1", "192.0.2.2"), ("2001:db8::1",)]
    assert built[-1].values == ("t.example.net.",)
    assert _outcome({"zone": ZONE, "generation": 1, "records": _columns(records)}) == _outcome(
        {"zone": ZONE, "generation": 1, "records": records}
    )


def test_a_txt_value_over_4000_characters_is_refused_on_every_path() -> None:
    """The per-record fast path used to let a quoted TXT value of over 4,000 characters through."""
    long = " ".join(['"' + "a" * 250 + '"'] * 17)
    doc = {"zone": ZONE, "generation": 1, "records": [{"name": "t", "type": "TXT", "ttl": 60, "values": [long]}]}
    outcome = _outcome(doc)
    assert outcome[0] == "invalid" and "at most 4000" in str(outcome[1])
    assert _outcome({**doc, "records": _columns(doc["records"])}) == outcome


JSON_RECORD = '{"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}'


@pytest.mark.parametrize(
    "text",
    [
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD + "]}",
        '{"zone": "example.com", "zone": "x", "generation": 1, "records": [' + JSON_RECORD + "]}",
        '{"zone": "example.com", "generation": 1, "records": ['
        + JSON_RECORD.replace('"ttl"', '"ttl": 1, "ttl"')
        + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace("300", "true") + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace("300", "3e2") + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace('"A"', '"SOA"') + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace('"A"', '"a"') + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace("}", ', "weight": 1}') + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace("www", "w:w") + "]}",
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD.replace("www", "w\\u0077w") + "]}",
        '{"zone": "example.com", "generation": 1, "other": {"a": 1, "a": 2}, "records": []}',
        '{"zone": {"x": 1}, "generation": 1, "records": [' + JSON_RECORD + "]}",
        '{"zone": "example.com", "records": [' + JSON_RECORD + ", " + JSON_RECORD + "], "
        '"retire": ["a:b"], "canary": ["www"]}',
        '{"zone": "example.com", "generation": 1, "records": [' + JSON_RECORD + "",
        '{"zone": "example.com", "generation": 1}',
        "[1, 2]",
    ],
)
def test_json_decoded_column_by_column_reads_what_the_strict_parser_reads(text: str) -> None:
    import json

    try:
        want = planfile.strict_json(text)
    except (json.JSONDecodeError, ValueError):
        with pytest.raises((json.JSONDecodeError, ValueError)):
            planfile.decode_json(text)
        with pytest.raises((json.JSONDecodeError, ValueError)):
            planfile.decode_json(text.encode())
        return
    for given in (text, text.encode()):
        got = planfile.decode_json(given)
        if isinstance(got, dict) and isinstance(got.get("records"), planfile.SimpleRecords):
            got["records"] = got["records"].dicts()
        assert got == want
        assert planfile.load_json(given) == want


def test_the_typed_json_decoder_knows_exactly_the_supported_types() -> None:
    import typing

    from safeguards.records import SUPPORTED_TYPES

    assert typing.get_args(planfile._SimpleType) == SUPPORTED_TYPES


def test_the_resolver_shortcut_rests_on_the_patterns() -> None:
    """Digit-led scalars with two dots skip the resolvers only because none matches two dots."""
    assert planfile._most_dots(r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*") == 1
    assert planfile._most_dots(r"a.b") == 1  # any character may be a dot
    assert planfile._most_dots(r"(?:\.[0-9])+") == float("inf")
    assert planfile._most_dots(r"\.{2}") == 2
    assert planfile._most_dots(r"[^a]\.") == 2
    rng = random.Random(7)
    for _ in range(2000):
        # Plain scalars of the block form (`planfile._BLOCK_VALUE`): these are what it checks.
        scalar = rng.choice("0123456789") + "".join(rng.choice("0123456789._-eE ") for _ in range(rng.randint(0, 9)))
        if not re.fullmatch(planfile._BLOCK_VALUE, scalar) or scalar.startswith("'"):
            continue
        try:
            resolved = yaml.safe_load(f"v: {scalar}")
        except yaml.YAMLError:
            continue
        if not isinstance(resolved, dict) or (resolved.get("v") is None and scalar not in ("~", "null")):
            continue  # not a plain scalar there (an indicator, a comment)
        assert planfile._all_strings([scalar]) == isinstance(resolved.get("v"), str), scalar


# ------------------------------------------------------------------ record sets, diffs, guards


def test_record_sets_answer_as_the_dataclass_did() -> None:
    import dataclasses
    import pickle

    r = RecordSet("a.example.", "A", 60, ("192.0.2.1",))
    w = RecordSet("a.example.", "A", 60, ("192.0.2.1",), "blue", 10)
    names = [f.name for f in dataclasses.fields(RecordSet)]
    assert tuple(names) == RecordSet.__struct_fields__
    assert [f.default for f in dataclasses.fields(RecordSet)][4:] == [None] * 9
    assert dataclasses.is_dataclass(r) and dataclasses.replace(r, set_identifier="blue", weight=10) == w
    assert dataclasses.asdict(w)["weight"] == 10 and r.with_values(["192.0.2.9", "192.0.2.3"]).values == (
        "192.0.2.3", "192.0.2.9")  # fmt: skip
    assert r == RecordSet("a.example.", "A", 60, ("192.0.2.1",)) and r != w and hash(r) == hash(dataclasses.replace(r))
    assert sorted([w, RecordSet("0.example.", "A", 1, ())]) == [RecordSet("0.example.", "A", 1, ()), w]
    assert pickle.loads(pickle.dumps(w)) == w and r.key == ("a.example.", "A", None)
    assert not gc.is_tracked(r)
    with pytest.raises(AttributeError):
        r.ttl = 5  # type: ignore[misc]


def _reference_diff(desired: list[RecordSet], observed: dict) -> tuple:
    """The diff as the first version computed it: desired sets by key, every observed set no
    desired set has the key of deleted."""
    want = {r.key: r for r in desired}
    creates = [r for k, r in want.items() if k not in observed]
    updates = [(observed[k], r) for k, r in want.items() if k in observed and observed[k] != r]
    deletes = [r for k, r in observed.items() if k not in want]
    return creates, updates, deletes


def test_diff_equals_the_keyed_reference() -> None:
    from safeguards.diff import compute_diff

    rng = random.Random(5)
    for _ in range(500):
        names = [f"n{i}.example." for i in range(rng.randint(1, 8))]
        pool = [RecordSet(n, t, ttl, (v,)) for n in names for t in ("A", "TXT") for ttl in (60, 300)
                for v in ("192.0.2.1", "192.0.2.2")]  # fmt: skip
        desired = rng.sample(pool, k=rng.randint(0, 6))
        if rng.random() < 0.5:
            desired.sort(key=lambda r: r.name)
        observed = {r.key: r for r in rng.sample(pool, k=rng.randint(0, 6))}
        retire = rng.sample(names, k=rng.randint(0, min(2, len(names))))
        diff = compute_diff(desired, observed, retire)
        creates, updates, deletes = _reference_diff(desired, observed)
        assert list(diff.creates) == creates
        assert list(diff.updates) == updates
        assert list(diff.deletes) == deletes


def test_the_zone_after_the_change_equals_apply_diff() -> None:
    from safeguards.diff import ChangeGroup, apply_diff, compute_diff
    from safeguards.guards import GuardContext, GuardOptions
    from safeguards.plan import Plan
    from safeguards.records import Change

    rng = random.Random(9)
    plan = Plan("example.", 1, ())
    for _ in range(300):
        names = [f"n{i}.example." for i in range(rng.randint(1, 6))]
        pool = [RecordSet(n, t, 60, (v,)) for n in names for t in ("A", "TXT") for v in ("192.0.2.1", "192.0.2.2")]
        observed = {r.key: r for r in rng.sample(pool, k=rng.randint(0, 4))}
        diff = compute_diff(rng.sample(pool, k=rng.randint(0, 4)), observed)
        if rng.random() < 0.3:  # changes apply_diff refuses, an UPSERT, a set deleted and written again
            extra = rng.choice(pool)
            action = rng.choice(["CREATE", "DELETE", "UPSERT"])
            groups = (*diff.groups, ChangeGroup(extra.name, (Change(action, extra),)))  # type: ignore[arg-type]
            diff = type(diff)(groups, diff.creates, diff.updates, diff.deletes, diff.unchanged)
        ctx = GuardContext(plan, observed, {}, diff, GuardOptions())
        try:
            want = list(apply_diff(dict(observed), diff.groups).values())
        except ValueError:
            assert ctx.overlay is None
            continue
        assert ctx.after_sets == want
        assert dict(ctx.after_view) == apply_diff(dict(observed), diff.groups)


def test_plan_names_union_is_itself_when_it_holds_the_other() -> None:
    from safeguards.plan import parse_plan

    record = {"name": "a", "type": "A", "ttl": 1, "values": ["192.0.2.1"]}
    plan = parse_plan({"zone": ZONE, "generation": 1, "records": [record], "retire": ["b"]})
    names = plan.managed_names()
    assert names == {"a.example.com.", "b.example.com."}
    assert names | {"a.example.com."} is names
    assert names | {"c.example.com."} == {"a.example.com.", "b.example.com.", "c.example.com."}
    assert names | set() is names


@pytest.mark.parametrize("txt", ["plain", "caf\u00e9", "tab\there", "del\x7f"])
def test_checksum_of_simple_plans_equals_the_json_of_the_canonical_form(txt: str) -> None:
    """`Plan.checksum` writes simple sets from Structs: the bytes `json.dumps` writes for
    `Plan.canonical()`, or the generic path when the text needs escapes."""
    import hashlib
    import json

    from safeguards.plan import parse_plan

    records = [
        {"name": "b", "type": "A", "ttl": 300, "values": ["192.0.2.2", "192.0.2.1"]},
        {"name": "a", "type": "TXT", "ttl": 60, "values": [txt]},
    ]
    for doc in ({"zone": ZONE, "generation": 1, "records": records, "retire": ["old"], "canary": ["b"]},
                {"zone": ZONE, "generation": 1, "records": _columns(records)}):  # fmt: skip
        plan = parse_plan(doc)
        want = json.dumps(plan.canonical(), sort_keys=True, separators=(",", ":")).encode()
        assert plan.checksum == hashlib.sha256(want).hexdigest()
