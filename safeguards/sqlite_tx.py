"""One way to run a SQLite transaction shared by the embedded backend and plan store, and one
way to turn SQLite's faults into the library's errors.

SQLite reports a read-only directory, a damaged file, a lock held past the busy timeout and a
full disk all as `sqlite3.OperationalError` / `DatabaseError` with a message. `state_error`
classifies them into errors with a documented exit code and a hint of what to do:

==============================  ===================  =========================================
SQLite says                     raised               exit code, what to do
==============================  ===================  =========================================
attempt to write a readonly     `StateReadOnly`      7: make the state directory writable
database, unable to open                             (or point ``--state`` elsewhere)
file is not a database,         `StateCorrupt`       7: restore the file from a backup, or move
database disk image is                               it away to start afresh
malformed
database or disk is full        `StateFull`          7: free disk space; nothing was written
database is locked / busy       `StateLocked`        1: another process holds the state; retry
Python int too large            `ValueOutOfRange`    2: a generation must be below 2**63
==============================  ===================  =========================================
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import (
    SafeguardsError,
    StateCorrupt,
    StateFull,
    StateLocked,
    StateReadOnly,
    StateUnusable,
    ValueOutOfRange,
)

#: SQLite and the DynamoDB store keep generations as signed 64-bit integers.
MAX_INT64 = 2**63 - 1


def state_error(exc: BaseException, where: str | Path | None = None) -> SafeguardsError | None:
    """The library error for a SQLite fault `exc` (None when `exc` is not one we know).

    `where` names the database file or directory in the message."""
    text = str(exc)
    low = text.lower()
    at = f"{where}: " if where else "local state: "
    if isinstance(exc, OverflowError) and "sqlite" in low:
        return ValueOutOfRange(f"{at}number too large for the store (generations must be at most 2**63-1)")
    if not isinstance(exc, sqlite3.Error):
        return None
    if "readonly" in low or "read-only" in low or "unable to open database" in low or "permission" in low:
        return StateReadOnly(
            f"{at}cannot write the state ({text}): make the state directory and its files writable, "
            "or choose another with --state"
        )
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StateCorrupt(
            f"{at}state database is damaged ({text}): restore it from a backup, or move it away to start afresh "
            "(the live zone is in Route 53, the plans in the plan store)"
        )
    if "disk is full" in low or "disk full" in low or "disk i/o error" in low:
        return StateFull(f"{at}no space left for the state ({text}): free disk space and retry; nothing was written")
    if "locked" in low or "busy" in low:
        return StateLocked(
            f"{at}state database stayed locked by another process ({text}): nothing was written; retry when it is done"
        )
    if type(exc) is sqlite3.OperationalError:
        return StateUnusable(f"{at}state database error: {text}")
    return None  # integrity and programming errors are bugs: keep them as they are


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, lock: threading.RLock, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A transaction on `db` (opened with isolation_level=None), serialised in-process by `lock`.

    Writers use `BEGIN IMMEDIATE`: the write lock is taken before the first read, so a
    read-validate-write sequence cannot interleave with another process's (that is what makes a
    batch all-or-nothing and a conditional write conditional across processes).

    SQLite faults (read-only, damaged, locked, full, an integer beyond 64 bits) leave as the
    library's errors (`state_error`), with the transaction rolled back.
    """
    with lock:
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise _mapped(exc, db) from exc
        try:
            yield db
        except (sqlite3.Error, OverflowError) as exc:
            _rollback(db)
            mapped = _mapped(exc, db)
            raise mapped from exc
        except BaseException:
            _rollback(db)
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(db)
            raise _mapped(exc, db) from exc


def _rollback(db: sqlite3.Connection) -> None:
    # SQLite may have rolled back on its own already (a full disk, an I/O error): no transaction.
    with contextlib.suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")


def _mapped(exc: BaseException, db: sqlite3.Connection) -> BaseException:
    return state_error(exc, _db_file(db)) or exc


def _db_file(db: sqlite3.Connection) -> str | None:
    with contextlib.suppress(sqlite3.Error):
        for _seq, name, file in db.execute("PRAGMA database_list"):
            if name == "main":
                return file or None
    return None
