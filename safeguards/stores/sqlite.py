"""The embedded plan store: SQLite, every write a conditional statement inside `BEGIN IMMEDIATE`,
so separate processes on one machine share plans, leases and the circuit safely."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from ..clock import Clock, SystemClock
from ..errors import InvalidInput, LeaseLost
from ..plan import Plan
from ..planstore import Lease, ZoneState, process_is_dead, scope, this_process
from ..sqlite_tx import transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    zone TEXT NOT NULL, generation INTEGER NOT NULL, checksum TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (zone, generation)
);
CREATE TABLE IF NOT EXISTS zone_state (
    zone TEXT PRIMARY KEY, next_generation INTEGER NOT NULL DEFAULT 1,
    applied_generation INTEGER, applied_checksum TEXT, last_known_good INTEGER,
    circuit_open INTEGER NOT NULL DEFAULT 0, circuit_reason TEXT NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS leases (
    zone TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch INTEGER NOT NULL, expires_at REAL NOT NULL
);
"""


class SqlitePlanStore:
    """`PlanStore` on one SQLite file. Thread-safe; safe across processes."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            # executescript commits on its own, so it runs outside our transaction; it is idempotent.
            self._db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.Error as exc:
            raise InvalidInput(f"plan store {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Columns added since the first schema (state directories written by older versions)."""
        for table, column in (("plans", "pinned INTEGER"), ("leases", "proc TEXT")):
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column.split()[0] not in have:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    @staticmethod
    def _ensure_zone(db: sqlite3.Connection, zone: str) -> None:
        db.execute("INSERT OR IGNORE INTO zone_state (zone) VALUES (?)", (zone,))

    # ------------------------------------------------------------------ plans

    def allocate_generation(self, zone: str) -> int:
        """Next free generation (above every stored one), reserved atomically."""
        with self._tx() as db:
            self._ensure_zone(db, zone)
            (top,) = db.execute("SELECT COALESCE(MAX(generation), 0) FROM plans WHERE zone=?", (zone,)).fetchone()
            (nxt,) = db.execute("SELECT next_generation FROM zone_state WHERE zone=?", (zone,)).fetchone()
            gen = max(int(nxt), int(top) + 1)
            db.execute("UPDATE zone_state SET next_generation=? WHERE zone=?", (gen + 1, zone))
            return gen

    def put_plan(self, plan: Plan) -> bool:
        """Store `plan` unless its generation is taken (same content: False; other: InvalidInput)."""
        key = scope(plan.zone, plan.owner)
        with self._tx() as db:
            self._ensure_zone(db, key)
            row = db.execute(
                "SELECT checksum FROM plans WHERE zone=? AND generation=?", (key, plan.generation)
            ).fetchone()
            if row is not None:
                if row[0] == plan.checksum:
                    return False
                raise InvalidInput(
                    f"{plan.zone}: generation {plan.generation} is already stored with other content "
                    f"(checksum {row[0][:12]}…, ours {plan.checksum[:12]}…); generations are never reused"
                )
            db.execute(
                "INSERT INTO plans (zone, generation, checksum, body) VALUES (?,?,?,?)",
                (key, plan.generation, plan.checksum, plan.to_json()),
            )
            db.execute(
                "UPDATE zone_state SET next_generation=MAX(next_generation, ?) WHERE zone=?",
                (plan.generation + 1, key),
            )
            return True

    def get_plan(self, zone: str, generation: int) -> Plan | None:
        """The stored plan, or None."""
        from ..plan import plan_from_json

        with self._lock:
            row = self._db.execute(
                "SELECT body FROM plans WHERE zone=? AND generation=?", (zone, generation)
            ).fetchone()
        return plan_from_json(row[0]) if row else None

    def generations(self, zone: str) -> list[int]:
        """Stored generations, ascending."""
        with self._lock:
            rows = self._db.execute("SELECT generation FROM plans WHERE zone=? ORDER BY generation", (zone,))
            return [int(r[0]) for r in rows.fetchall()]

    def delete_plan(self, zone: str, generation: int, lease: Lease, *, pinned_below: int | None = None) -> bool:
        """Delete one plan if `lease` is still current, the plan is not the last known good and
        (with `pinned_below`) no rollback pinned it at or above that generation."""
        with self._tx() as db:
            if not self._holds(db, lease):
                return False
            cur = db.execute(
                "DELETE FROM plans WHERE zone=? AND generation=? AND generation IS NOT "
                "(SELECT last_known_good FROM zone_state WHERE zone=?) AND (pinned IS NULL OR pinned < ?)",
                (zone, generation, zone, pinned_below if pinned_below is not None else 2**63 - 1),
            )
            return cur.rowcount == 1

    def pin_plan(self, zone: str, generation: int, under: int) -> bool:
        """Pin a plan as rollback content under generation `under` (pins only rise)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE plans SET pinned=MAX(COALESCE(pinned, 0), ?) WHERE zone=? AND generation=?",
                (under, zone, generation),
            )
            return cur.rowcount == 1

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, zone: str, holder: str, ttl_seconds: float) -> Lease:
        """Take or renew the zone's lease; a new holder gets epoch + 1. A lease whose holder's
        process is provably dead (same host, process gone) is taken over at once."""
        now = self.clock.now()
        with self._tx() as db:
            row = db.execute("SELECT holder, epoch, expires_at, proc FROM leases WHERE zone=?", (zone,)).fetchone()
            if row is None:
                epoch = 1
            else:
                cur_holder, cur_epoch, expires, proc = row
                if cur_holder == holder:
                    epoch = int(cur_epoch)
                elif float(expires) <= now or process_is_dead(proc):
                    epoch = int(cur_epoch) + 1
                else:
                    raise LeaseLost(
                        f"{zone}: lease held by {cur_holder} (epoch {cur_epoch}) for {float(expires) - now:.0f} s more"
                    )
            lease = Lease(zone, holder, epoch, now + ttl_seconds)
            db.execute(
                "INSERT OR REPLACE INTO leases (zone, holder, epoch, expires_at, proc) VALUES (?,?,?,?,?)",
                (zone, holder, epoch, lease.expires_at, this_process()),
            )
            return lease

    def release_lease(self, lease: Lease) -> None:
        """Expire our lease now (the epoch stays, so the next holder still gets a higher one)."""
        with self._tx() as db:
            db.execute(
                "UPDATE leases SET expires_at=? WHERE zone=? AND holder=? AND epoch=?",
                (0.0, lease.zone, lease.holder, lease.epoch),
            )

    @staticmethod
    def _holds(db: sqlite3.Connection, lease: Lease) -> bool:
        row = db.execute("SELECT holder, epoch FROM leases WHERE zone=?", (lease.zone,)).fetchone()
        return row is not None and row[0] == lease.holder and int(row[1]) == lease.epoch

    # ------------------------------------------------------------------ zone state

    def state(self, zone: str) -> ZoneState:
        """Bookkeeping for `zone`."""
        with self._lock:
            row = self._db.execute(
                "SELECT applied_generation, applied_checksum, last_known_good, circuit_open, circuit_reason, "
                "consecutive_failures FROM zone_state WHERE zone=?",
                (zone,),
            ).fetchone()
        if row is None:
            return ZoneState(zone)
        return ZoneState(zone, row[0], row[1], row[2], bool(row[3]), row[4], int(row[5]))

    def record_applied(self, zone: str, generation: int, checksum: str, lease: Lease, *, known_good: bool) -> None:
        """Record a finished apply under `lease`; never lowers the applied generation."""
        with self._tx() as db:
            if not self._holds(db, lease):
                raise LeaseLost(f"{zone}: lease epoch {lease.epoch} of {lease.holder} is no longer current")
            self._ensure_zone(db, zone)
            db.execute(
                "UPDATE zone_state SET applied_generation=?, applied_checksum=? "
                "WHERE zone=? AND (applied_generation IS NULL OR applied_generation < ?)",
                (generation, checksum, zone, generation),
            )
            if known_good:
                db.execute(
                    "UPDATE zone_state SET last_known_good=? WHERE zone=? AND (last_known_good IS NULL OR "
                    "last_known_good < ?)",
                    (generation, zone, generation),
                )

    def record_failure(self, zone: str, reason: str, *, threshold: int) -> ZoneState:
        """Count a failure; open the circuit at `threshold` consecutive failures."""
        with self._tx() as db:
            self._ensure_zone(db, zone)
            db.execute(
                "UPDATE zone_state SET consecutive_failures=consecutive_failures+1, circuit_reason=?, "
                "circuit_open=CASE WHEN consecutive_failures+1 >= ? THEN 1 ELSE circuit_open END WHERE zone=?",
                (reason, threshold, zone),
            )
        return self.state(zone)

    def record_success(self, zone: str) -> None:
        """Reset the consecutive-failure count."""
        with self._tx() as db:
            db.execute("UPDATE zone_state SET consecutive_failures=0 WHERE zone=? AND circuit_open=0", (zone,))

    def reset_circuit(self, zone: str) -> None:
        """Close the circuit."""
        with self._tx() as db:
            self._ensure_zone(db, zone)
            db.execute(
                "UPDATE zone_state SET circuit_open=0, consecutive_failures=0, circuit_reason='' WHERE zone=?",
                (zone,),
            )

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
