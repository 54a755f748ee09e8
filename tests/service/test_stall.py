"""The issue's end-to-end run with real OS processes on the embedded default: three enactor
processes, a planner publishing 50 plans in quick succession, and the 2025 stall: enactor az1 is
stopped with SIGSTOP in the middle of applying an old generation (after its first batch) for longer
than the others take to apply newer generations and clean its plan up, then resumed with SIGCONT.
A watcher reading the zone every few milliseconds sees no name empty, the fence never go down, and
the newest plan live within the stated bound after the last publish."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_process import ENV, WAIT, ZONE, Lines

from safeguards.backends.strict import StrictRoute53
from safeguards.fence import find_fence, parse_fence
from safeguards.service import Enactor, Planner
from safeguards.stores.sqlite import SqlitePlanStore
from safeguards.testing.world import World, default_options, generation_of

ROOT = Path(__file__).resolve().parents[2]
NEWEST = 51
BOUND_S = 30.0  # newest live after the last publish (a loaded 2-core machine; typically 1-2 s)

ENACTOR = """
import json, sys
from safeguards.service import Enactor
from safeguards.testing.world import default_options

where, name, stall = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "stall"
paused = []
if where["kind"] == "embedded":
    from safeguards.backends.strict import StrictRoute53
    from safeguards.stores.sqlite import SqlitePlanStore

    backend = StrictRoute53(path=where["state"] + "/route53.sqlite", insync_after=0.0)
    store = SqlitePlanStore(where["state"] + "/plans.sqlite")
else:
    import boto3
    from safeguards.backends.boto3_route53 import Boto3Route53, make_route53_client
    from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client
    from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION

    session = boto3.session.Session(region_name=TEST_REGION, **TEST_CREDENTIALS)
    backend = Boto3Route53(make_route53_client(session, where["endpoint"], TEST_REGION))
    ddb = make_dynamodb_client(session, where["endpoint"], TEST_REGION)
    store = DynamoPlanStore(ddb, plan_table=where["plan_table"], lease_table=where["lease_table"])

def hook(checkpoint, **ctx):
    # The stall: after the first batch of its first apply, say so and wait for the test's go.
    if stall and not paused and checkpoint == "batch.after" and ctx.get("index") == 1:
        paused.append(ctx.get("generation"))
        print(f"PAUSED {ctx.get('generation')}", flush=True)
        sys.stdin.readline()
        print("RESUMED", flush=True)

e = Enactor.create(
    backend,
    store,
    [where["zone"]],
    enactor_id=name,
    options=default_options(lease_ttl=3.0),
    checkpoint=hook,
    interval=0.5,
    poll=0.05,
)
e.install_signal_handlers()
e.run()
print("STOPPED", flush=True)
"""


def test_fifty_plans_three_enactor_processes_and_a_sigstopped_one(tmp_path: Path) -> None:
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    store = SqlitePlanStore(tmp_path / "plans.sqlite")
    stall_run(model, store, ZONE, {"kind": "embedded", "state": str(tmp_path), "zone": ZONE}, tmp_path)


@pytest.mark.dnssg_localstack
def test_fifty_plans_three_enactor_processes_and_a_sigstopped_one_on_localstack(
    localstack_strict: str, tmp_path: Path
) -> None:
    import boto3

    from safeguards.backends.boto3_route53 import Boto3Route53, make_route53_client
    from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client
    from safeguards.stores.schema import ensure_tables
    from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION

    tag = uuid.uuid4().hex[:10]
    session = boto3.session.Session(region_name=TEST_REGION, **TEST_CREDENTIALS)
    ddb = make_dynamodb_client(session, localstack_strict, TEST_REGION)
    tables = {"plan_table": f"dnssg-stall-plans-{tag}", "lease_table": f"dnssg-stall-leases-{tag}"}
    ensure_tables(ddb, tables["plan_table"], tables["lease_table"])
    store = DynamoPlanStore(ddb, **tables)
    backend = Boto3Route53(make_route53_client(session, localstack_strict, TEST_REGION))
    zone = f"stall{tag}.example."
    where = {"kind": "localstack", "endpoint": localstack_strict, "zone": zone, **tables}
    stall_run(backend, store, zone, where, tmp_path, pause=0.0)  # a read over HTTP is the pause


def stall_run(model: Any, store: Any, zone: str, where: dict[str, str], tmp_path: Path, *, pause: float = 0.01) -> None:
    """The run itself, on `model`/`store` here and on the same `where` in the enactor processes."""
    zone_id = model.resolve_zone(zone, create=True)
    plans = World.create("guarded", 3, zone=zone)
    planner = Planner(store, renumber=False)
    planner.publish(plans.plan(1))
    Enactor.create(model, store, [zone], enactor_id="boot", options=default_options()).run_once()

    problems: list[str] = []
    samples: list[float] = []
    stop_watch = threading.Event()
    live_at: dict[int, float] = {}
    latest: list[tuple[int, int]] = []

    def watch() -> None:
        last = (0, 0)
        while not stop_watch.is_set():
            sets = model.list_record_sets(zone_id)
            samples.append(time.monotonic())
            fence = parse_fence(find_fence(sets, zone))
            values = {e: [r.values for r in sets if r.name == e and r.type == "A"] for e in plans.endpoints}
            empty = [e for e, v in values.items() if not v or not v[0]]
            if empty:
                problems.append(f"empty {empty} at {fence.label() if fence else None}")
            if fence is not None:
                if fence.rank < last:
                    problems.append(f"fence went down from {last} to {fence.rank}")
                last = max(last, fence.rank)
                latest.append(fence.rank)
                gens = {generation_of(v[0]) for v in values.values() if v}
                if fence.done and gens == {fence.content}:
                    live_at.setdefault(fence.content, time.monotonic())
            stop_watch.wait(pause)

    procs: dict[str, subprocess.Popen[str]] = {}
    lines: dict[str, Lines] = {}

    def start(name: str, stall: bool) -> None:
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", ENACTOR, json.dumps(where), name, "stall" if stall else "run"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path, env=ENV,
        )  # fmt: skip
        lines[name] = Lines(procs[name])

    watcher = threading.Thread(target=watch)
    watcher.start()
    last_live = last_publish = 0.0
    try:
        # az1 alone picks g2 up and stalls after its first batch (the canary endpoint).
        start("az1", stall=True)
        planner.publish(plans.plan(2))
        assert lines["az1"].next().strip() == "PAUSED 2"
        os.kill(procs["az1"].pid, signal.SIGSTOP)
        fence = parse_fence(find_fence(model.list_record_sets(zone_id), zone))
        assert fence is not None and (fence.generation, fence.done, fence.writer) == (2, False, "az1")
        stopped_at = time.monotonic()
        # The others run; the planner publishes g3..g51 in quick succession.
        start("az2", stall=False)
        start("az3", stall=False)
        deadline = time.monotonic() + WAIT
        for g in (3, 4, 5):  # three newer generations applied while az1 is stopped...
            planner.publish(plans.plan(g))
            while g not in live_at:
                assert time.monotonic() < deadline, f"g{g} not live; live: {sorted(live_at)}"
                stop_watch.wait(0.02)
        for g in range(6, NEWEST + 1):  # ...then 46 more in quick succession
            planner.publish(plans.plan(g))
        last_publish = time.monotonic()
        # Longer than the others take to apply 3 newer generations and clean az1's g2 up.
        deadline = time.monotonic() + WAIT
        while not (NEWEST in live_at and 2 not in store.generations(zone)):
            assert time.monotonic() < deadline, f"not converged: {store.generations(zone)}, live {sorted(live_at)[-3:]}"
            stop_watch.wait(0.05)
        assert live_at[NEWEST] - last_publish <= BOUND_S
        last_live = live_at[NEWEST]
        assert {3, 4, 5} <= set(live_at) and 2 not in live_at  # az1's g2 was never whole
        # SIGCONT: the stalled enactor goes on with its stale g2, and must not write it.
        os.kill(procs["az1"].pid, signal.SIGCONT)
        assert procs["az1"].stdin is not None
        procs["az1"].stdin.write("go\n")
        procs["az1"].stdin.flush()
        assert lines["az1"].next().strip() == "RESUMED"
        # Watched for a while after resuming (az1 runs full cycles every 0.5 s): it never writes g2.
        seen = len(latest)
        resumed_at = time.monotonic()
        while len(latest) < seen + 50 or time.monotonic() - resumed_at < 2.0:
            assert time.monotonic() < deadline + WAIT, "the watcher stopped watching"
            stop_watch.wait(0.05)
        assert {rank[0] for rank in latest[seen:]} == {NEWEST}, sorted(set(latest[seen:]))
        assert time.monotonic() - stopped_at > 0
        assert procs["az1"].poll() is None  # resumed and still running
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        codes = {n: p.wait(WAIT) for n, p in procs.items()}
        stop_watch.set()
        watcher.join(WAIT)
    assert problems == [], problems[:5]
    assert codes == {"az1": 0, "az2": 0, "az3": 0}, codes
    gaps = sorted(b - a for a, b in itertools.pairwise(samples))
    print(
        f"newest live {last_live - last_publish:.2f} s after the last publish; {len(samples)} reads, "
        f"median gap {gaps[len(gaps) // 2] * 1000:.0f} ms, p99 {gaps[int(len(gaps) * 0.99)] * 1000:.0f} ms"
    )
    assert len(samples) > 100 and gaps[len(gaps) // 2] <= 0.05  # the watcher read at least every 50 ms (median)
    values = {e: generation_of(v) for e, v in plans.values(model_sets(model, zone_id)).items()}
    assert values == dict.fromkeys(plans.endpoints, NEWEST)


def model_sets(model: Any, zone_id: str) -> list[Any]:
    return model.list_record_sets(zone_id)
