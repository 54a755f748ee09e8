"""The world the race harness runs in: one zone on an in-memory `StrictRoute53`, a
`MemoryPlanStore` (SQLite's semantics, in memory) and a `VirtualClock`, plus the plans, the actors (planner,
guarded enactors, naive enactors) and side-effect-free views of the zone for the invariants.

Endpoints are names in the zone (``ep1``, ``ep2``, ..., and last ``regional``, the one that went
empty in 2025), each one A record set whose two values encode the generation of the plan that
wrote them, so a timeline can say which plan is live where. Plans are staged: the first endpoint
is the canary, so the guarded applier writes endpoint by endpoint too (canary, then the rest)
and can stall "after the first endpoint", like the 2025 enactor.

Besides enactors and the planner, the recovery paths are actors too: repairers (`repair`),
rollbackers (`rollback` to the previous plan), clean-up runs on their own, and a vandal (something
outside the library, a person at the console) that drops one endpoint below its minimum so the
repairers have something to do. Each actor's role is kept in `World.roles`: the invariants judge
a write by what its writer set out to do.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..applier import Applier, ApplyOptions
from ..backends.strict import StrictRoute53
from ..clock import VirtualClock
from ..errors import GuardRefused, InvalidInput, SafeguardsError, StaleGeneration
from ..fence import find_fence, parse_fence
from ..guards import GuardOptions
from ..plan import Plan
from ..records import Change, RecordKey, RecordSet
from ..retry import Backoff
from ..stores.memory import MemoryPlanStore
from .naive import NaiveEnactor, endpoint_values, read_pointers
from .scheduler import AccessTable, ActorBody, ActorContext

if TYPE_CHECKING:
    from .invariants import InvariantChecker

#: What each call of the shared objects reads and writes, for the explorer's partial-order
#: reduction (steps whose footprints do not conflict commute). Time is shared state too: the
#: store's lease decisions and the model's change status read the clock; waits advance it.
MODEL_ACCESS: AccessTable = {
    "resolve_zone": (("zone", "r"),),
    "list_record_sets": (("zone", "r"),),
    "list_record_sets_page": (("zone", "r"),),
    "change_record_sets": (("zone", "w"), ("clock", "r")),
    "get_change": (("zone", "r"), ("clock", "r")),
    "snapshot": (("zone", "r"),),
}
STORE_ACCESS: AccessTable = {
    "allocate_generation": (("plans", "r"), ("state", "w")),
    "put_plan": (("plans", "w"), ("state", "w")),
    "get_plan": (("plans", "r"),),
    "generations": (("plans", "r"),),
    "delete_plan": (("lease", "r"), ("plans", "w"), ("state", "r")),
    "pin_plan": (("plans", "w"),),
    "acquire_lease": (("lease", "w"), ("clock", "r")),
    "release_lease": (("lease", "w"),),
    "state": (("state", "r"),),
    "record_applied": (("lease", "r"), ("state", "w")),
    "record_failure": (("state", "w"),),
    "record_success": (("state", "w"),),
    "reset_circuit": (("state", "w"),),
}
CLOCK_ACCESS: AccessTable = {"now": (("clock", "r"),), "sleep": (("clock", "w"),), "advance": (("clock", "w"),)}

Kind = Literal["naive", "guarded"]
KINDS: tuple[Kind, ...] = ("naive", "guarded")
ZONE = "example.com."


def endpoint_names(n: int, zone: str = ZONE) -> list[str]:
    """`n` endpoint FQDNs: ep1 .. ep(n-1), then ``regional``."""
    if n < 1:
        raise ValueError("at least one endpoint")
    return [f"ep{i}.{zone}" for i in range(1, n)] + [f"regional.{zone}"]


def endpoint_values_for(generation: int, index: int) -> tuple[str, str]:
    """The two values plan `generation` gives endpoint number `index` (0-based)."""
    hi, lo = divmod(generation, 250)
    a, b = f"10.{hi}.{lo}.{2 * index + 1}", f"10.{hi}.{lo}.{2 * index + 2}"
    return (a, b) if a < b else (b, a)  # canonical: sorted as strings


def generation_of(values: Sequence[str]) -> int | None:
    """The generation encoded in an endpoint's values (None if they do not come from one plan)."""
    gens = set()
    for v in values:
        parts = v.split(".")
        if len(parts) != 4 or parts[0] != "10":
            return None
        gens.add(int(parts[1]) * 250 + int(parts[2]))
    return gens.pop() if len(gens) == 1 else None


def default_options(**changes: Any) -> ApplyOptions:
    """The applier's options in the harness: its defaults, except that every plan may move
    every endpoint (the race is about ordering, not blast radius), old plans are kept for 2
    generations, INSYNC is immediate and backoff is short (virtual time anyway)."""
    base: dict[str, Any] = {
        "guards": GuardOptions(max_change_fraction=1.0),
        "keep_plans": 2,
        "backoff": Backoff(base=0.2, cap=5.0, max_attempts=8),
    }
    base.update(changes)
    return ApplyOptions(**base)


@dataclass
class World:
    """One zone, its plan store and clock, and how to build the actors that act on it."""

    kind: Kind
    endpoints: list[str]
    zone: str = ZONE
    options: ApplyOptions = field(default_factory=default_options)
    keep: int = 2
    min_values: dict[str, int] = field(default_factory=dict)
    clock: VirtualClock = field(default_factory=VirtualClock)
    insync_after: float = 0.0
    bad: set[int] = field(default_factory=set)
    checker: InvariantChecker | None = None
    roles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        self.model = StrictRoute53(clock=self.clock, insync_after=self.insync_after)
        self.zone_id = self.model.resolve_zone(self.zone, create=True)
        self.store = MemoryPlanStore(clock=self.clock)
        self.model.calls.clear()

    def fork(self) -> World:
        """An independent copy of this world as it is now (zone, plans, bookkeeping, time), with
        no checker and no roles: what the explorer starts every schedule from, instead of
        building and bootstrapping a world each time."""
        clock = VirtualClock(self.clock.now())
        clock.slept = self.clock.slept
        other = World.__new__(World)
        other.__dict__.update(self.__dict__)
        other.clock = clock
        other.bad = set(self.bad)
        other.roles = {}
        other.checker = None
        other.min_values = dict(self.min_values)
        other.model = self.model.fork(clock=clock)
        other.store = self.store.fork(clock=clock)
        return other

    def memo_state(self) -> tuple[Any, ...] | None:
        """Everything a run of this world's own actors (no scheduler) depends on, as a value to
        key a memo on (hashable unless the bad-plan set or the minimums hold something odd): the
        world's settings (the options by identity), the model, the store and the clock (time and
        the total slept, both carried on). None when some part cannot be captured (see
        `StrictRoute53.memo_state`)."""
        if type(self.model) is not StrictRoute53 or type(self.store) is not MemoryPlanStore:
            return None
        clock = self.clock
        if type(clock) is not VirtualClock or self.model.clock is not clock or self.store.clock is not clock:
            return None
        model = self.model.memo_state()
        if model is None:
            return None
        return (
            self.kind,
            tuple(self.endpoints),
            self.zone,
            self.zone_id,
            Identity(self.options),  # shared by forks; hashing it field by field costs more
            self.keep,
            tuple(self.min_values.items()),
            self.insync_after,
            frozenset(self.bad),
            model,
            self.store.memo_state(),
            self.clock.now(),
            self.clock.slept,
        )

    def memo_mark(self) -> Any:
        """Taken before a run whose end `memo_delta` captures."""
        return self.model.memo_mark()

    def memo_delta(self, mark: Any) -> tuple[Any, ...]:
        """How the run since `mark` left the model, the store and the clock, for `memo_apply`."""
        return (self.model.memo_delta(mark), self.store.memo_delta(), self.clock.now(), self.clock.slept)

    def memo_apply(self, delta: tuple[Any, ...]) -> None:
        """Leave this world as the run a `memo_delta` was taken from left its own, given equal
        `memo_state`s before it."""
        model, store, now, slept = delta
        self.model.memo_apply(model)
        self.store.memo_apply(store)
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        with clock._lock:
            clock._t, clock.slept = now, slept

    @classmethod
    def create(cls, kind: Kind, endpoints: int = 3, **kw: Any) -> World:
        """A world of `kind` with `endpoints` endpoints."""
        zone = kw.pop("zone", ZONE)
        return cls(kind, endpoint_names(endpoints, zone), zone=zone, **kw)

    # ------------------------------------------------------------------ plans

    def plan(self, generation: int, *, omit: Iterable[str] = ()) -> Plan:
        """Plan `generation`: every endpoint (but `omit`) with this generation's values; the
        first endpoint is the canary."""
        skip = set(omit)
        key = (self.zone, tuple(self.endpoints), tuple(self.min_values.items()), generation, frozenset(skip))
        plan = _PLANS.get(key)
        if plan is None:
            if len(_PLANS) >= 4096:
                _PLANS.clear()
            plan = _PLANS[key] = self._plan(generation, skip)
        return plan

    def _plan(self, generation: int, skip: set[str]) -> Plan:
        records = tuple(
            sorted(
                RecordSet(e, "A", 60, endpoint_values_for(generation, i))
                for i, e in enumerate(self.endpoints)
                if e not in skip
            )
        )
        canary = (self.endpoints[0],) if len(self.endpoints) > 1 and self.endpoints[0] not in skip else ()
        mins: dict[RecordKey, int] = {(e, "A", None): m for e, m in self.min_values.items() if m != 1 and e not in skip}
        return Plan(self.zone, generation, records, canary=canary, min_values=mins)

    def publish(self, generation: int, *, omit: Iterable[str] = ()) -> Plan:
        """Put plan `generation` in the store (a planner's job). Omitting endpoints makes it a
        bad plan (a planner bug), remembered in `bad`."""
        omit = tuple(omit)
        plan = self.plan(generation, omit=omit)
        self.store.put_plan(plan)
        if omit:
            self.bad.add(generation)
        return plan

    def newest(self, *, good: bool = False) -> Plan | None:
        """The newest stored plan (`good`: the newest that is not a known bad plan)."""
        for g in reversed(self.store.generations(self.zone)):
            if good and g in self.bad:
                continue
            return self.store.get_plan(self.zone, g)
        return None

    def bootstrap(self, generation: int = 1, *, fast: bool = False, earlier: Iterable[int] = ()) -> Plan:
        """Publish plan `generation` and make it live everywhere with a healthy enactor.
        `earlier`: generations stored before it (a history a rollback can go back to).

        `fast`: write the state such a bootstrap leaves (computed once per process and shape of
        world, then copied in one batch and a few store writes): an explorer running thousands
        of schedules saves most of a full apply per schedule."""
        for g in earlier:
            self.publish(g)
        if fast:
            return self._fast_bootstrap(generation)
        plan = self.publish(generation)
        if self.kind == "guarded":
            self.applier(None, "bootstrap").apply(plan)
        else:
            self.naive(None, "bootstrap").run_round()
        return plan

    def _fast_bootstrap(self, generation: int) -> Plan:
        key = (self.kind, tuple(self.endpoints), self.zone, tuple(sorted(self.min_values.items())), generation)
        sets = _BOOTSTRAPPED.get(key)
        if sets is None:
            scratch = World(self.kind, list(self.endpoints), zone=self.zone, min_values=dict(self.min_values))
            scratch.bootstrap(generation)
            apex = {(self.zone, "NS"), (self.zone, "SOA")}
            sets = _BOOTSTRAPPED[key] = tuple(r for r in scratch.sets() if (r.name, r.type) not in apex)
        plan = self.publish(generation)
        self.model.change_record_sets(self.zone_id, [Change("CREATE", r) for r in sets], "bootstrap")
        lease = self.store.acquire_lease(self.zone, "bootstrap", self.options.lease_ttl)
        self.store.record_applied(self.zone, plan.generation, plan.checksum, lease, known_good=self.kind == "guarded")
        self.store.release_lease(lease)
        self.model.calls.clear()
        return plan

    # ------------------------------------------------------------------ views (no API calls)

    def sets(self) -> list[RecordSet]:
        """Every set of the zone, read from the model directly: no API call, no fault consumed
        (do not mutate the list)."""
        return self.model.records(self.zone_id)

    def snapshot(self) -> bytes:
        return self.model.snapshot(self.zone_id)

    def values(self, sets: Sequence[RecordSet] | None = None) -> dict[str, tuple[str, ...]]:
        """Endpoint → its values now (empty tuple: the endpoint resolves to nothing)."""
        got = endpoint_values(self.sets() if sets is None else sets, self.endpoints)
        return {e: got[e] for e in self.endpoints}

    def fence_generation(self, sets: Sequence[RecordSet] | None = None) -> int | None:
        """The zone's live generation per the fence record (guarded worlds)."""
        fence = parse_fence(find_fence(self.sets() if sets is None else sets, self.zone))
        return fence.generation if fence else None

    def pointers(self, sets: Sequence[RecordSet] | None = None) -> dict[str, int | None]:
        """Endpoint → the generation its naive live-plan pointer names (naive worlds)."""
        return read_pointers(self.sets() if sets is None else sets, self.endpoints)

    @staticmethod
    def label(values: Sequence[str]) -> str:
        """A short name for an endpoint's content: ``g6``, ``EMPTY`` or ``mixed``."""
        if not values:
            return "EMPTY"
        g = generation_of(values)
        return f"g{g}" if g is not None else "mixed"

    # ------------------------------------------------------------------ actors

    def backend_for(self, actor: str) -> Any:
        """The backend an actor uses: the model, observed by the checker if one is attached."""
        if self.checker is None:
            return self.model
        from .invariants import ObservedBackend

        return ObservedBackend(self, self.checker, actor)

    def applier(self, ctx: ActorContext | None, name: str | None = None, **options: Any) -> Applier:
        """A guarded Applier for actor `ctx` (bound to the scheduler: its checkpoints park it,
        its I/O stops when it crashes), or a free one when `ctx` is None."""
        name = name or (ctx.name if ctx else "enactor")
        backend, store, clock = self._ports(ctx, name)
        opts = self.options if not options else _replace(self.options, **options)
        return Applier(
            backend,
            store,
            enactor_id=name,
            options=opts,
            clock=clock,
            checkpoint=ctx.checkpoint if ctx else _no_checkpoint,
            rng=random.Random(f"{name}/{ctx.incarnation if ctx else 0}"),
        )

    def naive(self, ctx: ActorContext | None, name: str | None = None) -> NaiveEnactor:
        """A naive enactor, bound to the scheduler like `applier`."""
        name = name or (ctx.name if ctx else "naive")
        backend, store, clock = self._ports(ctx, name)
        return NaiveEnactor(
            backend,
            store,
            self.zone,
            self.endpoints,
            enactor_id=name,
            keep=self.keep,
            checkpoint=ctx.checkpoint if ctx else _no_checkpoint,
            clock=clock,
            backoff=self.options.backoff,
            rng=random.Random(f"{name}/{ctx.incarnation if ctx else 0}"),
        )

    def _ports(self, ctx: ActorContext | None, name: str) -> tuple[Any, Any, Any]:
        """Backend, store and clock for actor `name`: guarded (crash cut-off, footprints) under
        a scheduler."""
        backend = self.backend_for(name)
        if ctx is None:
            return backend, self.store, self.clock
        return (
            ctx.guard(backend, name="zone", access=MODEL_ACCESS),
            ctx.guard(self.store, name="store", access=STORE_ACCESS),
            ctx.guard(self.clock, name="clock", access=CLOCK_ACCESS),
        )

    def enactor_body(self, rounds: int = 1) -> ActorBody:
        """An enactor of this world's kind: `rounds` rounds of (pick the newest plan, apply it,
        clean up), with a ``round.end`` checkpoint between rounds."""

        def body(ctx: ActorContext) -> str:
            self.roles[ctx.name] = "enactor"
            outcomes: list[str] = []
            if self.kind == "guarded":
                applier = self.applier(ctx)
                step: Callable[[], str] = lambda: self.guarded_round(applier, ctx.name)  # noqa: E731
            else:
                naive = self.naive(ctx)
                step = lambda: _naive_round(naive)  # noqa: E731
            for r in range(rounds):
                if r:
                    ctx.checkpoint("round.end", enactor=ctx.name, round=r, outcome=outcomes[-1])
                outcomes.append(step())
            return "; ".join(outcomes)

        return body

    def planner_body(self, generations: Sequence[int], *, bad: Iterable[int] = ()) -> ActorBody:
        """The planner: publishes `generations` one per step; those in `bad` omit the last
        endpoint (a planner bug that would empty it). A generation already taken by other
        content (another writer of plans, such as a pre-issue-11 repair that allocated numbers)
        moves to the next free one; a restarted planner re-publishing the same plan is a no-op.
        Rollbacks and repairs no longer take generations: they write revisions of the live one."""
        broken = set(bad)

        def body(ctx: ActorContext) -> str:
            self.roles[ctx.name] = "planner"
            store = ctx.guard(self.store, name="store", access=STORE_ACCESS)
            published = []
            for intended in generations:
                g = self._put(store, intended, intended in broken)
                published.append(g)
                ctx.checkpoint("plan.published", generation=g, bad=intended in broken)
            return f"published {', '.join(f'g{g}' for g in published)}" if published else "published nothing"

        return body

    def repairer_body(self, rounds: int = 1) -> ActorBody:
        """A repairer: `rounds` times `repair` (restore the live content on names below their
        minimum, finish a half-applied generation), ``round.end`` between rounds."""
        return self._recovery_body("repair", rounds, lambda a: _describe(a.repair(self.zone)))

    def rollbacker_body(self, rounds: int = 1, *, to: int | None = None) -> ActorBody:
        """A rollbacker: `rounds` times `rollback` (to the previous plan, or `to`). Like an
        operator, it never names a plan known to be bad (a planner bug the guards refused): when
        the library's default target would be one, it names the previous good plan instead (see
        tests/race/test_recovery_actors.py for what the default does with a refused plan)."""

        def roll(applier: Applier) -> str:
            target = to
            if target is None:
                live = applier.status(self.zone).fence
                earlier = [g for g in applier.store.generations(self.zone) if live and g < live.content]
                if earlier and earlier[-1] in self.bad:
                    good = [g for g in earlier if g not in self.bad]
                    if not good:
                        return "nothing good to roll back to"
                    target = good[-1]
            return _describe(applier.rollback(self.zone, to=target))

        return self._recovery_body("rollback", rounds, roll)

    def cleaner_body(self, rounds: int = 1) -> ActorBody:
        """Clean-up on its own (not after an apply): `rounds` times `cleanup`."""

        def clean(applier: Applier) -> str:
            deleted = applier.cleanup(self.zone)
            return f"deleted plans {', '.join(f'g{g}' for g in deleted)}" if deleted else "deleted nothing"

        return self._recovery_body("cleanup", rounds, clean)

    def _recovery_body(self, role: str, rounds: int, op: Callable[[Applier], str]) -> ActorBody:
        def body(ctx: ActorContext) -> str:
            self.roles[ctx.name] = role
            applier = self.applier(ctx)
            outcomes: list[str] = []
            for r in range(rounds):
                if r:
                    ctx.checkpoint("round.end", enactor=ctx.name, round=r, outcome=outcomes[-1])
                try:
                    outcomes.append(op(applier))
                except SafeguardsError as exc:
                    outcomes.append(f"{type(exc).__name__}: {exc}")
            return "; ".join(outcomes)

        return body

    def vandal_body(self, endpoint: str | None = None) -> ActorBody:
        """Something outside the library (a person at the console, another tool) drops
        `endpoint` (default: the first) to a single value, below its minimum: one unconditional
        change that no fence sees. What repairs are for."""
        target = endpoint or self.endpoints[0]

        def body(ctx: ActorContext) -> str:
            self.roles[ctx.name] = "vandal"
            model = ctx.guard(self.model, name="zone", access=MODEL_ACCESS)
            current = next(
                (r for r in model.list_record_sets(self.zone_id) if r.name == target and r.type == "A"), None
            )
            if current is None or len(current.values) < 2:
                return f"nothing to drop at {target.split('.', 1)[0]}"
            reduced = RecordSet(current.name, "A", current.ttl, current.values[:1])
            model.change_record_sets(self.zone_id, [Change("DELETE", current), Change("CREATE", reduced)], "vandal")
            return f"dropped {target.split('.', 1)[0]} to {reduced.values[0]}"

        return body

    def publish_next(self, *, bad: bool = False) -> Plan:
        """Publish a plan under the next free generation (the planner's side of sharing the
        generation space with rollbacks)."""
        g = self._put(self.store, self.store.allocate_generation(self.zone), bad)
        plan = self.store.get_plan(self.zone, g)
        assert plan is not None
        return plan

    def _put(self, store: Any, generation: int, bad: bool) -> int:
        omit = self.endpoints[-1:] if bad else ()
        try:
            store.put_plan(self.plan(generation, omit=omit))
        except InvalidInput:  # taken by other content: the next free generation
            generation = store.allocate_generation(self.zone)
            store.put_plan(self.plan(generation, omit=omit))
        if bad:
            self.bad.add(generation)
        return generation

    def guarded_round(self, applier: Applier, actor: str) -> str:
        """One round of a guarded enactor: apply the newest plan, then clean up. Expected
        refusals end the round (returned as text); a refusal is checked for I5."""
        gens = applier.store.generations(self.zone)
        if not gens:
            return "no plan"
        plan = applier.store.get_plan(self.zone, gens[-1])
        assert plan is not None
        before = self.checker.changes_by(actor) if self.checker else 0
        try:
            result = applier.apply(plan)
        except (GuardRefused, InvalidInput) as exc:
            if self.checker:
                self.checker.refused_plan(actor, plan, before)
            if isinstance(exc, GuardRefused):
                return f"refused g{plan.generation} by the {exc.guard} guard"
            return f"refused g{plan.generation} as invalid: {exc}"
        except StaleGeneration as exc:
            return f"StaleGeneration: g{exc.live} is live, g{plan.generation} refused"
        except SafeguardsError as exc:
            return f"{type(exc).__name__} on g{plan.generation}: {exc}"
        text = f"{result.outcome} g{plan.generation}"
        try:
            deleted = applier.cleanup(self.zone)
        except SafeguardsError as exc:
            return f"{text}; clean-up: {type(exc).__name__}: {exc}"
        return text + (f"; deleted plans {', '.join(f'g{g}' for g in deleted)}" if deleted else "")

    def healthy_round(self) -> str:
        """One round of a healthy enactor of this world's kind (no scheduler, no faults), after
        every lease has expired: what I4 (convergence) is judged on."""
        self.model.faults.clear()
        self.clock.advance(self.options.lease_ttl + 1)
        if self.kind == "naive":
            return _naive_round(self.naive(None, "healthy"))
        plan = self.newest(good=True)
        if plan is None:
            return "no plan"
        applier = self.applier(None, "healthy")
        note = ""
        if self.store.state(self.zone).circuit_open:
            # A person looks at the failures and closes the circuit (the checker judges why it
            # opened: refusing bad plans is the circuit doing its job).
            applier.reset_circuit(self.zone)
            note = "circuit reset, then "
        try:
            text = f"{applier.apply(plan).outcome} g{plan.generation}"
        except StaleGeneration as exc:
            # Rolled back (by a rollback, or a failed gate's restore): the content it names stays.
            text = f"StaleGeneration: {exc}"
        except SafeguardsError as exc:
            return f"{note}{type(exc).__name__}: {exc}"
        try:
            # A healthy round also repairs what is below its minimum (the vandal's damage under
            # a rolled-back generation, a restore left half-written) and cleans up.
            repaired = applier.repair(self.zone)
            if repaired.outcome != "noop":
                text += f"; {_describe(repaired)}"
            applier.cleanup(self.zone)
        except SafeguardsError as exc:
            return f"{note}{text}; {type(exc).__name__}: {exc}"
        return f"{note}{text}"


class Identity:
    """A key part equal only to itself's object (`is`), hashed by identity: for objects shared
    by every fork of a world (the options) whose field-by-field hash would cost more. It holds
    the object, so its id cannot be reused while a key holds it."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other.obj is self.obj


#: Plans by world shape, generation and omitted endpoints (see `World.plan`): immutable, shared
#: (their checksums are computed once), this process's.
_PLANS: dict[tuple[Any, ...], Plan] = {}


#: Record sets a bootstrap leaves, per shape of world (see `World.bootstrap(fast=True)`).
_BOOTSTRAPPED: dict[tuple[Any, ...], tuple[RecordSet, ...]] = {}


def _describe(result: Any) -> str:
    """``repaired g3.r1``, ``noop g3``, ``rolled-back g3.r1 (to g2)``: one result, short."""
    rev = f".r{result.revision}" if getattr(result, "revision", 0) else ""
    to = f" (to g{result.rolled_back_to})" if getattr(result, "rolled_back_to", None) is not None else ""
    return f"{result.outcome} g{result.generation}{rev}{to}"


def _naive_round(naive: NaiveEnactor) -> str:
    try:
        return str(naive.run_round())
    except SafeguardsError as exc:
        return f"{type(exc).__name__}: {exc}"


def _no_checkpoint(name: str, **context: Any) -> None:
    return None


def _replace(options: ApplyOptions, **changes: Any) -> ApplyOptions:
    import dataclasses

    return dataclasses.replace(options, **changes)
