"""Helpers for the applier's LocalStack tests: a fresh zone and plan store per test, checkpoint
gates that park an enactor thread until the test lets it go, and a monitor that reads the zone
at every checkpoint (the invariants are checked on what Route 53 held, not on what an enactor
believed).

Everything goes through the real library over HTTP: `Boto3Route53` and `DynamoPlanStore` on
clients from `make_route53_client` / `make_dynamodb_client` (the production wiring). Only time is
virtual: the store and the appliers share a `VirtualClock`, so a stalled enactor's lease can be
made to expire without waiting, and backoff sleeps cost nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from safeguards.applier import Applier, ApplyOptions
from safeguards.backends.boto3_route53 import Boto3Route53, make_route53_client
from safeguards.checkpoints import NO_CHECKPOINTS, Checkpoint
from safeguards.clock import VirtualClock
from safeguards.fence import Fence, find_fence, parse_fence
from safeguards.plan import Plan
from safeguards.records import RecordSet
from safeguards.stores.dynamodb import DynamoPlanStore, make_dynamodb_client
from safeguards.stores.schema import ensure_tables
from safeguards.testing.localstack import TEST_CREDENTIALS, TEST_REGION

#: Bound on every wait in these tests: nothing may hang the suite.
WAIT_S = 60.0


def tag() -> str:
    """A short unique token, so tests on a shared (possibly reused) LocalStack never collide."""
    return uuid.uuid4().hex[:10]


def session() -> Any:
    """A boto3 session with LocalStack's test credentials."""
    return boto3.session.Session(region_name=TEST_REGION, **TEST_CREDENTIALS)


def route53(endpoint: str) -> Boto3Route53:
    """The library's Route 53 backend on `endpoint`, with the production client settings."""
    return Boto3Route53(make_route53_client(session(), endpoint, TEST_REGION))


def free_port() -> int:
    """A TCP port nothing listens on now, whose LocalStack DNS port (port + 10787) is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10787 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port + 10787))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


# ---------------------------------------------------------------------- one zone + one store


@dataclass
class Env:
    """A fresh hosted zone on one endpoint and a fresh plan store (two new DynamoDB tables)."""

    endpoint: str
    zone: str
    backend: Boto3Route53
    store: DynamoPlanStore
    clock: VirtualClock
    plan_table: str
    lease_table: str
    options: ApplyOptions = field(default_factory=ApplyOptions)
    zone_id: str = ""

    def applier(
        self,
        enactor: str = "a",
        *,
        checkpoint: Checkpoint = NO_CHECKPOINTS,
        backend: Boto3Route53 | None = None,
        **opts: Any,
    ) -> Applier:
        """An enactor on this zone; each gets its own backend (client) unless given one, as
        separate processes would. `opts` override fields of the env's ApplyOptions."""
        options = dataclasses.replace(self.options, **opts)
        return Applier(
            backend or route53(self.endpoint), self.store, enactor_id=enactor, options=options, clock=self.clock,
            checkpoint=checkpoint,
        )  # fmt: skip

    def create_zone(self) -> str:
        self.zone_id = self.backend.resolve_zone(self.zone, create=True)
        return self.zone_id

    def sets(self) -> dict[Any, RecordSet]:
        """The zone's record sets by key, read now."""
        return {r.key: r for r in self.backend.list_record_sets(self.zone_id)}

    def fence(self) -> Fence | None:
        """The zone's fence, read now."""
        return parse_fence(find_fence(self.backend.list_record_sets(self.zone_id), self.zone))

    def live(self) -> int | None:
        f = self.fence()
        return f.generation if f else None

    def snapshot(self) -> bytes:
        """The zone exactly as ListResourceRecordSets returns it (every page), as bytes."""
        return raw_snapshot(self.backend.client, self.zone_id)


def raw_snapshot(client: Any, zone_id: str) -> bytes:
    """Every ListResourceRecordSets page of the zone, serialised: equal bytes mean an identical zone."""
    pages = []
    kwargs: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": "300"}
    while True:
        page = client.list_resource_record_sets(**kwargs)
        pages.append(page["ResourceRecordSets"])
        if not page.get("IsTruncated"):
            break
        kwargs = {"HostedZoneId": zone_id, "MaxItems": "300", "StartRecordName": page["NextRecordName"]}
        if "NextRecordType" in page:
            kwargs["StartRecordType"] = page["NextRecordType"]
        if "NextRecordIdentifier" in page:
            kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    return json.dumps(pages, sort_keys=True, default=str).encode()


def make_env(
    endpoint: str,
    *,
    store_endpoint: str | None = None,
    create_zone: bool = True,
    options: ApplyOptions | None = None,
) -> Env:
    """A new zone on `endpoint` and new plan/lease tables on `store_endpoint` (default: the same)."""
    t = tag()
    clock = VirtualClock()
    ddb = make_dynamodb_client(session(), store_endpoint or endpoint, TEST_REGION)
    plan_table, lease_table = f"dnssg-plans-{t}", f"dnssg-leases-{t}"
    ensure_tables(ddb, plan_table, lease_table)
    env = Env(
        endpoint=endpoint,
        zone=f"z{t}.example.",
        backend=route53(endpoint),
        store=DynamoPlanStore(ddb, plan_table=plan_table, lease_table=lease_table, clock=clock),
        clock=clock,
        plan_table=plan_table,
        lease_table=lease_table,
        options=options or ApplyOptions(),
    )
    if create_zone:
        env.create_zone()
    return env


def rs(zone: str, label: str, *values: str, rtype: str = "A", ttl: int = 60) -> RecordSet:
    """A record set at `label` ("@" for the apex) of `zone`."""
    return RecordSet(zone if label == "@" else f"{label}.{zone}", rtype, ttl, tuple(sorted(values)))


def plan(zone: str, generation: int, *records: RecordSet, **kw: Any) -> Plan:
    return Plan(zone, generation, tuple(sorted(records)), **kw)


# ---------------------------------------------------------------------- threads and checkpoints


class GateTimeout(RuntimeError):
    """A parked enactor was never released (the test is broken): fail instead of hanging."""


class Gate:
    """Checkpoint hook: the first thread reaching checkpoint `name` with a context matching
    `when` is parked until `release()`; `reached` tells the test it got there. The test then does
    whatever the interleaving needs (another enactor runs, the clock jumps, LocalStack stops)."""

    def __init__(self, name: str, when: Callable[[Mapping[str, Any]], bool] = lambda ctx: True) -> None:
        self.name = name
        self.when = when
        self.reached = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._fired = False
        self.context: dict[str, Any] = {}

    def __call__(self, name: str, **ctx: Any) -> None:
        if name != self.name or not self.when(ctx):
            return
        with self._lock:
            if self._fired:
                return
            self._fired = True
        self.context = dict(ctx)
        self.reached.set()
        if not self._release.wait(WAIT_S):
            raise GateTimeout(f"gate at {self.name} was not released within {WAIT_S:.0f} s")

    def wait(self) -> dict[str, Any]:
        """Block until an enactor is parked here; its checkpoint context."""
        if not self.reached.wait(WAIT_S):
            raise AssertionError(f"no enactor reached checkpoint {self.name} within {WAIT_S:.0f} s")
        return self.context

    def release(self) -> None:
        self._release.set()


def hooks(*parts: Checkpoint) -> Checkpoint:
    """One checkpoint hook calling each of `parts` in order."""

    def call(name: str, **ctx: Any) -> None:
        for part in parts:
            part(name, **ctx)

    return call


class Actor:
    """Runs `fn` in a thread (an enactor); keeps its result or the exception it ended with."""

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        self.name = name
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=f"enactor-{name}", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:  # the test inspects it
            self.error = exc

    def join(self) -> Actor:
        self._thread.join(WAIT_S)
        if self._thread.is_alive():
            raise AssertionError(f"enactor {self.name} still running after {WAIT_S:.0f} s")
        return self


# ---------------------------------------------------------------------- what Route 53 held


@dataclass(frozen=True)
class Observation:
    """The zone as read at one checkpoint of one enactor."""

    actor: str
    checkpoint: str
    fence: int | None
    values: Mapping[str, tuple[str, ...]]  # endpoint -> every value at that name
    pointers: Mapping[str, int | None]  # endpoint -> naive live-plan pointer (None if absent)


class Monitor:
    """Checkpoint hook reading the zone (through its own client) each time any enactor passes a
    checkpoint; `check` names every invariant violation seen."""

    def __init__(self, env: Env, endpoints: Sequence[str], minimum: int = 1) -> None:
        self.backend = route53(env.endpoint)
        self.env = env
        self.endpoints = list(endpoints)
        self.minimum = minimum
        self.seen: list[Observation] = []
        self._lock = threading.Lock()

    def observe(self, actor: str = "test", checkpoint: str = "now") -> Observation:
        sets = self.backend.list_record_sets(self.env.zone_id)
        fence = parse_fence(find_fence(sets, self.env.zone))
        values = {e: tuple(sorted(v for r in sets if r.name == e for v in r.values)) for e in self.endpoints}
        pointers = read_pointers(sets, self.endpoints)
        obs = Observation(actor, checkpoint, fence.generation if fence else None, values, pointers)
        with self._lock:
            self.seen.append(obs)
        return obs

    def __call__(self, name: str, **ctx: Any) -> None:
        self.observe(str(ctx.get("enactor", "?")), name)

    def emptied(self) -> list[str]:
        """'endpoint at actor/checkpoint' for every observation where an endpoint that had been
        deployed (seen with enough values) had fewer than `minimum` values: I1 broken."""
        out: list[str] = []
        deployed: set[str] = set()
        for o in self.seen:
            for e, v in o.values.items():
                if len(v) >= self.minimum:
                    deployed.add(e)
                elif e in deployed:
                    out.append(f"{e} at {o.actor}/{o.checkpoint}")
        return out

    def fence_went_down(self) -> list[str]:
        """Every step at which the zone's fence generation became lower than the step before: I2 broken."""
        out: list[str] = []
        last = None
        for o in self.seen:
            if o.fence is not None:
                if last is not None and o.fence < last:
                    out.append(f"fence {last} -> {o.fence} at {o.actor}/{o.checkpoint}")
                last = o.fence
        return out

    def pointer_went_down(self) -> list[str]:
        """Every step at which an endpoint's naive live-plan pointer became lower than the step before."""
        out: list[str] = []
        last: dict[str, int] = {}
        for o in self.seen:
            for e, p in o.pointers.items():
                if p is None:
                    continue
                if e in last and p < last[e]:
                    out.append(f"{e}: g{last[e]} -> g{p} at {o.actor}/{o.checkpoint}")
                last[e] = p
        return out


def endpoints_of(plans: Iterable[Plan]) -> list[str]:
    return sorted({r.name for p in plans for r in p.records})


# ---------------------------------------------------------------------- the naive enactor of 2025

POINTER_LABEL = "_naive-plan"


def pointer_rrset(endpoint: str, generation: int) -> RecordSet:
    """The naive enactor's "plan g is live here" record beside `endpoint`."""
    return RecordSet(f"{POINTER_LABEL}.{endpoint}", "TXT", 60, (f'"gen={generation}"',))


def read_pointers(sets: Iterable[RecordSet], endpoints: Iterable[str]) -> dict[str, int | None]:
    """Endpoint -> the generation its naive pointer names (None: no pointer)."""
    by_name = {r.name: r for r in sets if r.type == "TXT"}
    out: dict[str, int | None] = {}
    for e in endpoints:
        r = by_name.get(f"{POINTER_LABEL}.{e}")
        text = r.values[0].strip('"') if r and len(r.values) == 1 else ""
        out[e] = int(text[4:]) if text.startswith("gen=") and text[4:].isdigit() else None
    return out


class NaiveEnactor:
    """What the 2025 enactor did (kept tiny; only to prove the harness has teeth): pick the newest
    plan, check once that it is newer than the last applied one, UPSERT each endpoint (one batch per
    endpoint, with its pointer), then delete plans more than `keep` generations older and, with each,
    the records of every endpoint whose pointer names it. No condition on any write."""

    def __init__(
        self, env: Env, endpoints: Sequence[str], *, name: str, keep: int = 2, checkpoint: Checkpoint = NO_CHECKPOINTS
    ) -> None:
        self.backend = route53(env.endpoint)
        self.env = env
        self.endpoints = list(endpoints)
        self.name = name
        self.keep = keep
        self.checkpoint = checkpoint

    def _cp(self, name: str, **ctx: Any) -> None:
        self.checkpoint(name, enactor=self.name, zone=self.env.zone, **ctx)

    def run_round(self) -> int:
        """One round; the generation it picked."""
        from safeguards.records import Change

        store, zone, zone_id = self.env.store, self.env.zone, self.env.zone_id
        picked = store.get_plan(zone, store.generations(zone)[-1])
        assert picked is not None
        last = store.state(zone).applied_generation
        self._cp("fence.checked", generation=picked.generation, live=last)  # the only freshness check
        if last is None or picked.generation > last:
            for index, endpoint in enumerate(self.endpoints, 1):
                self._cp("batch.before", generation=picked.generation, index=index, endpoint=endpoint)
                changes = [Change("UPSERT", r) for r in picked.records if r.name == endpoint]
                changes.append(Change("UPSERT", pointer_rrset(endpoint, picked.generation)))
                self.backend.change_record_sets(zone_id, changes, f"naive g{picked.generation}")
                self._cp("batch.after", generation=picked.generation, index=index, endpoint=endpoint)
            self._with_lease(
                lambda lease: store.record_applied(zone, picked.generation, picked.checksum, lease, known_good=False)
            )
        for g in [g for g in store.generations(zone) if g < picked.generation - self.keep]:
            self._cp("cleanup.before", generation=g)
            sets = self.backend.list_record_sets(zone_id)
            victims = {e for e, p in read_pointers(sets, self.endpoints).items() if p == g}
            doomed = [Change("DELETE", r) for r in sets if r.name in victims]
            if doomed:
                self.backend.change_record_sets(zone_id, doomed, f"naive cleanup g{g}")
            self._with_lease(lambda lease, g=g: store.delete_plan(zone, g, lease))
            self._cp("cleanup.after", generation=g)
        return picked.generation

    def _with_lease(self, fn: Callable[[Any], Any]) -> None:
        # Taken for one statement only: it protects nothing, like the unconditional writes of 2025.
        lease = self.env.store.acquire_lease(self.env.zone, self.name, 60.0)
        try:
            fn(lease)
        finally:
            self.env.store.release_lease(lease)


class Events(logging.Handler):
    """Collects the applier's decision log records (logger "safeguards") while installed, whatever
    the logging configuration (the CLI's turns propagation off, so caplog may see nothing)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def named(self, event: str) -> list[dict[str, Any]]:
        """The `fields` of every record of `event`, in order."""
        return [dict(getattr(r, "fields", {})) for r in self.records if getattr(r, "event", None) == event]

    def __enter__(self) -> Events:
        logger = logging.getLogger("safeguards")
        self._level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("safeguards")
        logger.removeHandler(self)
        logger.setLevel(self._level)


def pending_throttles(endpoint: str) -> int:
    """How many injected faults the strict provider at `endpoint` still holds (GET /_dnssg/faults)."""
    import urllib.request

    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_dnssg/faults", timeout=5) as response:
        return int(json.loads(response.read())["throttle"])
