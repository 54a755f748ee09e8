"""What every part of the enactor shares: the backend, the plan store, the options, the clock and
random source, the event channel, and Route 53 reads with retries. One value, passed once."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast

from . import fence as fence_module
from .backend import PageStart, RangedListing, Route53Backend
from .clock import Clock
from .events import Events
from .fence import ZoneView
from .plan import DEFAULT_OWNER
from .planstore import PlanStore
from .records import RecordSet, is_reserved, owner_name
from .retry import Backoff, RetryPolicy
from .route53_rules.listing import reversed_name

if TYPE_CHECKING:
    from .applier import ApplyOptions

T = TypeVar("T")

_Key = tuple[str, ...]
_END: _Key = ("\U0010ffff",)  # past every set: the zone ended


@dataclass
class Ports:
    """The enactor's side effects, in one place."""

    backend: Route53Backend
    store: PlanStore
    options: ApplyOptions
    clock: Clock
    rng: random.Random
    events: Events
    # Whether `backend` has ranged listing, and for which backend object it was asked: a
    # runtime protocol check walks the protocol's attributes each time (one per read).
    _ranged: tuple[object, bool] | None = field(default=None, init=False, repr=False, compare=False)
    _policy: tuple[Backoff, RetryPolicy] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def enactor(self) -> str:
        return self.events.enactor

    def call(self, fn: Callable[[], T], zone: str = "") -> T:
        """A Route 53 call under the backoff policy: retryable errors (throttling, 5xx,
        PriorRequestNotComplete) are retried with full jitter, logged as they happen."""
        backoff = self.options.backoff
        policy = self._policy
        if policy is None or policy[0] is not backoff:
            # The policy a (frozen) Backoff describes is immutable and keeps no state between
            # calls: built once per Backoff object instead of once per call.
            policy = self._policy = (backoff, backoff.policy())
        return policy[1].call(
            fn,
            clock=self.clock,
            rng=self.rng,
            on_retry=lambda n, exc, wait: self.events("retry", zone, attempt=n, error=type(exc).__name__, wait=wait),
        )

    def read(self, zone_id: str, zone: str, owner: str = DEFAULT_OWNER) -> ZoneView:
        """The zone as one read sees it, for decisions of `owner`."""
        return view_of(zone, self.call(lambda: self.backend.list_record_sets(zone_id), zone), owner)

    def zone_id(self, zone: str, *, create: bool = False) -> str:
        return self.call(lambda: self.backend.resolve_zone(zone, create=create), zone)

    def read_names(self, zone_id: str, zone: str, names: Iterable[str], owner: str = DEFAULT_OWNER) -> ZoneView:
        """The zone as one read sees it at `names` only: every set at each name and the name's
        ownership marker (`_dnssg.<name>`, listed right after it), read in Route 53's order from
        each name (StartRecordName), whole pages, contiguous names in one run. The view holds
        whatever those pages held and nothing else: it answers for `names`, never for the zone.
        A backend without ranged listing is read whole."""
        return view_of(zone, self._sets_at(zone_id, zone, names), owner)

    def _sets_at(self, zone_id: str, zone: str, names: Iterable[str]) -> list[RecordSet]:
        ranged = self._ranged
        if ranged is None or ranged[0] is not self.backend:
            ranged = self._ranged = (self.backend, _has_ranged_listing(self.backend))
        if not ranged[1]:
            return self.call(lambda: self.backend.list_record_sets(zone_id), zone)
        backend = cast(RangedListing, self.backend)
        got: dict[tuple[str, str, str | None], RecordSet] = {}
        frontier: _Key | None = None  # the last key read so far (of a run of whole pages)
        after: PageStart | None = None  # where the page after it starts

        def page(start: PageStart) -> None:
            nonlocal frontier, after
            # Each page is one request, retried on its own (a throttled page does not restart the run).
            sets, after = self.call(lambda: backend.list_record_sets_page(zone_id, start), zone)
            fresh = [r for r in sets if r.key not in got]
            if after is not None and not fresh:  # an endpoint that restarts a page: read it whole
                raise _NotRanged
            got.update((r.key, r) for r in fresh)
            frontier = _END if after is None else (reversed_name(sets[-1].name), sets[-1].type,
                                                    sets[-1].set_identifier or "")  # fmt: skip

        try:
            for start, end, name in sorted(_span(n) for n in set(names)):
                if frontier is not None and start <= frontier:
                    if end <= frontier:
                        continue  # read already
                else:
                    page((name, None, None))
                while frontier is not None and frontier < end and after is not None:
                    page(after)
        except _NotRanged:
            return self.call(lambda: self.backend.list_record_sets(zone_id), zone)
        return list(got.values())


def _has_ranged_listing(backend: object) -> bool:
    """`isinstance(backend, RangedListing)`, answered without it when the method is there: the
    runtime protocol check would find it the same way (present and not None), after walking the
    protocol's attributes and its subclass hook each time (an Applier per actor in the race
    harness: ~2% of a schedule). When the method is missing, the check itself decides."""
    return getattr(backend, "list_record_sets_page", None) is not None or isinstance(backend, RangedListing)


#: Views of small reads by what was read: (zone, owner, the sets in the order read) -> the view.
_VIEWS: dict[tuple[str, str, tuple[RecordSet, ...]], ZoneView] = {}
#: Reads up to this many sets are kept (a zone's worth of a few names); a whole large zone is
#: neither hashed nor held.
VIEW_MEMO_SETS = 64
_VIEWS_MAX = 1024
#: What a view is computed with (see `_view_code`), as the views kept were.
_VIEWS_CODE: list[object] = []


def _view_code() -> list[object]:
    """The functions `ZoneView.of` reads a view with: a test that replaces one of them (to take a
    safeguard out) gets views read by the replacement, not ones kept from before."""
    return [ZoneView.__dict__["of"], *map(vars(fence_module).get, _VIEW_FUNCTIONS)]


_VIEW_FUNCTIONS = ("find_fence", "parse_fence", "marker_owners", "_marker_owner", "check_token", "_number",
                   "fence_record_name", "fence_name", "owner_name", "Fence")  # fmt: skip


def view_of(zone: str, sets: list[RecordSet], owner: str = DEFAULT_OWNER) -> ZoneView:
    """`ZoneView.of(zone, sets, owner)`, the same view again for an equal small read.

    A view is a pure function of the zone, the owner and the sets in order (their values: the
    fence, the markers and the keys are read from them), and nothing changes a view once built,
    so an equal read may share it: a read-back, a re-read after a conflict and the race harness's
    thousands of schedules read the same few small zones over and over, and parsing the fence
    and the markers again is most of a small read's cost. Only sets that are exactly `RecordSet`
    and hashable (immutable values) are keyed; anything else is viewed afresh."""
    global _VIEWS_CODE
    if len(sets) > VIEW_MEMO_SETS:
        return ZoneView.of(zone, sets, owner)
    got = tuple(sets)
    try:
        if not all(type(r) is RecordSet for r in got):
            return ZoneView.of(zone, got, owner)
        key = (zone, owner, got)
        view = _VIEWS.get(key)
    except TypeError:  # a value that cannot be hashed (a list): not immutable, not kept
        return ZoneView.of(zone, got, owner)
    code = _view_code()
    if code != _VIEWS_CODE:  # compared by identity first: cheap when unchanged
        _VIEWS.clear()
        _VIEWS_CODE, view = code, None
    if view is None:
        if len(_VIEWS) >= _VIEWS_MAX:
            _VIEWS.clear()
        view = _VIEWS[key] = ZoneView.of(zone, got, owner)
    return view


class _NotRanged(Exception):
    """A ranged listing that did not advance (an endpoint ignoring StartRecordIdentifier)."""


def _span(name: str) -> tuple[_Key, _Key, str]:
    """Where `name`'s sets start in Route 53's order and where its marker ends (a reserved name
    (fence, marker) has no marker of its own)."""
    last = name if is_reserved(name) else owner_name(name)
    return (reversed_name(name),), (reversed_name(last), "\U0010ffff"), name
