"""A deterministic scheduler for actors (enactors, a planner) that run as greenlets or threads.

Each actor runs in its own greenlet (or thread), but only one runs at a time: at every checkpoint
the running actor parks and hands the baton back, and the scheduler decides who runs next. A step is "let
actor X run from where it is parked to its next checkpoint (or to its end)". The choice comes
from a policy: a seeded `random.Random`, a recorded schedule, a depth-first explorer or a script,
so any interleaving can be forced and every run can be replayed from its recorded schedule.

Two engines hand the baton over, with the same choices, traces and faults:

- ``greenlet`` (the default when the `greenlet` package is installed): every actor is a greenlet
  in the scheduler's thread and a hand-off is one stack switch (about a microsecond, against tens
  of microseconds for a thread wake-up), so the explorer runs thousands of schedules per second
  per core. The code under test is unchanged (a checkpoint is a plain call that switches back to
  the scheduler); a crash is raised in the actor's greenlet at its checkpoint. A blocking call in
  an actor blocks the scheduler too (one thread): the harness's worlds make none (virtual clock,
  in-memory model and store); code that might block is run with ``engine="thread"``.
- ``thread``: every actor is a thread; the hand-off uses one binary semaphore per actor plus one
  back to the scheduler (plain `threading.Lock`s, no polling, no sleeps). Every wait is bounded:
  an actor that does not reach a checkpoint within `step_timeout` (a deadlock, a real sleep, a
  blocking call) fails the run with `SchedulerTimeout`.

A run longer than `max_steps` (a livelock) fails with `SchedulerError`. Nothing hangs.

Faults are part of a choice, so they are recorded and replayed with the schedule:

- ``crash``: the parked actor's checkpoint raises `Crash` (a `BaseException`, like a killed
  process); everything it does afterwards is cut off (see `ActorContext.guard`), and the actor
  restarts from scratch (its body is called again, building a new Applier) while it has restarts.
- ``delay``: the actor stays parked while `delay_seconds` of virtual time pass (a GC pause or a
  slow retry loop): its lease expires and others may take over. The actor does not run.
- model faults (``throttle``, ``lose_response``, ``stale_read``, ``duplicate``,
  ``timeout_before_apply``): armed once on the `StrictRoute53` model for the step; whatever is
  not consumed by the end of the step is disarmed, so a fault belongs to the step that names it.

A schedule is a list of strings: ``"A"`` runs A one step, ``"A+crash"`` crashes A at its
checkpoint, ``"B+lose_response"`` runs B with one lost response armed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

try:  # the fast engine; without it the scheduler runs its actors in threads
    from greenlet import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        getcurrent as _getcurrent,
    )
    from greenlet import greenlet as _greenlet  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - greenlet is in the test extra
    _greenlet = None
    _getcurrent = None

#: Faults armed on the StrictRoute53 model (`Faults` method names).
MODEL_FAULTS: tuple[str, ...] = ("throttle", "lose_response", "stale_read", "duplicate", "timeout_before_apply")
#: Every fault a choice may carry.
FAULTS: tuple[str, ...] = ("crash", "delay", *MODEL_FAULTS)
#: Checkpoint name recorded when an actor finished (returned, failed or ran out of restarts).
DONE = "<done>"
#: Checkpoint name of an actor that has not run yet.
START = "<start>"

_NEW, _PARKED, _RUNNING, _DONE = "new", "parked", "running", "done"

Engine = Literal["greenlet", "thread"]
#: The engines this interpreter has, the default first.
ENGINES: tuple[Engine, ...] = ("greenlet", "thread") if _greenlet is not None else ("thread",)
#: The engine a `Scheduler` uses unless told.
DEFAULT_ENGINE: Engine = ENGINES[0]

#: One access to shared state: (object, "r" or "w").
Access = tuple[str, str]
#: What a method of a guarded object touches, by method name.
AccessTable = Mapping[str, tuple[Access, ...]]


def dependent(a: frozenset[Access], b: frozenset[Access]) -> bool:
    """Whether two steps' footprints conflict (one writes what the other reads or writes).
    Steps that do not conflict commute: running them in either order gives the same state."""
    if not a or not b:
        return False
    for obj, mode in a:
        if mode == "w":
            if (obj, "r") in b or (obj, "w") in b:
                return True
        elif (obj, "w") in b:
            return True
    return False


class Crash(BaseException):
    """Raised at a checkpoint to kill the actor, like a process crash. A `BaseException` so that
    no `except Exception` in the code under test swallows it."""


class Aborted(BaseException):
    """Raised in parked actors when the scheduler shuts down before they finished."""


class SchedulerError(RuntimeError):
    """The run could not go on: a livelock, a diverged replay, a misuse. Carries the trace and
    the schedule so far, so the run can be replayed up to the failure."""

    def __init__(self, message: str, *, trace: Sequence[TraceEntry] = (), schedule: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.trace = tuple(trace)
        self.schedule = tuple(schedule)

    def __str__(self) -> str:
        base = super().__str__()
        shown = list(self.schedule[-30:])
        more = f"... {len(self.schedule) - 30} earlier steps, then " if len(self.schedule) > 30 else ""
        return f"{base} (after {len(self.schedule)} steps; schedule: {more}{shown}; full schedule in .schedule)"


class SchedulerTimeout(SchedulerError):
    """An actor did not reach a checkpoint in time: a deadlock or a blocking call."""


class ScheduleDiverged(SchedulerError):
    """A replayed schedule named an actor that cannot run (the code changed, or it is not
    deterministic)."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One scheduling decision: which actor runs, with which fault (None: none)."""

    actor: str
    fault: str | None = None

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r} (known: {', '.join(FAULTS)})")

    def __str__(self) -> str:
        return self.actor if self.fault is None else f"{self.actor}+{self.fault}"

    @classmethod
    def parse(cls, text: str | Choice) -> Choice:
        """`"A"` or `"A+crash"` (or a Choice, returned as is)."""
        if isinstance(text, Choice):
            return text
        actor, _, fault = text.partition("+")
        return cls(actor, fault or None)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """What one step did: the actor, the fault, where the actor parked afterwards (or `DONE`)
    with the checkpoint's context, and, for a finished actor, its outcome. Steps count from 1
    (step 0 is the state before the run). `footprint`: what the step read and wrote (recorded
    by guarded objects); `fired`: the step's fault took effect (a model fault armed for a step
    that made no matching call did nothing)."""

    step: int
    actor: str
    fault: str | None
    checkpoint: str
    context: Mapping[str, Any]
    outcome: str | None = None
    footprint: frozenset[Access] = frozenset()
    fired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "actor": self.actor,
            "fault": self.fault,
            "checkpoint": self.checkpoint,
            "context": {k: _jsonable(v) for k, v in self.context.items()},
            "outcome": self.outcome,
            "fired": self.fired,
            "footprint": sorted(f"{obj}:{mode}" for obj, mode in self.footprint),
        }

    def __str__(self) -> str:
        ctx = " ".join(f"{k}={v}" for k, v in self.context.items() if k not in ("enactor", "zone"))
        fault = f" +{self.fault}" if self.fault else ""
        tail = f" -> {self.outcome}" if self.outcome else ""
        return f"#{self.step} {self.actor}{fault}: {self.checkpoint} {ctx}{tail}".rstrip()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


class Policy(Protocol):
    """Picks the next choice among the actors that can run (never empty)."""

    def choose(self, scheduler: Scheduler, enabled: Sequence[str]) -> Choice: ...


class RandomPolicy:
    """Seeded random choices; each step carries a fault with probability `fault_rate`, drawn
    uniformly from `faults` among those the actor can suffer now, at most `max_faults` in all."""

    def __init__(
        self,
        seed: int | random.Random = 0,
        *,
        faults: Iterable[str] = (),
        fault_rate: float = 0.0,
        max_faults: int | None = None,
    ) -> None:
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.faults = tuple(faults)
        self.fault_rate = fault_rate
        self.max_faults = max_faults
        self.injected = 0

    def choose(self, scheduler: Scheduler, enabled: Sequence[str]) -> Choice:
        actor = self.rng.choice(enabled)
        budget = self.max_faults is None or self.injected < self.max_faults
        if self.faults and budget and self.rng.random() < self.fault_rate:
            options = [f for f in self.faults if scheduler.fault_allowed(actor, f)]
            if options:
                self.injected += 1
                return Choice(actor, self.rng.choice(options))
        return Choice(actor)


class ReplayPolicy:
    """Follows a recorded schedule exactly. `strict`: a schedule that ends while actors can
    still run is an error; otherwise the first runnable actor (registration order) goes on."""

    def __init__(self, schedule: Iterable[str | Choice], *, strict: bool = True) -> None:
        self.choices = [Choice.parse(c) for c in schedule]
        self.strict = strict
        self.position = 0

    def choose(self, scheduler: Scheduler, enabled: Sequence[str]) -> Choice:
        if self.position >= len(self.choices):
            if self.strict:
                raise ScheduleDiverged(
                    f"the recorded schedule ended after {len(self.choices)} steps but {list(enabled)} can still run",
                    trace=scheduler.trace,
                    schedule=scheduler.schedule,
                )
            return Choice(enabled[0])
        choice = self.choices[self.position]
        self.position += 1
        return choice

    def finish(self, scheduler: Scheduler) -> None:
        """Every actor finished: a strict replay must have used the whole schedule."""
        if self.strict and self.position < len(self.choices):
            raise ScheduleDiverged(
                f"every actor finished after {self.position} of the {len(self.choices)} recorded steps",
                trace=scheduler.trace,
                schedule=scheduler.schedule,
            )


# ---------------------------------------------------------------------------------- actors


#: An actor's body: called with its context (again, with a new context, after each crash).
ActorBody = Callable[["ActorContext"], Any]


class _Actor:
    __slots__ = (
        "body",
        "checkpoint",
        "context",
        "crashes",
        "error",
        "glet",
        "go",
        "incarnation",
        "name",
        "outcome",
        "pending",
        "restarts",
        "result",
        "seen",
        "state",
        "thread",
    )

    def __init__(self, name: str, body: ActorBody, restarts: int) -> None:
        self.name = name
        self.body = body
        self.restarts = restarts
        self.go = threading.Lock()
        self.go.acquire()  # held: the actor waits on it while parked (thread engine)
        self.glet: Any = None  # its greenlet (greenlet engine)
        self.state = _NEW
        self.checkpoint = START
        self.context: Mapping[str, Any] = {}
        self.pending: str | None = None
        self.incarnation: ActorContext | None = None
        self.crashes = 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.outcome: str | None = None
        self.thread: threading.Thread | None = None
        #: What this incarnation observed so far, folded by `Scheduler.observe` (state caching).
        self.seen: int = 0


class ActorContext:
    """What an actor body gets: its name, its incarnation (0, then 1 after a crash ...), the
    checkpoint hook to hand to an Applier, and `guard` to wrap the world objects it uses."""

    def __init__(self, scheduler: Scheduler, actor: _Actor, incarnation: int) -> None:
        self._scheduler = scheduler
        self._actor = actor
        self.name = actor.name
        self.incarnation = incarnation
        self.dead = False

    def checkpoint(self, name: str, **context: Any) -> None:
        """The hook: park here until the scheduler lets this actor run again (or crash)."""
        self._scheduler._park(self, name, context)

    def guard(self, obj: Any, *, name: str | None = None, access: AccessTable | None = None) -> Any:
        """A proxy of `obj` whose calls raise `Crash` once this incarnation crashed (and
        `Aborted` once the scheduler closes): a dead process does nothing more, not even the
        `finally` clean-ups (lease release) a Python exception would otherwise run.

        With `name`, every call is recorded in the step's footprint (for partial-order
        reduction): `access[method]` says what the method reads and writes; a method not in
        the table counts as a write of `name` (conservative)."""
        return _Guarded(obj, self, name, access or {})

    def _ensure_alive(self) -> None:
        if self.dead:
            raise Crash(f"{self.name} crashed")
        if self._scheduler._aborting:
            raise Aborted(f"{self.name}: scheduler closed")


class _Guarded:
    __slots__ = ("_access", "_ctx", "_methods", "_name", "_obj")

    def __init__(self, obj: Any, ctx: ActorContext, name: str | None, access: AccessTable) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_access", access)
        object.__setattr__(self, "_methods", {})

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._obj, attr)
        if not callable(value):
            return value
        known = self._methods.get(attr)
        if known is not None and known[0] == value:  # the same bound method: its wrapper again
            return known[1]
        ctx = self._ctx
        sched = ctx._scheduler
        touched = None if self._name is None else self._access.get(attr, ((self._name, "w"),))

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if ctx.dead or sched._aborting:
                ctx._ensure_alive()
            if touched is not None:
                sched._footprint.update(touched)
            observe = sched.observe
            if observe is None:
                return value(*args, **kwargs)
            # Every input an actor gets from shared state comes through here: folding what each
            # call returned (or raised) into the actor's `seen` summarises its local state.
            a = ctx._actor
            try:
                result = value(*args, **kwargs)
            except BaseException as exc:
                a.seen = observe(a.seen, attr, exc, True)
                raise
            a.seen = observe(a.seen, attr, result, False)
            return result

        self._methods[attr] = (value, guarded)
        return guarded


# ---------------------------------------------------------------------------------- the scheduler


class Scheduler:
    """Runs registered actors one step at a time.

    `seed` or `schedule` choose the default policy (`RandomPolicy` / `ReplayPolicy`); `policy`
    overrides both. `model` (a StrictRoute53) is needed for model faults, `clock` (a VirtualClock)
    for ``delay``. `engine`: ``"greenlet"`` (default when installed) or ``"thread"`` (bounds a
    blocking actor with `step_timeout`). Use it as a context manager (or call `close`) so parked
    actors always end.
    """

    def __init__(
        self,
        *,
        seed: int | random.Random | None = None,
        schedule: Iterable[str | Choice] | None = None,
        policy: Policy | None = None,
        model: Any = None,
        clock: Any = None,
        delay_seconds: float = 301.0,
        step_timeout: float = 10.0,
        max_steps: int = 10_000,
        engine: Engine | None = None,
    ) -> None:
        if engine is None:
            engine = DEFAULT_ENGINE
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r} is not available here (available: {', '.join(ENGINES)})")
        self.engine: Engine = engine
        self._green = engine == "greenlet"
        self._hub: Any = None  # the greenlet the scheduler steps from
        if policy is None:
            policy = ReplayPolicy(schedule) if schedule is not None else RandomPolicy(0 if seed is None else seed)
        self.policy = policy
        self.model = model
        self.clock = clock
        self.delay_seconds = delay_seconds
        self.step_timeout = step_timeout
        self.max_steps = max_steps
        self.trace: list[TraceEntry] = []
        self.schedule: list[str] = []
        self._actors: dict[str, _Actor] = {}
        self._back = threading.Lock()
        self._back.acquire()  # held by the scheduler; a parking or finishing actor releases it
        self._aborting = False
        self._running: _Actor | None = None
        self._callbacks: list[Callable[[TraceEntry], None]] = []
        self._footprint: set[Access] = set()
        #: `observe(seen, method, value, raised) -> seen`: when set, every guarded call's result
        #: (or exception) is folded into the calling actor's `seen` (see `observed`): with the
        #: incarnation, it identifies the actor's local state (deterministic code fed the same
        #: inputs is in the same state), which the explorer's state caching needs.
        self.observe: Callable[[int, str, Any, bool], int] | None = None

    # ------------------------------------------------------------------ set-up

    def add_actor(self, name: str, body: ActorBody, *, restarts: int = 0) -> None:
        """Register an actor; it starts (in its own greenlet or thread) the first time it is chosen."""
        if name in self._actors:
            raise ValueError(f"actor {name!r} already registered")
        if "+" in name or not name:
            raise ValueError(f"actor name {name!r}: non-empty, without '+'")
        self._actors[name] = _Actor(name, body, restarts)

    def on_step(self, callback: Callable[[TraceEntry], None]) -> None:
        """Call `callback(entry)` after every step, while every actor is parked."""
        self._callbacks.append(callback)

    # ------------------------------------------------------------------ state

    @property
    def actors(self) -> list[str]:
        """Every registered actor, in registration order."""
        return list(self._actors)

    @property
    def enabled(self) -> list[str]:
        """Actors that can run (not finished), in registration order."""
        return [a.name for a in self._actors.values() if a.state != _DONE]

    @property
    def steps(self) -> int:
        return len(self.trace)

    def parked_at(self, name: str) -> tuple[str, Mapping[str, Any]]:
        """Where `name` is: (checkpoint, context); `START` before it ran, `DONE` after."""
        a = self._actors[name]
        return (DONE if a.state == _DONE else a.checkpoint), a.context

    def is_done(self, name: str) -> bool:
        return self._actors[name].state == _DONE

    def outcome(self, name: str) -> str | None:
        """How the actor ended: its body's return value (as text), "crashed", or the exception."""
        return self._actors[name].outcome

    def result(self, name: str) -> Any:
        """The actor's return value (None until it finished)."""
        return self._actors[name].result

    def error(self, name: str) -> BaseException | None:
        """The exception that ended the actor, if any (a Crash when out of restarts)."""
        return self._actors[name].error

    def crashes(self, name: str) -> int:
        return self._actors[name].crashes

    def observations(self) -> dict[str, int]:
        """Every actor's `seen` (see `observe`)."""
        return {name: a.seen for name, a in self._actors.items()}

    def restore_observations(self, seen: Mapping[str, int]) -> None:
        """Set the actors' `seen` to what `observations` gave at this point of an earlier run of the
        same schedule: a replayed prefix need not be folded again."""
        for name, value in seen.items():
            self._actors[name].seen = value

    def local_state(self, name: str) -> tuple[Any, ...]:
        """What determines where actor `name` goes from here, as a hashable value: finished
        (nothing: a finished actor never runs again), or its incarnation, restarts left, where
        it is parked (checkpoint and context) and what this incarnation observed (`seen`,
        folded by `observe`; meaningful only while `observe` is set)."""
        a = self._actors[name]
        if a.state == _DONE:
            return (name, DONE)
        n = a.incarnation.incarnation if a.incarnation is not None else -1
        return (name, a.state, n, a.restarts, a.crashes, a.checkpoint, a.seen, a.pending)

    def fault_allowed(self, name: str, fault: str | None) -> bool:
        """Whether `fault` can be applied to `name` now."""
        a = self._actors.get(name)
        if a is None or a.state == _DONE:
            return False
        if fault is None:
            return True
        if fault in ("crash", "delay"):
            return a.state == _PARKED and (fault != "delay" or self.clock is not None)
        return fault in MODEL_FAULTS and self.model is not None

    # ------------------------------------------------------------------ running

    def step(self, choice: Choice | str) -> TraceEntry:
        """Run one step; returns its trace entry (callbacks already called)."""
        choice = Choice.parse(choice)
        if self._aborting:
            raise SchedulerError("the scheduler is closed", trace=self.trace, schedule=self.schedule)
        if len(self.trace) >= self.max_steps:
            self._fail(SchedulerError(f"step limit {self.max_steps} reached: livelock?"))
        a = self._actors.get(choice.actor)
        if a is None or a.state == _DONE or not self.fault_allowed(choice.actor, choice.fault):
            why = "is unknown" if a is None else "has finished" if a.state == _DONE else f"cannot take {choice.fault}"
            self._fail(ScheduleDiverged(f"choice {choice}: actor {choice.actor} {why}"))
        assert a is not None
        self.schedule.append(str(choice))
        self._footprint = set()
        fired = choice.fault is not None
        if choice.fault == "delay":
            # The actor stays where it is while time passes around it.
            self.clock.advance(self.delay_seconds)
            self._footprint.add(("clock", "w"))
        else:
            fired_before = 0
            if choice.fault in MODEL_FAULTS:
                fired_before = self.model.faults.fired[choice.fault]
                getattr(self.model.faults, choice.fault)(1)
            a.pending = choice.fault
            self._running = a
            if self._green:
                hub = self._hub = _getcurrent()
                if a.state == _NEW:
                    a.glet = _greenlet(self._main, hub)
                    a.state = _RUNNING
                    a.glet.switch(a)
                else:
                    if a.glet.parent is not hub:
                        a.glet.parent = hub  # it ends (returns) to whoever steps it
                    a.state = _RUNNING
                    a.glet.switch()
            elif a.state == _NEW:
                a.state = _RUNNING
                a.thread = threading.Thread(target=self._main, args=(a,), name=f"actor-{a.name}", daemon=True)
                a.thread.start()
            else:
                a.state = _RUNNING
                a.go.release()
            if not self._green and not self._back.acquire(timeout=self.step_timeout):
                self._fail(
                    SchedulerTimeout(
                        f"actor {a.name} did not reach a checkpoint within {self.step_timeout:g} s after "
                        f"{a.checkpoint}: a deadlock or a blocking call"
                    )
                )
            self._running = None
            if self.model is not None and choice.fault in MODEL_FAULTS:
                self.model.faults.clear()  # a fault belongs to its step
                fired = self.model.faults.fired[choice.fault] > fired_before
        entry = TraceEntry(
            len(self.trace) + 1,
            a.name,
            choice.fault,
            DONE if a.state == _DONE else a.checkpoint,
            a.context,
            a.outcome if a.state == _DONE else None,
            frozenset(self._footprint),
            fired,
        )
        self.trace.append(entry)
        for cb in self._callbacks:
            cb(entry)
        return entry

    def run(self, policy: Policy | None = None, *, stop: Callable[[], bool] | None = None) -> list[TraceEntry]:
        """Step until every actor finished (or `stop()` is true); returns the trace."""
        policy = policy or self.policy
        while True:
            enabled = self.enabled
            if stop is not None and stop():
                return self.trace
            if not enabled:
                finish = getattr(policy, "finish", None)
                if finish is not None:
                    finish(self)
                return self.trace
            self.step(policy.choose(self, enabled))

    def close(self) -> None:
        """End every actor still parked (they raise `Aborted`) and wait for their threads."""
        self._aborting = True
        if self._green:
            hub = self._hub = _getcurrent()
            for a in self._actors.values():
                if a.state == _PARKED and a.glet is not None and not a.glet.dead:
                    a.glet.parent = hub  # come back here when it ends
                    a.glet.switch()  # it raises Aborted at its checkpoint and ends
            return
        for a in self._actors.values():
            if a.state == _PARKED:
                a.go.release()
        for a in self._actors.values():
            if a.thread is not None:
                a.thread.join(timeout=self.step_timeout)

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ actor side

    def _fail(self, error: SchedulerError) -> None:
        error.trace = tuple(self.trace)
        error.schedule = tuple(self.schedule)
        self.close()
        raise error

    def _main(self, a: _Actor) -> None:
        n = 0
        try:
            while True:
                ctx = ActorContext(self, a, n)
                a.incarnation = ctx
                a.seen = 0  # a new incarnation starts from scratch: it has observed nothing
                try:
                    a.result = a.body(ctx)
                    a.outcome = "ok" if a.result is None else str(a.result)
                    return
                except Crash as exc:
                    ctx.dead = True
                    a.crashes += 1
                    if a.restarts <= 0:
                        a.error = exc
                        a.outcome = "crashed"
                        return
                    a.restarts -= 1
                    n += 1  # restart from scratch, in the same step
                except Aborted as exc:
                    a.error = exc
                    a.outcome = "aborted"
                    return
                except BaseException as exc:
                    a.error = exc
                    a.outcome = f"{type(exc).__name__}: {exc}"
                    return
        finally:
            a.state = _DONE
            if not self._aborting and not self._green:
                self._back.release()

    def _park(self, ctx: ActorContext, name: str, context: dict[str, Any]) -> None:
        a = ctx._actor
        if self._green:
            if _getcurrent() is not a.glet:
                raise SchedulerError(f"checkpoint {name} of actor {a.name} called from another thread or greenlet")
            ctx._ensure_alive()
            a.checkpoint = name
            a.context = context
            a.state = _PARKED
            self._hub.switch()  # back to the scheduler; returns when the actor runs again
            if self._aborting:
                raise Aborted(f"{a.name}: scheduler closed at {name}")
        else:
            if threading.current_thread() is not a.thread:
                raise SchedulerError(f"checkpoint {name} of actor {a.name} called from another thread")
            ctx._ensure_alive()
            a.checkpoint = name
            a.context = context
            a.state = _PARKED
            self._back.release()
            # Bounded: if the scheduler vanished without closing, the actor ends instead of hanging.
            if not a.go.acquire(timeout=max(60.0, 6 * self.step_timeout)) or self._aborting:
                raise Aborted(f"{a.name}: scheduler closed at {name}")
        fault, a.pending = a.pending, None
        if fault == "crash":
            ctx.dead = True
            raise Crash(f"{a.name} crashed at {name}")
