"""Bounded input in the library (`load_plan`, `safeguards.planfile`): the size cap, alias bombs,
nesting, messages cut before they are formatted, and the C-level helpers the planning path uses
kept equal to what they stand for. No timing is asserted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from safeguards import planfile
from safeguards.errors import PlanInvalid
from safeguards.plan import MAX_PROBLEM_CHARS, load_plan, parse_plan
from safeguards.records import RecordSet, record_fields, record_key
from safeguards.values import shown

GOOD = "zone: example.com\ngeneration: 1\nrecords:\n  - {name: api, type: A, ttl: 60, values: [192.0.2.1]}\n"


def refused(path: Path, **kw: object) -> str:
    with pytest.raises(PlanInvalid) as info:
        load_plan(path, **kw)  # type: ignore[arg-type]
    assert len(info.value.problems) == 1 and "\n" not in info.value.message
    return info.value.message


def test_size_cap_refuses_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(GOOD)
    assert load_plan(plan).records
    message = refused(plan, max_bytes=10)
    assert f"{plan.stat().st_size:,} bytes is more than the plan-file limit of 10 bytes" in message
    assert planfile.MAX_PLAN_BYTES_ENV in message
    monkeypatch.setenv(planfile.MAX_PLAN_BYTES_ENV, "20")
    assert "limit of 20 bytes" in refused(plan)
    monkeypatch.setenv(planfile.MAX_PLAN_BYTES_ENV, "-3")
    assert planfile.MAX_PLAN_BYTES_ENV in refused(plan)


def test_read_bounded_never_reads_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(planfile.PlanTooLarge) as info:
        planfile.read_bounded(path, 100)
    assert info.value.size == 5000
    assert planfile.read_bounded(path, 5000) == b"x" * 5000


def test_crlf_files_read_as_before(tmp_path: Path) -> None:
    plan = tmp_path / "crlf.yaml"
    plan.write_bytes(GOOD.replace("\n", "\r\n").encode())
    assert load_plan(plan).records[0].values == ("192.0.2.1",)


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_refused_before_construction(tmp_path: Path) -> None:
    plan = tmp_path / "bomb.yaml"
    plan.write_text("zone: example.com\ngeneration: 1\n" + BOMB + "records: *i\n")
    assert "YAML alias expansion refused" in refused(plan)
    with pytest.raises(planfile.AliasBomb):
        planfile.strict_yaml(BOMB)


def test_modest_aliases_still_work(tmp_path: Path) -> None:
    plan = tmp_path / "anchors.yaml"
    plan.write_text(
        "zone: example.com\ngeneration: 1\nrecords:\n"
        "  - {name: a, type: A, ttl: 60, values: &web [192.0.2.1, 192.0.2.2]}\n"
        "  - {name: b, type: A, ttl: 60, values: *web}\n"
    )
    assert [r.values for r in load_plan(plan).records] == [("192.0.2.1", "192.0.2.2")] * 2


def test_recursive_alias_refused(tmp_path: Path) -> None:
    plan = tmp_path / "loop.yaml"
    plan.write_text("zone: example.com\ngeneration: 1\nrecords: &r [*r]\n")
    assert "refers to itself" in refused(plan)


def test_check_expansion_counts_shared_nodes_once() -> None:
    node = yaml.compose("a: &x [1, 2]\nb: *x\nc: *x\n", Loader=yaml.SafeLoader)
    planfile.check_expansion(node)  # 3 aliases of 3 nodes: fine
    with pytest.raises(planfile.AliasBomb):
        planfile.check_expansion(yaml.compose(BOMB, Loader=yaml.SafeLoader), limit=1000)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep.yaml", "[" * 100_000 + "]" * 100_000),
        ("deep-map.yaml", "{a: " * 100_000 + "1" + "}" * 100_000),
        ("deep-block.yaml", "- " * 100_000 + "x\n"),
    ],
)
def test_deep_nesting_is_plan_invalid(tmp_path: Path, name: str, body: str) -> None:
    plan = tmp_path / name
    plan.write_text(body)
    assert "nested too deeply" in refused(plan)


def test_flow_depth_is_an_upper_bound() -> None:
    assert planfile.flow_depth("a: [1, [2, {b: 3}]]") == 3
    assert planfile.flow_depth("'['" * 70) == 70  # quoted brackets count: ryaml is merely skipped
    assert planfile.flow_depth("[]" * 100) == 1


def test_messages_quote_inputs_cut_short() -> None:
    huge = "z" * 1_000_000
    assert shown("short") == "'short'"
    assert len(shown(huge)) < 200 and "1,000,000 characters" in shown(huge)
    assert len(shown([[[[[[1]]]]]])) < 40
    for record in (
        {"name": huge, "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
        {"name": "api", "type": huge, "ttl": 60, "values": ["192.0.2.1"]},
        {"name": "api", "type": "A", "ttl": 60, "values": [huge]},
        {"name": "api", "type": "TXT", "ttl": 60, "values": [huge]},
        {"name": "api", "type": "A", "ttl": huge, "values": ["192.0.2.1"]},
        {"name": "api", "type": "A", "ttl": 60, "values": ["192.0.2.1"], huge: 1},
    ):
        with pytest.raises(PlanInvalid) as info:
            parse_plan({"zone": "example.com", "generation": 1, "records": [record]})
        assert all(len(p) <= MAX_PROBLEM_CHARS + 40 for p in info.value.problems), info.value.problems
        assert len(info.value.message) < 2 * MAX_PROBLEM_CHARS


def test_c_level_getters_match_the_dataclass() -> None:
    r = RecordSet("a.example.com.", "A", 60, ("192.0.2.1",), "blue", 10)
    assert record_key(r) == r.key == ("a.example.com.", "A", "blue")
    assert record_fields(r) == tuple(getattr(r, f.name) for f in dataclasses.fields(RecordSet))
