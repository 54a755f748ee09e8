"""A strict model of Route 53's change semantics: the fake that is more faithful than any emulator.

Every rule of `ChangeResourceRecordSets` is judged by `safeguards.route53_rules`, the one
implementation of Route 53's rules that the LocalStack provider uses too: the batch is
all-or-nothing and judged as a whole; DELETE must match the current set exactly (TTL, every value,
every routing field); CREATE of an existing set fails; UPSERT replaces (also the apex NS/SOA);
CNAME exclusivity; routing-policy conflicts; per-type RDATA; the quotas. Shape problems are
`InvalidInput`, semantic ones `InvalidChangeBatch` (`BatchRejected.code` says which). Names are
case-insensitive (`*` and `\\052` are one name) and listed in Route 53's order. Each change is
`PENDING` until `insync_after` seconds have passed on the model's clock; an unknown change id is
`NoSuchChange`.

It is thread-safe and can persist to SQLite so that separate processes (CLI invocations) share a
zone with the same all-or-nothing guarantee (`BEGIN IMMEDIATE` serialises writers): that is the
embedded default backend. Fault injection (`faults`) and an optional token-bucket rate limit model
the failures a client must survive: throttling, PriorRequestNotComplete, a response lost after the
change applied, a timeout before it did, a stale read from a lagging copy.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import itertools
import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..clock import Clock, SystemClock
from ..errors import (
    BatchRejected,
    InvalidInput,
    OutcomeUnknown,
    PriorRequestNotComplete,
    Throttled,
    ZoneNotFound,
)
from ..records import Change, ChangeInfo, RecordKey, RecordSet, fqdn
from ..route53_rules import Quotas, Route53Error, from_wire, judge_batch, list_page
from ..route53_rules.listing import reversed_name
from ..route53_rules.wire import RRSet
from ..sqlite_tx import transaction
from .boto3_route53 import NoSuchChange, record_set_from_wire, record_set_to_wire

#: Route 53 returns at most this many sets per ListResourceRecordSets page.
PAGE_SIZE = 300
#: Real Route 53 propagates a change to its name servers in about a minute.
DEFAULT_INSYNC_AFTER = 60.0


# ---------------------------------------------------------------------------------- faults


@dataclass
class Faults:
    """Faults the next calls will suffer; each method arms `n` more of one kind. Thread-safe.

    Faults fire in this order for a change batch: throttle, prior-request, timeout-before-apply,
    (validation and apply), lose-response, duplicate.
    """

    _armed: Counter[str] = field(default_factory=Counter)
    fired: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def throttle(self, n: int = 1) -> None:
        """The next `n` calls (any API) fail with `Throttled`, nothing applied."""
        self._arm("throttle", n)

    def prior_request(self, n: int = 1) -> None:
        """The next `n` change batches fail with `PriorRequestNotComplete`, nothing applied."""
        self._arm("prior_request", n)

    def timeout_before_apply(self, n: int = 1) -> None:
        """The next `n` change batches time out before Route 53 saw them: `OutcomeUnknown`,
        nothing applied."""
        self._arm("timeout_before_apply", n)

    def lose_response(self, n: int = 1) -> None:
        """The next `n` change batches apply, then their response is lost: `OutcomeUnknown`."""
        self._arm("lose_response", n)

    def duplicate(self, n: int = 1) -> None:
        """The next `n` change batches are delivered twice (a client or proxy retry); the second
        delivery is judged against the state the first one left."""
        self._arm("duplicate", n)

    def stale_read(self, n: int = 1) -> None:
        """The next `n` reads return the zone as it was before its latest batch (a lagging copy)."""
        self._arm("stale_read", n)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def _arm(self, kind: str, n: int) -> None:
        with self._lock:
            self._armed[kind] += n

    def take(self, kind: str) -> bool:
        """Consume one armed fault of `kind`; True if one was armed."""
        if not self._armed:  # nothing armed (the common case): no lock to take
            return False
        with self._lock:
            n = self._armed[kind]
            if n <= 0:
                return False
            if n == 1:
                del self._armed[kind]  # none left: the counter empties, and the check above holds
            else:
                self._armed[kind] = n - 1
            self.fired[kind] += 1
            return True


class RateLimit:
    """Token bucket on the model's clock: `rate` calls per second, bursts of `burst`."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock.now()
        self._lock = threading.Lock()
        self.throttled = 0

    def take(self) -> bool:
        """Spend a token; False (and count it) when the bucket is empty."""
        with self._lock:
            now = self._clock.now()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            self.throttled += 1
            return False


# ---------------------------------------------------------------------------------- storage


class _Tx(Protocol):
    """The zone data a batch is judged against, inside one transaction."""

    def get(self, key: RecordKey) -> RecordSet | None: ...
    def at_name(self, name: str) -> list[RecordSet]: ...
    def count(self) -> int: ...
    def put(self, rrset: RecordSet) -> None: ...
    def delete(self, key: RecordKey) -> None: ...


class _MemoryZone:
    """One zone's sets in memory, indexed by key and by name."""

    def __init__(self, zone_id: str, name: str) -> None:
        self.id = zone_id
        self.name = name
        self.by_name: dict[str, dict[RecordKey, RecordSet]] = {}
        self._sorted: list[RecordSet] | None = None
        self._count = 0

    def get(self, key: RecordKey) -> RecordSet | None:
        return self.by_name.get(key[0], {}).get(key)

    def at_name(self, name: str) -> list[RecordSet]:
        return list(self.by_name.get(name, {}).values())

    def count(self) -> int:
        return self._count

    def put(self, rrset: RecordSet) -> None:
        sets = self.by_name.setdefault(rrset.name, {})
        self._count += rrset.key not in sets
        sets[rrset.key] = rrset
        self._sorted = None

    def delete(self, key: RecordKey) -> None:
        sets = self.by_name.get(key[0])
        if sets is not None:
            self._count -= sets.pop(key, None) is not None
            if not sets:
                del self.by_name[key[0]]
        self._sorted = None

    def all_sorted(self) -> list[RecordSet]:
        if self._sorted is None:
            self._sorted = sorted((r for sets in self.by_name.values() for r in sets.values()), key=list_order)
        return self._sorted


class _SqliteTx:
    """The same view over the SQLite tables, inside an open transaction."""

    def __init__(self, db: sqlite3.Connection, zone_id: str) -> None:
        self.db = db
        self.zone_id = zone_id

    def get(self, key: RecordKey) -> RecordSet | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM rrsets WHERE zone_id=? AND name=? AND type=? AND set_id=?",
            (self.zone_id, key[0], key[1], key[2] or ""),
        ).fetchone()
        return _row_to_rrset(row) if row else None

    def at_name(self, name: str) -> list[RecordSet]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM rrsets WHERE zone_id=? AND name=?",
            (self.zone_id, name),
        ).fetchall()
        return [_row_to_rrset(r) for r in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM rrsets WHERE zone_id=?", (self.zone_id,)).fetchone()[0])

    def put(self, rrset: RecordSet) -> None:
        routing = {k: v for k, v in rrset.to_dict().items() if k not in _PLAIN_KEYS}
        self.db.execute(
            "INSERT OR REPLACE INTO rrsets (zone_id, name, type, set_id, ttl, weight, vals, routing) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                self.zone_id,
                rrset.name,
                rrset.type,
                rrset.set_identifier or "",
                rrset.ttl,
                rrset.weight,
                json.dumps(list(rrset.values)),
                json.dumps(routing, sort_keys=True) if routing else None,
            ),
        )

    def delete(self, key: RecordKey) -> None:
        self.db.execute(
            "DELETE FROM rrsets WHERE zone_id=? AND name=? AND type=? AND set_id=?",
            (self.zone_id, key[0], key[1], key[2] or ""),
        )

    def all_sorted(self) -> list[RecordSet]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM rrsets WHERE zone_id=?", (self.zone_id,)
        ).fetchall()
        return sorted((_row_to_rrset(r) for r in rows), key=list_order)


_COLUMNS = "name, type, ttl, vals, set_id, weight, routing"
#: Keys of `RecordSet.to_dict` that have their own columns; the rest (routing) is one JSON column.
_PLAIN_KEYS = frozenset({"name", "type", "ttl", "values", "set_identifier", "weight"})


def _row_to_rrset(row: Sequence[Any]) -> RecordSet:
    name, rtype, ttl, vals, set_id, weight, routing = row
    plain = RecordSet(name, rtype, int(ttl), tuple(json.loads(vals)), set_id or None, weight)
    if not routing:
        return plain
    return RecordSet.from_dict({**plain.to_dict(), **json.loads(routing), "weight": weight})


_SCHEMA = """
CREATE TABLE IF NOT EXISTS zones (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS rrsets (
    zone_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, set_id TEXT NOT NULL,
    ttl INTEGER NOT NULL, weight INTEGER, vals TEXT NOT NULL, routing TEXT,
    PRIMARY KEY (zone_id, name, type, set_id)
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, submitted_at REAL NOT NULL, comment TEXT
);
"""


def _add_routing_column(db: sqlite3.Connection) -> None:
    """State files written before routing policies were modelled lack the `routing` column."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(rrsets)")}
    if "routing" not in columns:
        with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
            db.execute("ALTER TABLE rrsets ADD COLUMN routing TEXT")


def list_order(r: RecordSet) -> tuple[Any, ...]:
    """Route 53's listing order (see `safeguards.route53_rules.listing`): the listed name with
    labels reversed and the trailing dot, compared as text; then type, then set identifier."""
    return (reversed_name(r.name), r.type, r.set_identifier or "")


def _to_rules(r: RecordSet) -> RRSet:
    return from_wire(record_set_to_wire(r))


# ---------------------------------------------------------------------------------- the model


class StrictRoute53:
    """The strict Route 53 model; implements `safeguards.backend.Route53Backend`.

    `path`: persist to this SQLite file (shared safely between processes); None keeps the zones
    in memory. `insync_after`: seconds on `clock` before a change is INSYNC (0 = at once).
    `rate_limit`: (requests per second, burst) applied to every API call, or None.
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        clock: Clock | None = None,
        insync_after: float = DEFAULT_INSYNC_AFTER,
        rate_limit: tuple[float, int] | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.quotas = quotas or Quotas()
        self.insync_after = insync_after
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self.rate_limit = RateLimit(rate_limit[0], rate_limit[1], self.clock) if rate_limit else None
        self._lock = threading.RLock()
        self._path = Path(path) if path is not None else None
        self._db: sqlite3.Connection | None = None
        self._zones: dict[str, _MemoryZone] = {}
        self._changes: dict[str, float] = {}
        self._ids = itertools.count(1)
        # Per zone, how to undo its latest batch: a stale read is the zone with it undone.
        self._undo: dict[str, list[tuple[RecordKey, RecordSet | None]]] = {}
        self._verdicts = _Verdicts()
        if self._path is not None:
            self._db = sqlite3.connect(self._path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.executescript(_SCHEMA)
            _add_routing_column(self._db)

    # ------------------------------------------------------------------ Route53Backend

    def resolve_zone(self, zone_name: str, *, create: bool = False) -> str:
        """Hosted zone id of `zone_name`; created (with its SOA and NS) when `create`."""
        self._enter("ListHostedZonesByName")
        zone = fqdn(zone_name)
        zone_id = _zone_id(zone)
        with self._lock:
            if self._db is None:
                if zone_id in self._zones:
                    return zone_id
                if not create:
                    raise ZoneNotFound(f"hosted zone {zone} not found")
                mz = _MemoryZone(zone_id, zone)
                for r in _apex_sets(zone):
                    mz.put(r)
                self._zones[zone_id] = mz
                return zone_id
            with self._write() as db:
                if db.execute("SELECT 1 FROM zones WHERE id=?", (zone_id,)).fetchone():
                    return zone_id
                if not create:
                    raise ZoneNotFound(f"hosted zone {zone} not found")
                db.execute("INSERT INTO zones (id, name) VALUES (?, ?)", (zone_id, zone))
                tx = _SqliteTx(db, zone_id)
                for r in _apex_sets(zone):
                    tx.put(r)
                return zone_id

    def list_record_sets(self, zone_id: str) -> list[RecordSet]:
        """Every set of the zone in Route 53's order; counts one call per 300-set page."""
        self._enter("ListResourceRecordSets")
        with self._lock:
            if self.faults.take("stale_read") and zone_id in self._undo:
                sets = self._lagging(zone_id)
            elif self._db is None:
                sets = list(self._zone(zone_id).all_sorted())
            else:
                with self._read() as db:
                    self._zone_name(db, zone_id)
                    sets = _SqliteTx(db, zone_id).all_sorted()
        extra_pages = max(0, math.ceil(len(sets) / PAGE_SIZE) - 1)
        self.calls["ListResourceRecordSets"] += extra_pages
        return sets

    def list_record_sets_page(
        self, zone_id: str, start: tuple[str, str | None, str | None] | None = None, max_items: int = PAGE_SIZE
    ) -> tuple[list[RecordSet], tuple[str, str | None, str | None] | None]:
        """One ListResourceRecordSets page (`safeguards.backend.RangedListing`): the sets from
        `start` (name, type, set identifier) in Route 53's order, at most `max_items` (≤ 300),
        and where the next page starts. One call; a `stale_read` fault applies to it as to a listing."""
        self._enter("ListResourceRecordSets")
        with self._lock:
            if self.faults.take("stale_read") and zone_id in self._undo:
                sets = self._lagging(zone_id)
            elif self._db is None:
                sets = self._zone(zone_id).all_sorted()
            else:
                with self._read() as db:
                    self._zone_name(db, zone_id)
                    sets = _SqliteTx(db, zone_id).all_sorted()
        begin = 0
        if start is not None:
            name, rtype, ident = start
            key = (reversed_name(fqdn(name)), (rtype or "").upper(), (ident or "") if rtype else "")
            begin = bisect.bisect_left(sets, key, key=list_order)
        end = begin + max(1, min(PAGE_SIZE, int(max_items)))
        nxt = sets[end] if end < len(sets) else None
        # A slice is a new list already: the caller's to keep, nothing of the zone's shared.
        return sets[begin:end], (nxt.name, nxt.type, nxt.set_identifier) if nxt is not None else None

    def change_record_sets(self, zone_id: str, changes: Sequence[Change], comment: str = "") -> ChangeInfo:
        """Judge the whole batch against the current sets; apply all of it or none."""
        self._enter("ChangeResourceRecordSets")
        if self.faults.take("prior_request"):
            raise PriorRequestNotComplete("PriorRequestNotComplete: the request was rejected because Route 53 "
                                          "was still processing a prior request")
        if self.faults.take("timeout_before_apply"):
            raise OutcomeUnknown("read timeout: no response to ChangeResourceRecordSets (outcome unknown)")
        info = self._apply(zone_id, changes, comment)
        if self.faults.take("duplicate"):
            with contextlib.suppress(BatchRejected):
                self._apply(zone_id, changes, comment)
        if self.faults.take("lose_response"):
            raise OutcomeUnknown("connection reset: the response to ChangeResourceRecordSets was lost "
                                 "(outcome unknown)")
        return info

    def get_change(self, change_id: str) -> ChangeInfo:
        """PENDING until `insync_after` seconds after submission, then INSYNC."""
        self._enter("GetChange")
        with self._lock:
            if self._db is None:
                submitted = self._changes.get(change_id)
            else:
                with self._read() as db:
                    row = db.execute("SELECT submitted_at FROM changes WHERE id=?", (change_id,)).fetchone()
                submitted = row[0] if row else None
        if submitted is None:
            raise NoSuchChange(f"NoSuchChange: a change with id {change_id} does not exist")
        return ChangeInfo(change_id, self._status(submitted), submitted)

    # ------------------------------------------------------------------ model extras

    def change_resource_record_sets(self, zone_id: str, change_batch: Mapping[str, Any]) -> dict[str, Any]:
        """ChangeResourceRecordSets in botocore's request/response shape, for wire-level clients:
        judged on the request as sent (so shape problems are InvalidInput), then applied as
        `change_record_sets` does. Raises `Route53Error` with Route 53's code and message."""
        changes = list(change_batch.get("Changes") or [])
        zone = self.zone_name(zone_id)
        with self._lock:
            if self._db is None:
                judge_batch(zone, _RulesView(self._zone(zone_id)), changes, self.quotas)
            else:
                with self._read() as db:
                    judge_batch(zone, _RulesView(_SqliteTx(db, zone_id)), changes, self.quotas)
            batch = [Change(c["Action"], record_set_from_wire(c["ResourceRecordSet"])) for c in changes]
            info = self.change_record_sets(zone_id, batch, str(change_batch.get("Comment") or ""))
        return {"ChangeInfo": {"Id": f"/change/{info.id}", "Status": info.status, "SubmittedAt": info.submitted_at}}

    def list_resource_record_sets(
        self,
        zone_id: str,
        *,
        start_name: str | None = None,
        start_type: str | None = None,
        start_identifier: str | None = None,
        max_items: int | str | None = None,
    ) -> dict[str, Any]:
        """One ListResourceRecordSets page in botocore's response shape (names as Route 53 lists
        them, `NextRecordIdentifier` where a page stops inside a routed name): what a real client's
        paginator sees."""
        self._enter("ListResourceRecordSets")
        with self._lock:
            if self._db is None:
                sets = list(self._zone(zone_id).all_sorted())
            else:
                with self._read() as db:
                    self._zone_name(db, zone_id)
                    sets = _SqliteTx(db, zone_id).all_sorted()
        return list_page(
            [_to_rules(r) for r in sets],
            start_name=start_name,
            start_type=start_type,
            start_identifier=start_identifier,
            max_items=max_items,
        )

    def snapshot(self, zone_id: str) -> bytes:
        """The zone's sets serialized canonically: equal bytes means an identical zone."""
        with self._lock:
            if self._db is None:
                sets = self._zone(zone_id).all_sorted()
            else:
                with self._read() as db:
                    sets = _SqliteTx(db, zone_id).all_sorted()
        return json.dumps([r.to_dict() for r in sets], sort_keys=True).encode()

    def records(self, zone_id: str) -> list[RecordSet]:
        """The zone's sets in listing order, read directly: no API call counted, no fault
        consumed, no copy (a view for checkers and harnesses: do not mutate it). The list of an
        in-memory zone is replaced, never changed, by a batch: one taken before a batch still
        shows the zone as it was."""
        with self._lock:
            if self._db is None:
                return self._zone(zone_id).all_sorted()
            with self._read() as db:
                return _SqliteTx(db, zone_id).all_sorted()

    def fork(self, *, clock: Clock | None = None) -> StrictRoute53:
        """An independent copy of an in-memory model (zones, changes, the undo of each zone's
        latest batch; no armed faults, no call counts), on `clock` (default: this model's). Record
        sets are immutable and shared. For harnesses that run many worlds from one start."""
        if self._db is not None:
            raise ValueError("fork() copies in-memory models only")
        other = StrictRoute53(
            clock=clock or self.clock,
            insync_after=self.insync_after,
            quotas=self.quotas,
        )
        if self.rate_limit is not None:
            other.rate_limit = RateLimit(self.rate_limit.rate, self.rate_limit.burst, other.clock)
        with self._lock:
            for zone_id, mz in self._zones.items():
                copy = _MemoryZone(mz.id, mz.name)
                copy.by_name = {name: dict(sets) for name, sets in mz.by_name.items()}
                copy._sorted = mz.all_sorted()  # replaced, never mutated: sorted once, shared by every fork
                copy._count = mz._count
                other._zones[zone_id] = copy
            other._verdicts = self._verdicts  # verdicts are facts about (batch, zone content): shared
            other._changes = dict(self._changes)
            other._undo = {z: list(u) for z, u in self._undo.items()}
            nxt = next(self._ids)
            self._ids = itertools.count(nxt)
            other._ids = itertools.count(nxt)
        return other

    def next_change_number(self) -> int:
        """The number the next change id will carry (ids are ``C`` and this, zero-padded)."""
        with self._lock:
            nxt = next(self._ids)
            self._ids = itertools.count(nxt)
            return nxt

    def memo_state(self) -> tuple[Any, ...] | None:
        """What this in-memory model's answers from now on depend on, as a hashable value, for
        a harness that reuses a deterministic run's result per starting state (the race
        explorer's closing round): settings, every zone's sets, the next change number and the
        armed faults. Not in it: the undo of each zone's latest batch (read only by a
        `stale_read` fault, and faults are part of the value), the submission times of earlier
        changes (a client only asks about changes it made), call counts and fired faults (what
        happened, never consulted). None for a model that cannot be captured (SQLite, rate
        limited)."""
        if self._db is not None or self.rate_limit is not None:
            return None
        with self._lock:
            zones = tuple((z, mz.name, tuple(mz.all_sorted())) for z, mz in self._zones.items())
            armed = tuple(sorted((k, n) for k, n in self.faults._armed.items() if n > 0))
            return (self.insync_after, self.quotas, zones, self.next_change_number(), armed)

    def memo_mark(self) -> tuple[Any, ...]:
        """The parts of the state `memo_delta` compares against (taken before the run)."""
        with self._lock:
            return (len(self._changes), dict(self._undo), Counter(self.calls), Counter(self.faults.fired))

    def memo_delta(self, mark: tuple[Any, ...]) -> tuple[Any, ...]:
        """What changed since `mark`, to be put back with `memo_apply` on a model whose
        `memo_state` was equal to this one's at the mark: the zones as they are now, the changes
        submitted since, the next change number, the undo of zones written since, and the calls
        and faults counted since. Record sets are immutable: shared, never copied."""
        n_changes, undo, calls, fired = mark
        with self._lock:
            zones = {
                z: (mz.name, {n: dict(s) for n, s in mz.by_name.items()}, mz.all_sorted(), mz._count)
                for z, mz in self._zones.items()
            }
            new_changes = tuple(itertools.islice(self._changes.items(), n_changes, None))
            new_undo = {z: list(u) for z, u in self._undo.items() if undo.get(z) is not u}
            armed = {k: n for k, n in self.faults._armed.items() if n > 0}
            return (zones, new_changes, self.next_change_number(), new_undo, self.calls - calls,
                    self.faults.fired - fired, armed)  # fmt: skip

    def memo_apply(self, delta: tuple[Any, ...]) -> None:
        """Put back a `memo_delta`: this model ends as the one it was taken from did."""
        zones, new_changes, nxt, new_undo, calls, fired, armed = delta
        with self._lock:
            for z, (name, by_name, srt, count) in zones.items():
                mz = self._zones.get(z) or self._zones.setdefault(z, _MemoryZone(z, name))
                mz.by_name = {n: dict(s) for n, s in by_name.items()}
                mz._sorted = srt  # replaced, never mutated
                mz._count = count
            self._changes.update(new_changes)
            self._ids = itertools.count(nxt)
            self._undo.update((z, list(u)) for z, u in new_undo.items())
            self.calls.update(calls)
            with self.faults._lock:
                self.faults.fired.update(fired)
                self.faults._armed.clear()
                self.faults._armed.update(armed)

    def zone_name(self, zone_id: str) -> str:
        """Canonical name of a hosted zone."""
        with self._lock:
            if self._db is None:
                return self._zone(zone_id).name
            with self._read() as db:
                return self._zone_name(db, zone_id)

    def close(self) -> None:
        """Close the SQLite connection (in-memory models need nothing)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------------ internals

    def _lagging(self, zone_id: str) -> list[RecordSet]:
        """The zone as it was before its latest batch (undo applied to a copy; O(batch) to keep)."""
        if self._db is None:
            current = {r.key: r for r in self._zone(zone_id).all_sorted()}
        else:
            with self._read() as db:
                current = {r.key: r for r in _SqliteTx(db, zone_id).all_sorted()}
        for key, previous in self._undo[zone_id]:
            if previous is None:
                current.pop(key, None)
            else:
                current[key] = previous
        return sorted(current.values(), key=list_order)

    def _enter(self, api: str) -> None:
        self.calls[api] += 1
        if self.rate_limit is not None and not self.rate_limit.take():
            raise Throttled(f"Throttling: rate exceeded ({self.rate_limit.rate:g} requests/s)")
        if self.faults.take("throttle"):
            raise Throttled("Throttling: rate exceeded")

    def _status(self, submitted: float) -> Any:
        return "INSYNC" if self.clock.now() - submitted >= self.insync_after else "PENDING"

    def _zone(self, zone_id: str) -> _MemoryZone:
        try:
            return self._zones[zone_id]
        except KeyError:
            raise ZoneNotFound(f"NoSuchHostedZone: no hosted zone found with id {zone_id}") from None

    @staticmethod
    def _zone_name(db: sqlite3.Connection, zone_id: str) -> str:
        row = db.execute("SELECT name FROM zones WHERE id=?", (zone_id,)).fetchone()
        if row is None:
            raise ZoneNotFound(f"NoSuchHostedZone: no hosted zone found with id {zone_id}")
        return str(row[0])

    def _apply(self, zone_id: str, changes: Sequence[Change], comment: str) -> ChangeInfo:
        now = self.clock.now()
        # Route 53 compares values as a set: store them sorted so order never matters.
        # Names are case-insensitive and `\\052` is `*`: store them canonical.
        changes = [
            c
            if list(c.rrset.values) == sorted(c.rrset.values) and fqdn(c.rrset.name) == c.rrset.name
            else Change(c.action, replace(c.rrset.with_values(c.rrset.values), name=fqdn(c.rrset.name)))
            for c in changes
        ]
        with self._lock:
            if self._db is None:
                mz = self._zone(zone_id)
                undo = [(c.rrset.key, mz.get(c.rrset.key)) for c in reversed(changes)]
                self._verdicts.judge(mz, changes, self.quotas)
                _commit(mz, changes)
                self._undo[zone_id] = undo
                change_id = f"C{next(self._ids):012d}"
                self._changes[change_id] = now
                return ChangeInfo(change_id, self._status(now), now, comment)
            with self._write() as db:
                zone = self._zone_name(db, zone_id)
                tx = _SqliteTx(db, zone_id)
                validate_batch(zone, tx, changes, self.quotas)
                _commit(tx, changes)
                seq = db.execute(
                    "INSERT INTO changes (submitted_at, comment) VALUES (?, ?)", (now, comment)
                ).lastrowid
                change_id = f"C{seq:012d}"
                db.execute("UPDATE changes SET id=? WHERE seq=?", (change_id, seq))
                return ChangeInfo(change_id, self._status(now), now, comment)

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        assert self._db is not None
        return transaction(self._db, self._lock)

    def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        assert self._db is not None
        return transaction(self._db, self._lock, write=False)


@functools.lru_cache(maxsize=4096)
def _zone_id(zone: str) -> str:
    """The hosted zone id of canonical `zone` (a hash of it: computed once per name)."""
    return "Z" + hashlib.sha256(zone.encode()).hexdigest()[:13].upper()


def _apex_sets(zone: str) -> list[RecordSet]:
    ns = tuple(f"ns-{i}.awsdns-{i:02d}.{tld}." for i, tld in enumerate(("com", "net", "org", "co.uk")))
    soa = f"{ns[0]} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
    return [RecordSet(zone, "NS", 172800, ns), RecordSet(zone, "SOA", 900, (soa,))]


def _commit(tx: _Tx, changes: Sequence[Change]) -> None:
    for c in changes:
        if c.action == "DELETE":
            tx.delete(c.rrset.key)
        else:
            tx.put(c.rrset)


class _RulesView:
    """The zone as `route53_rules.judge_batch` reads it."""

    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def get(self, key: RecordKey) -> RRSet | None:
        found = self.tx.get(key)
        return None if found is None else _to_rules(found)

    def at_name(self, name: str) -> list[RRSet]:
        return [_to_rules(r) for r in self.tx.at_name(name)]

    def count(self) -> int:
        return self.tx.count()


class _RecordingView(_RulesView):
    """`_RulesView` that records every read and its answer, so that a verdict can be reused
    while every read would answer the same (the rules are a pure function of what they read)."""

    def __init__(self, tx: _Tx) -> None:
        super().__init__(tx)
        self.reads: list[tuple[int, Any, Any]] = []

    def get(self, key: RecordKey) -> RRSet | None:
        found = self.tx.get(key)
        self.reads.append((0, key, found))
        return None if found is None else _to_rules(found)

    def at_name(self, name: str) -> list[RRSet]:
        sets = self.tx.at_name(name)
        self.reads.append((1, name, sets))
        return [_to_rules(r) for r in sets]

    def count(self) -> int:
        n = self.tx.count()
        self.reads.append((2, None, n))
        return n


def _reads_hold(tx: _Tx, reads: Sequence[tuple[int, Any, Any]]) -> bool:
    for kind, arg, answer in reads:
        if kind == 0:
            now: Any = tx.get(arg)
            if now is not answer and now != answer:
                return False
        elif kind == 1:
            if tx.at_name(arg) != answer:
                return False
        elif tx.count() != answer:
            return False
    return True


class _Verdicts:
    """Verdicts of `validate_batch` on in-memory zones, reused exactly: a verdict is kept with
    every read the rules made (a set by key, the sets at a name, the count) and its answer; it
    applies again to the same batch, zone and quotas while each of those reads answers the same,
    because the rules decide on nothing else. Harnesses that replay the same batches on the
    same zone contents thousands of times (the race explorer) skip re-judging them."""

    LIMIT = 20_000
    PER_BATCH = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[Any, ...], list[tuple[list[tuple[int, Any, Any]], Any]]] = {}

    def judge(self, mz: _MemoryZone, changes: Sequence[Change], quotas: Quotas) -> None:
        key = (mz.name, tuple(changes), quotas)
        hashable = True
        with self._lock:
            try:
                known = self._seen.get(key)  # hashes the key (once: a tuple does not keep its hash)
            except TypeError:  # an unhashable field: judge without memory
                known, hashable = None, False
            for reads, verdict in known or ():
                if _reads_hold(mz, reads):
                    if verdict is not None:
                        raise _rejected(verdict)
                    return
        if not hashable:
            validate_batch(mz.name, mz, changes, quotas)
            return
        view = _RecordingView(mz)
        verdict = None
        try:
            _validate(mz.name, view, changes, quotas)
        except BatchRejected as exc:
            verdict = (exc.message, exc.problems, getattr(exc, "code", "InvalidChangeBatch"))
        with self._lock:
            if len(self._seen) >= self.LIMIT:
                self._seen.clear()
            entries = self._seen.setdefault(key, [])
            if len(entries) < self.PER_BATCH:
                entries.append((view.reads, verdict))
        if verdict is not None:
            raise _rejected(verdict)


def _rejected(verdict: tuple[str, tuple[str, ...], str]) -> BatchRejected:
    message, problems, code = verdict
    rejected = BatchRejected(message, problems=problems)
    rejected.code = code  # type: ignore[attr-defined]
    return rejected


def validate_batch(zone: str, tx: _Tx, changes: Sequence[Change], quotas: Quotas | None = None) -> None:
    """Raise `BatchRejected` (`.code` InvalidInput or InvalidChangeBatch) listing every problem
    unless Route 53 would accept the whole batch against the current sets in `tx`."""
    _validate(zone, _RulesView(tx), changes, quotas)


def _validate(zone: str, view: _RulesView, changes: Sequence[Change], quotas: Quotas | None) -> None:
    """`validate_batch` reading the zone through `view`."""
    try:
        wire = [{"Action": c.action, "ResourceRecordSet": record_set_to_wire(c.rrset)} for c in changes]
    except InvalidInput as exc:  # a malformed alias value: Route 53 never sees such a request
        rejected = BatchRejected(f"InvalidInput: {exc}", problems=[str(exc)])
        rejected.code = "InvalidInput"  # type: ignore[attr-defined]
        raise rejected from None
    _judge(zone, view, wire, quotas)


def _judge(zone: str, view: _RulesView, wire: list[dict[str, Any]], quotas: Quotas | None) -> None:
    try:
        judge_batch(zone, view, wire, quotas or Quotas())
    except Route53Error as exc:
        rejected = BatchRejected(f"{exc.code}: {exc.message}", problems=exc.problems)
        rejected.code = exc.code  # type: ignore[attr-defined]
        raise rejected from None
