"""The race harness's in-memory plan store answers exactly as the SQLite store does: random
sequences of every operation (plans, pins, deletions under leases, lease take-overs with time
passing, applied state, the circuit) run on both, and every answer and error is compared."""

from __future__ import annotations

import random

import pytest

from safeguards.clock import VirtualClock
from safeguards.errors import SafeguardsError
from safeguards.plan import Plan
from safeguards.records import RecordSet
from safeguards.stores.memory import MemoryPlanStore
from safeguards.stores.sqlite import SqlitePlanStore

ZONES = ("example.com.", "example.org.")
HOLDERS = ("A", "B", "C")


def plan(zone: str, generation: int, variant: int = 0) -> Plan:
    records = (RecordSet(f"www.{zone}", "A", 60, (f"10.0.{variant}.{generation % 250}",)),)
    return Plan(zone, generation, records)


def outcome(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(*args, **kwargs))
    except SafeguardsError as exc:
        return ("error", type(exc).__name__, str(exc))


def call(store, op: str, args: dict):  # type: ignore[no-untyped-def]
    """Operation `op` on `store` with the drawn `args`."""
    zone, g, lease, variant = args["zone"], args["g"], args["lease"], args["variant"]
    if op == "alloc":
        return store.allocate_generation(zone)
    if op == "put":
        return store.put_plan(plan(zone, g, variant))
    if op == "get":
        return store.get_plan(zone, g)
    if op == "gens":
        return store.generations(zone)
    if op == "delete":
        return store.delete_plan(zone, g, lease, pinned_below=args["pinned"]) if lease else None
    if op == "pin":
        return store.pin_plan(zone, g, g + variant)
    if op == "lease":
        return store.acquire_lease(zone, args["holder"], 30.0)
    if op == "release":
        return store.release_lease(lease) if lease else None
    if op == "state":
        return store.state(zone)
    if op == "applied":
        return store.record_applied(zone, g, f"sum{g}", lease, known_good=args["known"]) if lease else None
    if op == "failure":
        return store.record_failure(zone, f"reason {args['i']}", threshold=3)
    if op == "success":
        return store.record_success(zone)
    assert op == "reset"
    return store.reset_circuit(zone)


OPS = ["alloc", "put", "put", "get", "gens", "delete", "delete", "pin", "lease", "lease", "release", "state",
       "applied", "applied", "failure", "success", "reset", "time", "fork"]


@pytest.mark.parametrize("seed", range(40))
def test_random_operations_answer_as_sqlite_does(seed: int) -> None:
    rng = random.Random(seed)
    clocks = VirtualClock(), VirtualClock()
    sqlite = SqlitePlanStore(":memory:", clock=clocks[0])
    memory = MemoryPlanStore(clock=clocks[1])
    leases: list = []
    answers: list = []
    for i in range(150):
        op = rng.choice(OPS)
        if op == "time":
            seconds = rng.choice([1.0, 10.0, 31.0])
            for c in clocks:
                c.advance(seconds)
            continue
        if op == "fork":  # a fork answers as the store it was forked from
            memory = memory.fork()
            continue
        g = rng.randint(1, 8)
        args = {
            "i": i,
            "zone": rng.choice(ZONES),
            "g": g,
            "lease": rng.choice(leases) if leases else None,
            "variant": rng.randint(0, 2),
            "pinned": rng.choice([None, g, g + 1, g + 3]),
            "holder": rng.choice(HOLDERS),
            "known": rng.random() < 0.5,
        }
        want = outcome(call, sqlite, op, args)
        got = outcome(call, memory, op, args)
        assert got == want, f"step {i}: {op} with {args}"
        answers.append((op, want))
        if op == "lease" and want[0] == "ok":
            leases.append(want[1])
    for zone in ZONES:
        assert memory.generations(zone) == sqlite.generations(zone)
        assert memory.state(zone) == sqlite.state(zone)
    assert len(answers) > 100


def test_the_random_sequences_reach_every_kind_of_answer() -> None:
    """What the comparison above covers, over its seeds: each kind of answer occurs."""
    seen: set = set()
    for seed in range(40):
        rng = random.Random(seed)
        clock = VirtualClock()
        store = SqlitePlanStore(":memory:", clock=clock)
        leases: list = []
        for i in range(150):
            op = rng.choice(OPS)
            if op == "time":
                clock.advance(rng.choice([1.0, 10.0, 31.0]))
                continue
            if op == "fork":
                continue
            g = rng.randint(1, 8)
            args = {
                "i": i, "zone": rng.choice(ZONES), "g": g, "lease": rng.choice(leases) if leases else None,
                "variant": rng.randint(0, 2), "pinned": rng.choice([None, g, g + 1, g + 3]),
                "holder": rng.choice(HOLDERS), "known": rng.random() < 0.5,
            }
            got = outcome(call, store, op, args)
            if op == "lease" and got[0] == "ok":
                leases.append(got[1])
            seen.add((op, got[0], got[1] if isinstance(got[1], bool) else got[1] if got[0] == "error" else None))
    kinds = {(op, kind) for op, kind, _ in seen}
    assert {("delete", "ok"), ("lease", "error"), ("put", "error"), ("applied", "error")} <= kinds
    assert ("delete", "ok", True) in seen and ("delete", "ok", False) in seen
    assert ("put", "ok", True) in seen and ("put", "ok", False) in seen
