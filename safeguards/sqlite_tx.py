"""One way to run a SQLite transaction shared by the embedded backend and plan store."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, lock: threading.RLock, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A transaction on `db` (opened with isolation_level=None), serialised in-process by `lock`.

    Writers use `BEGIN IMMEDIATE`: the write lock is taken before the first read, so a
    read-validate-write sequence cannot interleave with another process's (that is what makes a
    batch all-or-nothing and a conditional write conditional across processes).
    """
    with lock:
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
