"""A strict model of Route 53's change semantics: the fake that is more faithful than any emulator.

Every rule of `ChangeResourceRecordSets` our safety relies on is enforced here, measured against
the Route 53 API reference (`../shared/route53-semantics.md`), where moto and LocalStack are lax:

- a batch is all-or-nothing, validated as a whole against the zone's current sets;
- `DELETE` must match the current set exactly (TTL, every value, set identifier, weight);
- `CREATE` of an existing set fails; `UPSERT` replaces unconditionally;
- no CNAME at the apex or beside another type; weighted and plain sets of one name/type do not mix;
  the apex SOA and NS cannot be changed;
- at most 1,000 records and 32,000 value characters per request (an UPSERT counts twice);
- each change is `PENDING` until `insync_after` seconds have passed on the model's clock.

It is thread-safe and can persist to SQLite so that separate processes (CLI invocations) share a
zone with the same all-or-nothing guarantee (`BEGIN IMMEDIATE` serialises writers): that is the
embedded default backend. Fault injection (`faults`) and an optional token-bucket rate limit model
the failures a client must survive: throttling, PriorRequestNotComplete, a response lost after the
change applied, a timeout before it did, a stale read from a lagging copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from ..records import (
    MAX_LABEL_OCTETS,
    MAX_NAME_OCTETS,
    MAX_RECORDS_PER_BATCH,
    MAX_TTL,
    MAX_VALUE_CHARS_PER_BATCH,
    Change,
    ChangeInfo,
    RecordKey,
    RecordSet,
    fqdn,
    in_zone,
)
from ..sqlite_tx import transaction
from ..values import NORMALIZERS, normalize_value

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
        with self._lock:
            if self._armed[kind] <= 0:
                return False
            self._armed[kind] -= 1
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
    def put(self, rrset: RecordSet) -> None: ...
    def delete(self, key: RecordKey) -> None: ...


class _MemoryZone:
    """One zone's sets in memory, indexed by key and by name."""

    def __init__(self, zone_id: str, name: str) -> None:
        self.id = zone_id
        self.name = name
        self.by_name: dict[str, dict[RecordKey, RecordSet]] = {}
        self._sorted: list[RecordSet] | None = None

    def get(self, key: RecordKey) -> RecordSet | None:
        return self.by_name.get(key[0], {}).get(key)

    def at_name(self, name: str) -> list[RecordSet]:
        return list(self.by_name.get(name, {}).values())

    def put(self, rrset: RecordSet) -> None:
        self.by_name.setdefault(rrset.name, {})[rrset.key] = rrset
        self._sorted = None

    def delete(self, key: RecordKey) -> None:
        sets = self.by_name.get(key[0])
        if sets is not None:
            sets.pop(key, None)
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
            "SELECT name, type, ttl, vals, set_id, weight FROM rrsets "
            "WHERE zone_id=? AND name=? AND type=? AND set_id=?",
            (self.zone_id, key[0], key[1], key[2] or ""),
        ).fetchone()
        return _row_to_rrset(row) if row else None

    def at_name(self, name: str) -> list[RecordSet]:
        rows = self.db.execute(
            "SELECT name, type, ttl, vals, set_id, weight FROM rrsets WHERE zone_id=? AND name=?",
            (self.zone_id, name),
        ).fetchall()
        return [_row_to_rrset(r) for r in rows]

    def put(self, rrset: RecordSet) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO rrsets (zone_id, name, type, set_id, ttl, weight, vals) VALUES (?,?,?,?,?,?,?)",
            (
                self.zone_id,
                rrset.name,
                rrset.type,
                rrset.set_identifier or "",
                rrset.ttl,
                rrset.weight,
                json.dumps(list(rrset.values)),
            ),
        )

    def delete(self, key: RecordKey) -> None:
        self.db.execute(
            "DELETE FROM rrsets WHERE zone_id=? AND name=? AND type=? AND set_id=?",
            (self.zone_id, key[0], key[1], key[2] or ""),
        )

    def all_sorted(self) -> list[RecordSet]:
        rows = self.db.execute(
            "SELECT name, type, ttl, vals, set_id, weight FROM rrsets WHERE zone_id=?", (self.zone_id,)
        ).fetchall()
        return sorted((_row_to_rrset(r) for r in rows), key=list_order)


def _row_to_rrset(row: Sequence[Any]) -> RecordSet:
    name, rtype, ttl, vals, set_id, weight = row
    return RecordSet(name, rtype, int(ttl), tuple(json.loads(vals)), set_id or None, weight)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS zones (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS rrsets (
    zone_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, set_id TEXT NOT NULL,
    ttl INTEGER NOT NULL, weight INTEGER, vals TEXT NOT NULL,
    PRIMARY KEY (zone_id, name, type, set_id)
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, submitted_at REAL NOT NULL, comment TEXT
);
"""


def list_order(r: RecordSet) -> tuple[Any, ...]:
    """Route 53's listing order: name with labels reversed, then type, then set identifier."""
    return (tuple(reversed(r.name.rstrip(".").split("."))), r.type, r.set_identifier or "")


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
    ) -> None:
        self.clock = clock or SystemClock()
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
        if self._path is not None:
            self._db = sqlite3.connect(self._path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.executescript(_SCHEMA)

    # ------------------------------------------------------------------ Route53Backend

    def resolve_zone(self, zone_name: str, *, create: bool = False) -> str:
        """Hosted zone id of `zone_name`; created (with its SOA and NS) when `create`."""
        self._enter("ListHostedZonesByName")
        zone = fqdn(zone_name)
        zone_id = "Z" + hashlib.sha256(zone.encode()).hexdigest()[:13].upper()
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
            raise InvalidInput(f"NoSuchChange: change {change_id} not found")
        return ChangeInfo(change_id, self._status(submitted), submitted)

    # ------------------------------------------------------------------ model extras

    def snapshot(self, zone_id: str) -> bytes:
        """The zone's sets serialized canonically: equal bytes means an identical zone."""
        with self._lock:
            if self._db is None:
                sets = self._zone(zone_id).all_sorted()
            else:
                with self._read() as db:
                    sets = _SqliteTx(db, zone_id).all_sorted()
        return json.dumps([r.to_dict() for r in sets], sort_keys=True).encode()

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
        changes = [
            c
            if list(c.rrset.values) == sorted(c.rrset.values)
            else Change(c.action, c.rrset.with_values(c.rrset.values))
            for c in changes
        ]
        with self._lock:
            if self._db is None:
                mz = self._zone(zone_id)
                undo = [(c.rrset.key, mz.get(c.rrset.key)) for c in reversed(changes)]
                validate_batch(mz.name, mz, changes)
                _commit(mz, changes)
                self._undo[zone_id] = undo
                change_id = f"C{next(self._ids):012d}"
                self._changes[change_id] = now
                return ChangeInfo(change_id, self._status(now), now, comment)
            with self._write() as db:
                zone = self._zone_name(db, zone_id)
                tx = _SqliteTx(db, zone_id)
                validate_batch(zone, tx, changes)
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


def _describe(r: RecordSet) -> str:
    sid = f", set identifier='{r.set_identifier}'" if r.set_identifier is not None else ""
    return f"[name='{r.name}', type='{r.type}'{sid}]"


def validate_batch(zone: str, tx: _Tx, changes: Sequence[Change]) -> None:
    """Raise `BatchRejected` listing every problem unless the whole batch is valid against the
    current sets in `tx`, judged change by change in order (as Route 53 does)."""
    problems: list[str] = []
    if not changes:
        problems.append("the change batch is empty")
    records = sum(c.record_count() for c in changes)
    chars = sum(c.value_chars() for c in changes)
    if records > MAX_RECORDS_PER_BATCH:
        problems.append(f"Number of records limit of {MAX_RECORDS_PER_BATCH} exceeded ({records})")
    if chars > MAX_VALUE_CHARS_PER_BATCH:
        problems.append(f"Number of characters limit of {MAX_VALUE_CHARS_PER_BATCH} exceeded ({chars})")
    overlay: dict[RecordKey, RecordSet | None] = {}
    touched: set[str] = set()

    def current(key: RecordKey) -> RecordSet | None:
        return overlay[key] if key in overlay else tx.get(key)

    for c in changes:
        r = c.rrset
        problems += _shape_problems(zone, r)
        touched.add(r.name)
        now = current(r.key)
        if r.name == zone and r.type in ("SOA", "NS"):
            problems.append(f"{c.action} of the apex {r.type} {_describe(r)} is not permitted")
            continue
        if c.action == "DELETE":
            if now is None:
                problems.append(f"Tried to delete resource record set {_describe(r)} but it was not found")
            elif now != r:
                problems.append(
                    f"Tried to delete resource record set {_describe(r)} but the values provided do not match "
                    "the current values"
                )
            else:
                overlay[r.key] = None
        elif c.action == "CREATE":
            if now is not None:
                problems.append(f"Tried to create resource record set {_describe(r)} but it already exists")
            else:
                overlay[r.key] = r
        elif c.action == "UPSERT":
            overlay[r.key] = r
        else:
            problems.append(f"unknown action {c.action!r} for {_describe(r)}")
    by_name: dict[str, list[tuple[RecordKey, RecordSet | None]]] = {}
    for key, after in overlay.items():
        by_name.setdefault(key[0], []).append((key, after))
    for name in sorted(touched):
        problems += _name_problems(zone, name, tx, by_name.get(name, []))
    if problems:
        raise BatchRejected(f"InvalidChangeBatch: {'; '.join(problems)}", problems=problems)


def _shape_problems(zone: str, r: RecordSet) -> list[str]:
    out = []
    if not in_zone(r.name, zone):
        out.append(f"RRSet with DNS name {r.name} is not permitted in zone {zone}")
    if len(r.name) > MAX_NAME_OCTETS:
        out.append(f"DNS name {r.name} is longer than {MAX_NAME_OCTETS} octets")
    if any(len(label) > MAX_LABEL_OCTETS for label in r.name.rstrip(".").split(".")):
        out.append(f"DNS name {r.name} has a label longer than {MAX_LABEL_OCTETS} octets")
    if not r.values:
        out.append(f"{_describe(r)} has no resource records")
    if len(set(r.values)) != len(r.values):
        out.append(f"{_describe(r)} has duplicate values")
    if not 0 <= r.ttl <= MAX_TTL:
        out.append(f"{_describe(r)} TTL {r.ttl} is out of range")
    if (r.set_identifier is None) != (r.weight is None):
        out.append(f"{_describe(r)} needs both a set identifier and a weight, or neither")
    if r.weight is not None and not 0 <= r.weight <= 255:
        out.append(f"{_describe(r)} weight {r.weight} is out of range 0..255")
    if r.type == "CNAME" and len(r.values) > 1:
        out.append(f"{_describe(r)} a CNAME can have only one value")
    if r.type in NORMALIZERS:
        for v in r.values:
            try:
                normalize_value(r.type, v)
            except ValueError as exc:  # Route 53 rejects malformed RDATA (e.g. ARRDATAIllegalIPv4Address)
                out.append(f"{_describe(r)} invalid value: {exc}")
    return out


def _name_problems(
    zone: str, name: str, tx: _Tx, pending: list[tuple[RecordKey, RecordSet | None]]
) -> list[str]:
    """Rules over every set at one name after the batch: CNAME exclusivity, weighted vs plain."""
    sets = {r.key: r for r in tx.at_name(name)}
    for key, r in pending:
        if r is None:
            sets.pop(key, None)
        else:
            sets[key] = r
    out = []
    types = {r.type for r in sets.values()}
    if "CNAME" in types:
        if name == zone:
            out.append(f"RRSet of type CNAME with DNS name {name} is not permitted at the zone apex")
        elif len(types) > 1:
            other = sorted(types - {"CNAME"})[0]
            out.append(
                f"RRSet of type CNAME with DNS name {name} is not permitted because a conflicting RRSet of "
                f"type {other} with the same DNS name exists"
            )
    for rtype in types:
        kinds = {r.set_identifier is None for r in sets.values() if r.type == rtype}
        if len(kinds) > 1:
            out.append(f"{name} {rtype}: a plain set cannot coexist with weighted sets of the same name and type")
    return out
