"""Two owners of one zone as separate OS processes (the real CLI on the embedded default): each
holds its own lease and fence, so neither waits for nor refuses the other, and neither touches
the other's names. The interleaving is forced with a checkpoint gate, never with time."""

from __future__ import annotations

import json
from pathlib import Path

from _processes import Cli, gate

from safeguards.backends.strict import StrictRoute53
from safeguards.fence import ZoneView

ZONE = "owners.example."


def owner_plan(directory: Path, owner: str, generation: int, names: list[str], octet: int) -> Path:
    doc = {
        "zone": ZONE,
        "generation": generation,
        "owner": owner,
        "records": [{"name": n, "type": "A", "ttl": 60, "values": [f"192.0.{octet}.{i + 1}"]} for i, n in
                    enumerate(names)],
    }  # fmt: skip
    path = directory / f"{owner}-{generation}.json"
    path.write_text(json.dumps(doc))
    return path


def test_two_owners_applying_in_two_processes_at_once_both_land(tmp_path: Path) -> None:
    state = tmp_path / "state"
    a1 = owner_plan(tmp_path, "team-a", 7, ["a1", "a2"], 10)
    b1 = owner_plan(tmp_path, "team-b", 1, ["b1", "b2"], 20)
    with gate(tmp_path) as g:
        cli = Cli(["--state", str(state)], g)
        try:
            # team-a takes its lease and stops right before its batch.
            pa = cli.start("apply", str(a1), stops=["batch.before"], enactor="proc-a", lease_wait=0)
            parked = g.reached("batch.before", pa)
            # team-b, with no patience for a busy lease at all, is not held up by team-a's.
            rb = cli.run("apply", str(b1), enactor="proc-b", lease_wait=0)
            assert rb.code == 0, rb.err
            parked.go()
            ra = cli.finish(pa)
            assert ra.code == 0, ra.err
        finally:
            cli.close()
    model = StrictRoute53(path=state / "route53.sqlite", insync_after=0.0)
    view = ZoneView.of(ZONE, model.list_record_sets(model.resolve_zone(ZONE)))
    assert {o: f.generation for o, f in view.fences.items()} == {"team-a": 7, "team-b": 1}
    assert view.owners == {f"a1.{ZONE}": "team-a", f"a2.{ZONE}": "team-a", f"b1.{ZONE}": "team-b",
                           f"b2.{ZONE}": "team-b"}  # fmt: skip
    values = {r.name: r.values for r in view.records()}
    assert values[f"a1.{ZONE}"] == ("192.0.10.1",) and values[f"b2.{ZONE}"] == ("192.0.20.2",)
