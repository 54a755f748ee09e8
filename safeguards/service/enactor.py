"""The long-running enactor: watch the plan store, apply the newest published generation, clean
up, and every interval read Route 53 and repair what drifted.

    enactor = Enactor.create(backend, store, ["example.com."], enactor_id="enactor-az1", interval=30)
    enactor.install_signal_handlers()      # SIGTERM/SIGINT: stop between batches, release the lease
    enactor.run()

Every write goes through the library's `Applier`, so each one is decision-bound (its first batch
DELETEs the fence its decision read) and judged by the guards; the enactor only decides *which*
operation to run. Per zone, one cycle:

1. the circuit is open → nothing is enacted; the report says why (a person runs ``reset``);
2. the newest published plan is newer than the live generation → ``apply`` it, then ``cleanup``;
3. the newest plan is live but half applied (a crashed or stopped enactor's) or its names drifted
   (a name below its minimum, content that is not the plan's) → ``apply`` it again: the applier
   resumes the same generation and writes only the difference;
4. the live fence is a correction (a rollback or a failed gate's restore, ``g5.r1 (content of
   g4)``) → ``repair`` when it is half applied or a name is below its minimum;
5. otherwise nothing: in sync.

Several enactors may run on one plan store (threads, processes, hosts): they take turns through
the zone's lease, and a write that lost the race is refused by Route 53's compare-and-set on the
fence. Any of them finishes a generation another left half applied (step 3).

Between full cycles (every `interval`) the enactor polls only the plan store (every `poll`
seconds), so a newly published plan is picked up without reading Route 53 more often.
Errors back off with full jitter (`safeguards.retry`), per zone; a stale generation or a busy
lease is not an error. Time is injected (`clock`): tests drive `run_once()` on a `VirtualClock`.
"""

from __future__ import annotations

import inspect
import logging
import random
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..applier import Applier, ApplyOptions
from ..backend import Route53Backend
from ..checkpoints import NO_CHECKPOINTS, Checkpoint
from ..clock import Clock, SystemClock
from ..errors import CircuitOpen, GuardRefused, LeaseLost, SafeguardsError, StaleGeneration
from ..fence import Fence
from ..plan import DEFAULT_OWNER, Plan
from ..planstore import PlanStore, ZoneState, scope
from ..records import fqdn
from ..results import ApplyResult
from ..retry import FullJitter, RetryPolicy, stop_after_attempt
from .metrics import Metrics

log = logging.getLogger("safeguards.service")

__all__ = ["Enactor", "EnactorStopped", "Stopper", "ZoneReport"]


class EnactorStopped(Exception):
    """A stop was requested (SIGTERM, SIGINT, `Enactor.stop`): raised at a batch boundary, before
    the next batch is written. Not a `SafeguardsError`: the applier lets it through untouched,
    gives the lease back on its way out and does not count it toward the circuit."""


class Stopper:
    """The enactor's checkpoint hook: passes every checkpoint to `inner` (and `observer`), and
    once a stop is requested raises `EnactorStopped` at the next ``batch.before`` (never inside
    a failed gate's restore, which finishes first)."""

    def __init__(self, inner: Checkpoint = NO_CHECKPOINTS) -> None:
        self.inner = inner
        self.observer: Callable[[str, dict[str, Any]], None] | None = None
        self._event = threading.Event()
        self._restoring = False

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` of real time; True if a stop was requested meanwhile."""
        return self._event.wait(seconds)

    def begin(self) -> None:
        """A new operation starts (not in a restore)."""
        self._restoring = False

    def __call__(self, name: str, **context: Any) -> None:
        self.inner(name, **context)
        if self.observer is not None:
            self.observer(name, context)
        if name == "restore.before":
            self._restoring = True
        if name == "batch.before" and self._event.is_set() and not self._restoring:
            raise EnactorStopped(
                f"{context.get('zone', '')}: stop requested; stopped before batch "
                f"{context.get('index', '?')}/{context.get('total', '?')} of generation {context.get('generation')}"
            )


@dataclass
class ZoneReport:
    """What one cycle did on one zone (a ``--json`` status line)."""

    zone: str
    enactor: str
    action: str  # apply, resume, repair, check, circuit-open, backoff, idle, error, stopped
    outcome: str  # the applier's outcome (applied, resumed, repaired, noop...), in-sync, stale, busy, refused...
    at: float
    published_generation: int | None = None
    live_generation: int | None = None
    live_revision: int | None = None
    content_generation: int | None = None
    complete: bool | None = None
    batches: int = 0
    deleted: list[int] = field(default_factory=list)
    error: str | None = None
    kind: str | None = None
    exit_code: int = 0
    reason: str | None = None
    retry_in: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def line(self) -> str:
        """One line for people."""
        live = (
            "nothing live"
            if self.live_generation is None
            else f"live g{self.live_generation}" + (f".r{self.live_revision}" if self.live_revision else "")
        )
        if self.content_generation not in (None, self.live_generation):
            live += f" (content of g{self.content_generation})"
        text = f"{self.zone} {self.action}: {self.outcome}, {live}, published g{self.published_generation}"
        if self.deleted:
            text += f", cleaned up {', '.join(f'g{g}' for g in self.deleted)}"
        if self.error:
            text += f"; {self.kind}: {self.error}"
        if self.reason:
            text += f"; {self.reason}"
        if self.retry_in is not None:
            text += f"; retry in {self.retry_in:.1f} s"
        return text


def default_retry(interval: float) -> RetryPolicy:
    """The enactor's backoff between failed cycles: full jitter from 1 s up to two intervals
    (at least 5 s). `stop` is not used: a long-running enactor never gives up; the circuit
    breaker is what stops it."""
    return RetryPolicy(stop=stop_after_attempt(1_000_000), wait=FullJitter(base=1.0, cap=max(2 * interval, 5.0)))


class Enactor:
    """Applies the newest published plan of each of its zones, continuously, and repairs drift."""

    def __init__(
        self,
        applier: Applier,
        zones: Iterable[str],
        *,
        interval: float = 30.0,
        poll: float | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        owner: str = DEFAULT_OWNER,
        metrics: Metrics | None = None,
        retry: RetryPolicy | None = None,
        stopper: Stopper | None = None,
        keep: int | None = None,
        on_report: Callable[[ZoneReport], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.applier = applier
        self.zones: list[str] = [fqdn(z) for z in zones]
        if not self.zones:
            raise ValueError("an enactor needs at least one zone")
        self.interval = float(interval)
        self.poll = min(self.interval, 1.0) if poll is None else float(poll)
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.owner = owner
        self.metrics = metrics or Metrics(enactor=applier.enactor_id, clock=self.clock.now)
        self.metrics.interval = self.interval
        self.retry = retry or default_retry(self.interval)
        # Without a stopper wired into the applier's checkpoints, a stop waits for the operation.
        self.stopper = stopper or Stopper()
        self.stopper.observer = self._observe
        self.keep = keep
        self.on_report = on_report
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._seen_live: dict[str, int] = {}
        self._zone: str = ""
        self._batch_started: float | None = None
        self._owner_kw = {m: _owner_kwargs(getattr(applier, m), owner) for m in ("apply", "repair", "cleanup")}

    @classmethod
    def create(
        cls,
        backend: Route53Backend,
        store: PlanStore,
        zones: Iterable[str],
        *,
        enactor_id: str,
        options: ApplyOptions | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        checkpoint: Checkpoint = NO_CHECKPOINTS,
        **kwargs: Any,
    ) -> Enactor:
        """An enactor with its own `Applier`, whose checkpoints carry the stop hook."""
        stopper = Stopper(checkpoint)
        rng = rng or random.Random()
        applier = Applier(backend, store, enactor_id=enactor_id, options=options, clock=clock, checkpoint=stopper,
                          rng=rng)  # fmt: skip
        return cls(applier, zones, clock=clock, rng=rng, stopper=stopper, **kwargs)

    # ------------------------------------------------------------------ control

    @property
    def enactor_id(self) -> str:
        return self.applier.enactor_id

    @property
    def stopped(self) -> bool:
        return self.stopper.requested

    def stop(self) -> None:
        """Stop at the next batch boundary (or between operations); the lease is given back."""
        if not self.stopper.requested:
            log.info("stop requested enactor=%s", self.enactor_id)
        self.stopper.request()
        self.metrics.set("stopping", 1)

    def install_signal_handlers(self) -> Callable[[], None]:
        """SIGTERM and SIGINT stop the enactor between batches; a second one interrupts at once
        (KeyboardInterrupt; the lease is still given back). Main thread only. Returns a function
        that restores the previous handlers."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum: int, frame: object) -> None:
            if self.stopped:
                raise KeyboardInterrupt
            self.stop()

        for s in previous:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    # ------------------------------------------------------------------ the loop

    def run(self, *, cycles: int | None = None) -> None:
        """Run until stopped (or for `cycles` ticks): a full cycle every `interval`, a plan-store
        poll every `poll` seconds in between."""
        next_full = self.clock.now()
        ticks = 0
        while not self.stopped:
            now = self.clock.now()
            full = now >= next_full
            if full:
                next_full = now + self.interval
            try:
                self.run_once(full=full)
            except EnactorStopped:
                break
            ticks += 1
            if cycles is not None and ticks >= cycles:
                break
            self._wait(max(0.0, min(self.poll, next_full - self.clock.now())))
        log.info("stopped enactor=%s", self.enactor_id)

    def _wait(self, seconds: float) -> None:
        if isinstance(self.clock, SystemClock):
            self.stopper.wait(seconds)
        else:
            self.clock.sleep(seconds)

    def run_once(self, *, full: bool = True) -> list[ZoneReport]:
        """One cycle over every zone. `full`: read Route 53 and repair (the interval's cycle);
        otherwise only zones with a newly published generation are enacted. Raises
        `EnactorStopped` when a stop cut the cycle short."""
        reports = []
        for zone in self.zones:
            if self.stopped:
                raise EnactorStopped(f"{zone}: stop requested; stopped between operations")
            report = self._cycle(zone, full=full)
            if report is None:
                continue
            reports.append(report)
            self.metrics.report(zone, report.to_dict())
            if self.on_report is not None:
                self.on_report(report)
            if report.action == "stopped":
                raise EnactorStopped(report.error or "stopped")
        self.metrics.cycle_done()
        return reports

    # ------------------------------------------------------------------ one zone

    def _report(self, zone: str, action: str, outcome: str, **fields: Any) -> ZoneReport:
        return ZoneReport(zone, self.enactor_id, action, outcome, self.clock.now(), **fields)

    def _cycle(self, zone: str, *, full: bool) -> ZoneReport | None:
        store, m = self.applier.store, self.metrics
        self._zone = zone
        self.stopper.begin()
        key = self._key(zone)
        wait = self._retry_at.get(zone, 0.0) - self.clock.now()
        if wait > 0:  # backing off: not even the plan store is asked
            return self._report(zone, "backoff", "waiting", retry_in=wait) if full else None
        try:
            state = store.state(key)
            generations = store.generations(key)
        except Exception as exc:  # the plan store is down: back off like any other failure
            return self._failed(zone, None, exc, exc.exit_code if isinstance(exc, SafeguardsError) else 1)
        published = generations[-1] if generations else None
        m.set("published_generation", published, zone=zone)
        m.set("circuit_open", 1 if state.circuit_open else 0, zone=zone)
        if state.circuit_open:
            if not full:
                return None  # said once per interval, not at every poll
            reason = (
                f"circuit open after {state.consecutive_failures} consecutive failures (last: {state.circuit_reason}); "
                f"nothing is enacted until 'dns-safeguards reset --zone {zone}{self._owner_flag()}'"
            )
            return self._report(zone, "circuit-open", "stopped", published_generation=published, reason=reason,
                                exit_code=CircuitOpen.exit_code)  # fmt: skip
        if not full and (published is None or published <= self._seen_live.get(zone, -1)):
            return None  # a poll: nothing newer than what we saw live
        if published is None:
            return self._report(zone, "idle", "nothing published")
        started = self.clock.now()
        try:
            report = self._enact(zone, published)
        except EnactorStopped as exc:
            return self._report(zone, "stopped", "stopped", published_generation=published, error=str(exc),
                                kind="EnactorStopped")  # fmt: skip
        except StaleGeneration as exc:  # a newer writer owns the zone: nothing of ours written
            m.inc("stale_total", zone=zone)
            self._succeeded(zone)
            return self._report(zone, "apply", "stale", published_generation=published, error=str(exc),
                                kind=type(exc).__name__)  # fmt: skip
        except LeaseLost as exc:  # another enactor is at work on the zone
            m.inc("lease_busy_total", zone=zone)
            return self._report(zone, "apply", "busy", published_generation=published, error=str(exc),
                                kind=type(exc).__name__)  # fmt: skip
        except CircuitOpen as exc:
            m.set("circuit_open", 1, zone=zone)
            return self._report(zone, "circuit-open", "stopped", published_generation=published, reason=str(exc),
                                exit_code=exc.exit_code)  # fmt: skip
        except SafeguardsError as exc:
            if isinstance(exc, GuardRefused):
                m.inc("refusals_total", zone=zone, guard=exc.guard or "unknown")
            return self._failed(zone, published, exc, exc.exit_code)
        except Exception as exc:  # a bug or an unexpected library error: reported, the loop goes on
            log.exception("unexpected error enactor=%s zone=%s", self.enactor_id, zone)
            return self._failed(zone, published, exc, 1)
        self._succeeded(zone)
        if report.batches:
            self.metrics.observe("cycle_seconds", self.clock.now() - started, zone=zone)
        return report

    def _failed(self, zone: str, published: int | None, exc: Exception, code: int) -> ZoneReport:
        n = self._failures.get(zone, 0)
        self._failures[zone] = n + 1
        wait = self.retry.wait(n, self.rng)
        self._retry_at[zone] = self.clock.now() + wait
        kind = type(exc).__name__
        self.metrics.error(zone, kind, str(exc))
        # The library counted it toward the circuit; say so if it opened now.
        try:
            state: ZoneState | None = self.applier.store.state(self._key(zone))
        except Exception:  # the store may be what failed
            state = None
        if state is not None:
            self.metrics.set("circuit_open", 1 if state.circuit_open else 0, zone=zone)
        log.warning("enact failed enactor=%s zone=%s error=%s: %s retry_in=%.1f", self.enactor_id, zone, kind, exc,
                    wait)  # fmt: skip
        opened = state.circuit_reason if state is not None and state.circuit_open else None
        return self._report(zone, "error", "failed", published_generation=published, error=str(exc), kind=kind,
                            exit_code=code, retry_in=wait, reason=opened)  # fmt: skip

    def _succeeded(self, zone: str) -> None:
        self._failures.pop(zone, None)
        self._retry_at.pop(zone, None)

    def _enact(self, zone: str, published: int) -> ZoneReport:
        a = self.applier
        newest = self._plan(zone, published)
        preview = a.preview(newest)
        live = preview.live
        self._seen(zone, live)
        if live is None or live.generation < newest.generation:
            try:
                result = a.apply(newest, **self._owner_kw["apply"])
            except GuardRefused:
                # The newest plan is refused; the live content must not stay broken meanwhile (I1).
                self._repair_live_if_below_minimum(zone, live)
                raise
            return self._written(zone, "apply", result, published, newest, cleanup=True)
        if (live.generation, live.content, live.checksum) == (newest.generation, newest.generation, newest.checksum):
            if not live.done or not preview.diff.empty:
                # Half applied (a crashed or stopped enactor) or drifted: the same generation again.
                result = a.apply(newest, **self._owner_kw["apply"])
                return self._written(zone, "resume" if not live.done else "repair", result, published, newest)
            return self._in_sync(zone, live, published, generations=len(a.store.generations(self._key(zone))))
        # A correction is live (rollback, failed gate's restore) or the store lags Route 53.
        content = a.store.get_plan(self._key(zone), live.content) if live.content else None
        if content is None:
            return self._report(zone, "check", "no live plan in the store", published_generation=published,
                                **_live_fields(live))  # fmt: skip
        drift = a.preview(content).diff
        if live.done and drift.empty:
            return self._in_sync(zone, live, published, generations=0)
        result = a.repair(zone, **self._owner_kw["repair"])
        report = self._written(zone, "repair", result, published, content)
        if result.outcome == "noop" and not drift.empty:
            report.reason = (
                f"{len(drift.changed_names())} name(s) differ from the live content g{live.content} but none is below "
                "its minimum: repair restores names below their minimum while a correction is live; publish a new "
                "generation to rewrite them"
            )
        return report

    def _repair_live_if_below_minimum(self, zone: str, live: Fence | None) -> None:
        """While the newest plan is refused, put back names of the live content that are below
        their minimum (what `repair` does; a person would do the same). Nothing else is written."""
        if live is None or not live.content:
            return
        a = self.applier
        content = a.store.get_plan(self._key(zone), live.content)
        if content is None:
            return
        diff = a.preview(content).diff
        short = [r.key for r in diff.creates if content.min_for(r.key) > 0] + [
            new.key for old, new in diff.updates if len(old.values) < content.min_for(new.key)
        ]
        if not short:
            return
        try:
            result = a.repair(zone, **self._owner_kw["repair"])
        except SafeguardsError as exc:
            self.metrics.error(zone, type(exc).__name__, f"repair while the newest plan is refused: {exc}")
            return
        self._written(zone, "repair", result, live.generation, content)

    def _key(self, zone: str) -> str:
        """The plan-store key of this enactor's owner in `zone` (shared zones)."""
        return scope(zone, self.owner)

    def _owner_flag(self) -> str:
        return "" if self.owner == DEFAULT_OWNER else f" --owner {self.owner}"

    def _plan(self, zone: str, generation: int) -> Plan:
        key = self._key(zone)
        plan = self.applier.store.get_plan(key, generation)
        if plan is None:  # cleaned up between the two reads: a newer one exists
            generations = self.applier.store.generations(key)
            if not generations:
                raise StaleGeneration(f"{zone}: generation {generation} disappeared from the plan store")
            plan = self.applier.store.get_plan(key, generations[-1])
            if plan is None:
                raise StaleGeneration(f"{zone}: generation {generations[-1]} disappeared from the plan store")
        return plan

    def _written(
        self, zone: str, action: str, result: ApplyResult, published: int, plan: Plan, *, cleanup: bool = False
    ) -> ZoneReport:
        m = self.metrics
        m.inc("applies_total", zone=zone, outcome=result.outcome)
        wrote = result.outcome != "noop"
        if wrote and action in ("repair", "resume"):
            m.inc("repairs_total", zone=zone)
            log.info(
                "self-repair enactor=%s zone=%s action=%s outcome=%s generation=%s revision=%s batches=%s",
                self.enactor_id, zone, action, result.outcome, result.generation, result.revision, result.batches,
            )  # fmt: skip
        if result.outcome not in ("noop", "dry-run"):
            m.set("last_verified_apply_timestamp_seconds", self.clock.now(), zone=zone)
        m.set("live_generation", result.generation, zone=zone)
        m.set("live_revision", result.revision, zone=zone)
        m.set("live_content_generation", plan.generation, zone=zone)
        if wrote:
            m.set("live_complete", 1, zone=zone)
        self._seen_live[zone] = max(self._seen_live.get(zone, 0), result.generation)
        stored = len(self.applier.store.generations(self._key(zone)))
        deleted = self._cleanup(zone) if cleanup or stored > self._keep() + 1 else []
        return self._report(
            zone, action, result.outcome, published_generation=published, live_generation=result.generation,
            live_revision=result.revision, content_generation=plan.generation, complete=True, batches=result.batches,
            deleted=deleted,
        )  # fmt: skip

    def _in_sync(self, zone: str, live: Fence, published: int, *, generations: int) -> ZoneReport:
        deleted = self._cleanup(zone) if generations > self._keep() + 1 else []
        return self._report(zone, "check", "in-sync", published_generation=published, deleted=deleted,
                            **_live_fields(live))  # fmt: skip

    def _keep(self) -> int:
        return self.keep if self.keep is not None else self.applier.options.keep_plans

    def _cleanup(self, zone: str) -> list[int]:
        if self.stopped:
            return []
        try:
            deleted = self.applier.cleanup(zone, keep=self._keep(), **self._owner_kw["cleanup"])
        except LeaseLost:
            self.metrics.inc("lease_busy_total", zone=zone)
            return []
        except SafeguardsError as exc:  # the apply stands; clean-up is tried again next cycle
            self.metrics.error(zone, type(exc).__name__, f"clean-up: {exc}")
            return []
        self.metrics.inc("cleanup_deleted_total", len(deleted), zone=zone)
        return deleted

    def _seen(self, zone: str, live: Fence | None) -> None:
        m = self.metrics
        if live is None:
            return
        self._seen_live[zone] = live.generation
        m.set("live_generation", live.generation, zone=zone)
        m.set("live_revision", live.rev, zone=zone)
        m.set("live_content_generation", live.content, zone=zone)
        m.set("live_complete", 1 if live.done else 0, zone=zone)

    def _observe(self, name: str, context: dict[str, Any]) -> None:
        """Checkpoints the applier passes: compare-and-set conflicts and accepted batches."""
        zone = str(context.get("zone") or self._zone)
        if name == "batch.before":
            self._batch_started = self.clock.now()
        elif name == "batch.after":
            self.metrics.inc("batches_total", zone=zone)
            if self._batch_started is not None:
                self.metrics.observe("batch_seconds", self.clock.now() - self._batch_started, zone=zone)
                self._batch_started = None
        elif name == "zone.read" and int(context.get("attempt") or 0) > 0:
            self.metrics.inc("conflicts_total", zone=zone)


def _live_fields(live: Fence) -> dict[str, Any]:
    return {
        "live_generation": live.generation,
        "live_revision": live.rev,
        "content_generation": live.content,
        "complete": live.done,
    }


def _owner_kwargs(method: Callable[..., Any], owner: str) -> dict[str, Any]:
    """``{"owner": owner}`` when the applier's method takes an owner (shared zones), else nothing."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return {}
    return {"owner": owner} if "owner" in params else {}


def zones_of(values: Sequence[str]) -> list[str]:
    """Canonical zone names (trailing dot), duplicates dropped, order kept."""
    out: list[str] = []
    for v in values:
        z = fqdn(v)
        if z not in out:
            out.append(z)
    return out
