"""Fuzz: malformed and dangerous plans, 10,000 plan documents through `parse_plan` then
`Applier.apply`, and Plan objects built in code straight into `Applier.apply`. Every one must
end in a SafeguardsError (nothing else: no TypeError from odd input) and leave the zone's
`snapshot()` byte-identical (I5).

Each example starts from the live plan and injects one to three defects, each of which alone
must be refused: a malformed field (parse), or a well-formed plan that would do harm (empty a
name, go back a generation, drop most of a set's values, move too much at once, take over
another owner's names, carry a wrong checksum)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from safeguards import (
    Applier,
    ApplyOptions,
    Plan,
    RecordSet,
    SafeguardsError,
    SqlitePlanStore,
    StrictRoute53,
    VirtualClock,
    parse_plan,
    plan_to_document,
)

ZONE = "example.com."
LIVE = Plan(
    ZONE,
    1,
    tuple(
        sorted(
            [
                RecordSet(f"api.{ZONE}", "A", 60, ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4")),
                RecordSet(f"www.{ZONE}", "A", 300, ("192.0.2.10", "192.0.2.11")),
                RecordSet(f"mail.{ZONE}", "MX", 300, ("10 mx1.example.net.",)),
                RecordSet(f"txt.{ZONE}", "TXT", 300, ('"v=spf1 -all"',)),
            ]
        )
    ),
)


class Zone:
    """The zone every example runs against: LIVE applied once; every example is refused, so
    it never changes (the circuit threshold is out of reach so refusals keep being judged)."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.model = StrictRoute53(clock=self.clock, insync_after=0)
        self.zone_id = self.model.resolve_zone(ZONE, create=True)
        self.store = SqlitePlanStore(":memory:", clock=self.clock)
        self.applier = Applier(
            self.model,
            self.store,
            enactor_id="fuzz",
            options=ApplyOptions(circuit_threshold=10**9),
            clock=self.clock,
        )
        self.applier.apply(LIVE)
        self.base = self.model.snapshot(self.zone_id)

    def next_generation(self) -> int:
        return max(self.store.generations(ZONE)) + 1

    def must_refuse(self, apply: Callable[[], Any]) -> SafeguardsError:
        """`apply()` raises a SafeguardsError and the zone is byte-identical."""
        before = self.model.snapshot(self.zone_id)
        assert before == self.base
        with pytest.raises(SafeguardsError) as exc:
            result = apply()
            pytest.fail(f"accepted: {getattr(result, 'outcome', result)}")
        assert self.model.snapshot(self.zone_id) == before, f"zone changed by a refused plan: {exc.value}"
        guard = getattr(exc.value, "guard", "")
        with contextlib.suppress(InvalidArgument):  # outside a Hypothesis test there is nothing to record
            event(f"refused: {type(exc.value).__name__}{f' ({guard})' if guard else ''}")
        return exc.value


@pytest.fixture(scope="module")
def zone() -> Zone:
    return Zone()


# ---------------------------------------------------------------------------------- defects

Doc = dict[str, Any]
_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


def _record(doc: Doc, data: st.DataObject) -> dict[str, Any]:
    """A record of the document, one with values if any is left (earlier defects may have
    emptied some)."""
    full = [r for r in doc["records"] if isinstance(r.get("values"), list) and r["values"]]
    return data.draw(st.sampled_from(full or doc["records"]), label="record")


def empty_values(doc: Doc, data: st.DataObject) -> None:
    _record(doc, data)["values"] = []


def outside_zone(doc: Doc, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["api.example.org.", "example.com.evil.net.", "com.", "x.examplecom."]))
    doc["records"].append({"name": name, "type": "A", "ttl": 60, "values": ["192.0.2.99"]})


def huge_batch(doc: Doc, data: st.DataObject) -> None:
    n = data.draw(st.integers(1001, 1500), label="values")
    doc["records"].append(
        {
            "name": "big",
            "type": "A",
            "ttl": 60,
            "values": [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(n)],
        }
    )


def too_many_chars(doc: Doc, data: st.DataObject) -> None:
    chunk = '"' + "x" * 250 + '"'
    doc["records"].append(
        {"name": "big-txt", "type": "TXT", "ttl": 60, "values": [chunk[:-2] + f'{i:02d}"' for i in range(130)]}
    )


def bad_ttl(doc: Doc, data: st.DataObject) -> None:
    _record(doc, data)["ttl"] = data.draw(
        st.one_of(st.integers(max_value=-1), st.integers(min_value=2**31), st.text(max_size=4), st.none(), st.floats())
    )


def bad_value(doc: Doc, data: st.DataObject) -> None:
    rec = next((r for r in doc["records"] if r.get("type") == "A" and r.get("values")), None)
    if rec is None:  # an earlier defect removed them: that one is refused already
        return
    rec["values"] = [
        *rec["values"][:-1],
        data.draw(st.one_of(st.sampled_from(["256.1.1.1", "1.2.3", "::1", "", "a.b.c.d"]), _ODD)),
    ]


def duplicate_value(doc: Doc, data: st.DataObject) -> None:
    rec = _record(doc, data)
    if isinstance(rec.get("values"), list) and rec["values"]:
        rec["values"] = [*rec["values"], rec["values"][0]]


def duplicate_set(doc: Doc, data: st.DataObject) -> None:
    doc["records"].append(copy.deepcopy(_record(doc, data)))


def reserved_name(doc: Doc, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["_dnssg", "_dnssg-fence", "_dnssg.api", "_DNSSG-fence."]))
    doc["records"].append({"name": name, "type": "TXT", "ttl": 60, "values": ['"x"']})


def bad_generation(doc: Doc, data: st.DataObject) -> None:
    doc["generation"] = data.draw(st.one_of(st.integers(max_value=0), st.sampled_from(["7", True, None, 1.5, [2]])))


def bad_zone(doc: Doc, data: st.DataObject) -> None:
    doc["zone"] = data.draw(
        st.one_of(
            st.sampled_from(["", "exa mple.com", "a..b", "-x.com", "_dnssg.com"]),
            _ODD.filter(lambda v: not isinstance(v, str)),
        )
    )


def unknown_key(doc: Doc, data: st.DataObject) -> None:
    where = data.draw(st.booleans())
    target = doc if where else _record(doc, data)
    target[data.draw(st.sampled_from(["value", "recrods", "ttls", "generaton", "x"]))] = 1


def cname_conflict(doc: Doc, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["two values", "beside A", "apex"]))
    if kind == "two values":
        doc["records"].append(
            {"name": "alias", "type": "CNAME", "ttl": 60, "values": ["a.example.net.", "b.example.net."]}
        )
    elif kind == "beside A":
        doc["records"].append({"name": "dual", "type": "A", "ttl": 60, "values": ["192.0.2.7"]})
        doc["records"].append({"name": "dual", "type": "CNAME", "ttl": 60, "values": ["a.example.net."]})
    else:
        doc["records"].append({"name": "@", "type": "CNAME", "ttl": 60, "values": ["a.example.net."]})


def bad_weight(doc: Doc, data: st.DataObject) -> None:
    rec = _record(doc, data)
    choice = data.draw(st.sampled_from(["weight only", "set only", "too heavy"]))
    if choice != "set only":
        rec["weight"] = 300 if choice == "too heavy" else 10
    if choice != "weight only":
        rec["set_identifier"] = "blue"


def long_name(doc: Doc, data: st.DataObject) -> None:
    label = "a" * data.draw(st.integers(64, 80))
    doc["records"].append({"name": label, "type": "A", "ttl": 60, "values": ["192.0.2.5"]})


def min_values_too_high(doc: Doc, data: st.DataObject) -> None:
    rec = _record(doc, data)
    rec["min_values"] = len(rec.get("values") or ()) + data.draw(st.integers(1, 3))


def not_a_mapping(doc: Doc, data: st.DataObject) -> None:
    rec_or_doc = data.draw(st.sampled_from(["record", "records"]))
    if rec_or_doc == "record":
        doc["records"][0] = data.draw(_ODD)
    else:
        doc["records"] = data.draw(_ODD.filter(lambda v: not isinstance(v, list)))


def bad_owner(doc: Doc, data: st.DataObject) -> None:
    doc["owner"] = data.draw(st.sampled_from(["", "has space", 'quote"d', "-x", "a" * 70]))


def bad_checksum_format(doc: Doc, data: st.DataObject) -> None:
    doc["checksum"] = data.draw(st.sampled_from(["abc", "g" * 64, "0" * 63, 12]))


def route53_managed(doc: Doc, data: st.DataObject) -> None:
    doc["records"].append(
        data.draw(
            st.sampled_from(
                [
                    {"name": "@", "type": "SOA", "ttl": 900, "values": ["ns. h. 1 2 3 4 5"]},
                    {"name": "@", "type": "NS", "ttl": 900, "values": ["ns1.example.net."]},
                ]
            )
        )
    )


# Well-formed, but harmful: the applier's guards must refuse them.


def empties_a_name(doc: Doc, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["api", "www", "mail", "txt"]), label="emptied")
    doc["records"] = [r for r in doc["records"] if r.get("name") != name]


def stale_generation(doc: Doc, data: st.DataObject) -> None:
    doc["generation"] = LIVE.generation
    doc["records"].append({"name": "new", "type": "A", "ttl": 60, "values": ["192.0.2.12"]})  # other content


def wrong_checksum(doc: Doc, data: st.DataObject) -> None:
    doc["checksum"] = data.draw(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))


def drops_most_values(doc: Doc, data: st.DataObject) -> None:
    rec = next((r for r in doc["records"] if r.get("name") == "api" and isinstance(r.get("values"), list)), None)
    if rec is not None:  # else an earlier defect removed api: refused for that already
        rec["values"] = rec["values"][:1]


def moves_everything(doc: Doc, data: st.DataObject) -> None:
    for rec in doc["records"]:
        if isinstance(rec.get("ttl"), int):
            rec["ttl"] += 1  # every set updated: past the blast-radius limit


def other_owner(doc: Doc, data: st.DataObject) -> None:
    doc["owner"] = "someone-else"


MALFORMED: list[Callable[[Doc, st.DataObject], None]] = [
    empty_values,
    outside_zone,
    huge_batch,
    too_many_chars,
    bad_ttl,
    bad_value,
    duplicate_value,
    duplicate_set,
    reserved_name,
    bad_generation,
    bad_zone,
    unknown_key,
    cname_conflict,
    bad_weight,
    long_name,
    min_values_too_high,
    not_a_mapping,
    bad_owner,
    bad_checksum_format,
    route53_managed,
]
HARMFUL: list[Callable[[Doc, st.DataObject], None]] = [
    empties_a_name,
    stale_generation,
    wrong_checksum,
    drops_most_values,
    moves_everything,
    other_owner,
]
#: A third of the examples are malformed, a third well-formed but harmful (they reach the
#: applier's guards), a third mix both.
DEFECTS = st.one_of(
    st.lists(st.sampled_from(MALFORMED), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(HARMFUL), min_size=1, max_size=2, unique=True),
    st.tuples(st.sampled_from(MALFORMED), st.sampled_from(HARMFUL)).map(list),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_malformed_or_dangerous_plan_documents_are_refused_and_change_nothing(zone: Zone, data: st.DataObject) -> None:
    doc: Any = plan_to_document(LIVE)
    doc["generation"] = zone.next_generation()
    defects = data.draw(DEFECTS, label="defects")
    for defect in defects:
        if not isinstance(doc, dict) or not isinstance(doc.get("records"), list) or not doc["records"]:
            break  # an earlier defect already broke the document's shape
        if not all(isinstance(r, dict) for r in doc["records"]):
            break
        defect(doc, data)

    def parse_and_apply() -> Any:
        return zone.applier.apply(parse_plan(doc))

    zone.must_refuse(parse_and_apply)


# ---------------------------------------------------------------------------------- Plan objects


def _plan(records: list[RecordSet], **kw: Any) -> Plan:
    return Plan(ZONE, kw.pop("generation", 2), tuple(sorted(records)), **kw)


def _bulk(n: int) -> list[RecordSet]:
    return [RecordSet(f"n{i:04d}.{ZONE}", "A", 60, (f"10.9.{i // 250}.{i % 250 + 1}",)) for i in range(n)]


PLAN_DEFECTS = (
    "empty values",
    "omit a name",
    "stale generation",
    "huge batch with an empty set",
    "huge batch that omits a name",
    "wrong declared checksum",
    "drop most values",
    "outside the zone (one batch)",
    "other owner",
)


@pytest.mark.parametrize("defect", PLAN_DEFECTS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_dangerous_plan_objects_are_refused_and_change_nothing(zone: Zone, defect: str, data: st.DataObject) -> None:
    live = list(LIVE.records)
    gen = zone.next_generation()
    victim = data.draw(st.sampled_from(live), label="victim")
    others = [r for r in live if r != victim]
    plan = {
        "empty values": lambda: _plan([*others, victim.with_values(())], generation=gen),
        "omit a name": lambda: _plan(others, generation=gen),
        "stale generation": lambda: _plan([*others, victim.with_values(("192.0.2.200",))], generation=LIVE.generation),
        "huge batch with an empty set": lambda: _plan(
            [*live, *_bulk(data.draw(st.integers(1000, 1600))), RecordSet(f"zz.{ZONE}", "A", 60, ())], generation=gen
        ),
        "huge batch that omits a name": lambda: _plan(
            [*others, *_bulk(data.draw(st.integers(1000, 1600)))], generation=gen
        ),
        "wrong declared checksum": lambda: dataclasses.replace(
            _plan(live, generation=gen),
            declared_checksum=data.draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
        ),
        "drop most values": lambda: _plan(
            [r.with_values(r.values[:1]) if r.name.startswith("api.") else r for r in live], generation=gen
        ),
        "outside the zone (one batch)": lambda: _plan(
            [*live, RecordSet("api.example.org.", "A", 60, ("192.0.2.9",))], generation=gen
        ),
        "other owner": lambda: _plan(live, generation=gen, owner="someone-else"),
    }[defect]()
    zone.must_refuse(lambda: zone.applier.apply(plan))


# ---------------------------------------------------------------------------------- gaps found


def test_a_plan_object_with_a_name_outside_the_zone_in_a_later_batch_changes_nothing() -> None:
    z = Zone()
    plan = _plan([*LIVE.records, *_bulk(1500), RecordSet("zz.example.org.", "A", 60, ("192.0.2.9",))])
    z.must_refuse(lambda: z.applier.apply(plan))


def test_a_plan_object_with_an_invalid_value_is_refused() -> None:
    z = Zone()
    plan = _plan([*LIVE.records, RecordSet(f"bad.{ZONE}", "A", 60, ("not-an-ip",))])
    z.must_refuse(lambda: z.applier.apply(plan))
