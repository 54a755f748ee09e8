"""State keys for the explorer's state caching: one hashable summary of everything that decides
what a schedule can still do and what the invariant checker will still report.

The global state of a run between two steps is:

- the world: the zone's record sets, the model's change log (ids and submission times, the next
  id) and the undo of each zone's latest batch (what a stale read returns), armed faults; the
  plan store's plans (generation, content checksum, pin), zone bookkeeping and leases; the
  virtual clock; the world's bad-plan set and actors' roles;
- the invariant checker's history: floors a vandal lowered, decided fences, the last fence each
  actor wrote, rank and content high-water marks, batch counts, violations already open (a
  condition is reported once), ...;
- the scheduler: per actor, finished or not, its incarnation, restarts left, where it is parked
  (checkpoint and context);
- each running actor's local state (its Python frames). It is not read directly: actors are
  deterministic code whose only inputs from shared state are the results of the calls they make
  through `ActorContext.guard` (the scheduler folds each result, or the exception raised, into the
  actor's `seen` while `Scheduler.observe` is set to `observed`), so incarnation + `seen`
  identifies the local state. One unguarded read exists (`World.guarded_round` keeps
  `checker.changes_by(actor)` from the start of its round): it is the checker's count now minus
  the round's own batches, which the count (in the key) and the actor's observations determine.
  Finished actors contribute nothing but "finished": they never run again, and nothing checked
  reads their outcome.
- the explorer's own: faults used so far (the budget left decides the choices).

Values are folded by value, never by identity (`id()` is reused after garbage collection):
primitives, tuples, lists, dicts, sets, frozen dataclasses compared by value, plans by their
content checksum, exceptions by type, message and attributes. Anything else makes the state
unique (`_unique`): the search then never prunes at it, which costs time but never soundness;
`UNKNOWN_TYPES` records such types so a test can insist there are none.

Attributes of the world's objects are classified: folded, or ignored with a reason (caches of
facts, counters only reports read, locks, constants of the scope). An attribute that is in
neither list (one added since) is folded generically: sound by default, and `unclassified`
reports it so a test can ask for it to be classified.

The key is a 64-bit `hash` of these values (state caching in the style of SPIN's hash compaction):
two different states collide with probability about n²/2⁶⁵ for n stored states (1e-6 at ten
million), and a collision could only prune a state that was not explored.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plan import Plan

if TYPE_CHECKING:
    from .invariants import InvariantChecker
    from .scheduler import Scheduler
    from .world import World

#: Types met in a state that could not be folded by value (the state was made unique instead).
UNKNOWN_TYPES: set[str] = set()
_UNIQUE = itertools.count()

_PRIMITIVE = frozenset({type(None), bool, int, float, str, bytes})
#: Types whose instances hash and compare by value (frozen dataclasses whose fields all do):
#: returned as they are. Learnt per type, from the first instance whose fields all fold to
#: themselves.
_BY_VALUE: set[type] = set()
_FIELDS: dict[type, tuple[tuple[str, ...], bool] | None] = {}


class _Tag:
    """Marks what a folded tuple stands for, so that values of different kinds never fold to
    equal tuples (a list and a tuple of the same items, a map and a set of pairs). Compared by
    identity: tags live as long as the process, and keys are compared within one process."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_TUPLE, _LIST, _MAP, _SET, _EXC, _PLAN, _COUNT, _UNIQUE_TAG = map(
    _Tag, ("tuple", "list", "map", "set", "exc", "plan", "count", "unique")
)


def _unique(value: Any) -> tuple[Any, ...]:
    UNKNOWN_TYPES.add(type(value).__qualname__)
    return (_UNIQUE_TAG, next(_UNIQUE))


def fold(value: Any) -> Any:
    """`value` as a hashable value compared by value (see the module doc): primitives and
    by-value types as they are, tuples as they are when their items are, the rest as tagged
    tuples."""
    t = type(value)
    if t in _PRIMITIVE or t in _BY_VALUE:
        return value
    if t is tuple:
        items = tuple(map(fold, value))
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return (_TUPLE, *items)
    if t is list:
        return (_LIST, *map(fold, value))
    if t is Plan:
        # Immutable; the checksum covers zone, owner, records, minimums, retirements, canary.
        return (_PLAN, value.zone, value.generation, value.checksum, value.declared_checksum, value.signature)
    if isinstance(value, Mapping):
        return (_MAP, frozenset((fold(k), fold(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return (_SET, frozenset(map(fold, value)))
    if isinstance(value, BaseException):
        attrs = getattr(value, "__dict__", {})
        return (_EXC, t.__qualname__, str(value), fold(value.args), fold(attrs))
    if isinstance(value, itertools.count):
        return (_COUNT, repr(value))
    if t not in _FIELDS:
        _FIELDS[t] = _dataclass_fields(t)
    spec = _FIELDS[t]
    if spec is None:
        return _unique(value)
    names, hashable = spec
    raw = [getattr(value, f) for f in names]
    items = tuple(map(fold, raw))
    if hashable and all(a is b for a, b in zip(items, raw, strict=True)):
        # Every field folded to itself: this frozen dataclass hashes by value (all fields compared).
        _BY_VALUE.add(t)
        return value
    return (t, *items)


def _dataclass_fields(t: type) -> tuple[tuple[str, ...], bool] | None:
    """A dataclass's fields, and whether it hashes by all of them (frozen, compared, hashed)."""
    if not dataclasses.is_dataclass(t):
        return None
    fields = dataclasses.fields(t)
    params = t.__dataclass_params__  # type: ignore[attr-defined]
    hashable = bool(params.eq and params.frozen and all(f.compare and f.hash is not False for f in fields))
    return tuple(f.name for f in fields), hashable


def observed(seen: int, method: str, value: Any, raised: bool) -> int:
    """`Scheduler.observe` for state caching: `seen` with one more guarded call's result folded in."""
    return hash((seen, method, raised, fold(value)))


# ---------------------------------------------------------------------------------- the world

#: Attributes of the world, its model and its store: how each is covered.
WORLD_FOLDED = frozenset({"bad", "roles"})
WORLD_IGNORED = {
    "kind": "constant of the scope",
    "endpoints": "constant of the scope",
    "zone": "constant of the scope",
    "zone_id": "constant of the scope",
    "options": "constant of the scope",
    "keep": "constant of the scope",
    "min_values": "constant of the scope",
    "insync_after": "constant of the scope",
    "checker": "the checker is keyed on its own",
    "clock": "keyed as the time it reads",
    "model": "keyed by `_model_key`",
    "store": "keyed by `_store_key`",
}
MODEL_FOLDED = frozenset({"_zones", "_changes", "_ids", "_undo", "faults", "rate_limit"})
MODEL_IGNORED = {
    "clock": "the world's clock, keyed there",
    "quotas": "constant",
    "insync_after": "constant",
    "calls": "counts for reports; nothing under test reads it",
    "_lock": "a lock",
    "_path": "in-memory models only",
    "_db": "in-memory models only",
    "_verdicts": "a cache of facts about (batch, zone content): the same answer whatever its content",
}
STORE_FOLDED = frozenset({"_plans", "_states", "_leases"})
STORE_IGNORED = {"clock": "the world's clock, keyed there", "_lock": "a lock"}
CHECKER_IGNORED = {
    "world": "keyed on its own",
    "violations": "what was reported is the path's; what can still be reported is in `_open` and the rest",
    "_scheduler": "keyed on its own",
    "_step": "the step number (for reports)",
    "_trust": "constant of the run",
    "finished": "false until the end of the run",
    "healthy_outcome": "set at the end of the run",
}


def unclassified(world: World, checker: InvariantChecker) -> dict[str, list[str]]:
    """Attributes the key folds generically because they are in neither list above."""
    out = {
        "world": sorted(set(vars(world)) - WORLD_FOLDED - set(WORLD_IGNORED)),
        "model": sorted(set(vars(world.model)) - MODEL_FOLDED - set(MODEL_IGNORED)),
        "store": sorted(set(vars(world.store)) - STORE_FOLDED - set(STORE_IGNORED)),
    }
    return {k: v for k, v in out.items() if v}


def _rest(obj: Any, folded: frozenset[str], ignored: Mapping[str, str]) -> tuple[Any, ...]:
    """Attributes of `obj` in neither list, folded (sound by default)."""
    return tuple((k, fold(v)) for k, v in sorted(vars(obj).items()) if k not in folded and k not in ignored)


def _model_key(model: Any) -> tuple[Any, ...]:
    zones = tuple((zid, tuple(model.records(zid))) for zid in sorted(model._zones))
    armed = frozenset((k, n) for k, n in model.faults._armed.items() if n > 0)
    rate = None
    if model.rate_limit is not None:
        rate = (model.rate_limit._tokens, model.rate_limit._at)
    return (
        zones,
        frozenset(model._changes.items()),
        repr(model._ids),
        tuple((z, tuple(u)) for z, u in sorted(model._undo.items())),
        armed,
        rate,
        _rest(model, MODEL_FOLDED, MODEL_IGNORED),
    )


def _store_key(store: Any) -> tuple[Any, ...]:
    plans = tuple(
        (zone, tuple((g, fold(row.plan), row.checksum, row.pinned) for g, row in sorted(rows.items())))
        for zone, rows in sorted(store._plans.items())
    )
    states = tuple(
        (zone, tuple(getattr(st, name) for name in type(st).__slots__)) for zone, st in sorted(store._states.items())
    )
    return (plans, states, tuple(sorted(store._leases.items())), _rest(store, STORE_FOLDED, STORE_IGNORED))


def world_key(world: World) -> tuple[Any, ...]:
    """The world's part of the state (see the module doc)."""
    return (
        world.clock.now(),
        _model_key(world.model),
        _store_key(world.store),
        fold(world.bad),
        fold(world.roles),
        _rest(world, WORLD_FOLDED, WORLD_IGNORED),
    )


def checker_key(checker: InvariantChecker) -> tuple[Any, ...]:
    """The checker's history that later checks depend on: every attribute but the ignored ones
    (new attributes are included by default)."""
    return tuple((k, fold(v)) for k, v in sorted(vars(checker).items()) if k not in CHECKER_IGNORED)


def scheduler_key(sched: Scheduler) -> tuple[Any, ...]:
    """Every actor's scheduling state and local state (`Scheduler.local_state`, with the context
    of the checkpoint it is parked at)."""
    out = []
    for name in sched.actors:
        local = sched.local_state(name)
        if len(local) > 2:
            local = (*local, fold(sched.parked_at(name)[1]))
        out.append(local)
    return tuple(out)


def state_key(world: World, checker: InvariantChecker, sched: Scheduler, *extra: Any) -> int:
    """The state between two steps, hashed (see the module doc); `extra`: the explorer's own
    part (faults used)."""
    return hash((world_key(world), checker_key(checker), scheduler_key(sched), extra))
