"""Every error class has a documented exit code (README, "Errors and exit codes"), the CLI exits
with it, and SQLite's faults become those errors (read-only, damaged, locked, full, too large)."""

from __future__ import annotations

import inspect
import re
import sqlite3
import threading
from pathlib import Path

import pytest
import typer

from safeguards import errors
from safeguards.cli import handle_errors
from safeguards.sqlite_tx import state_error, transaction

ROOT = Path(__file__).resolve().parents[2]


def error_classes() -> list[type[errors.SafeguardsError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.SafeguardsError) and cls.__module__ == errors.__name__
    ]


def readme_table() -> dict[str, int]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Errors and exit codes") :]
    section = section[: section.index("\n### ", 10)]
    table: dict[str, int] = {}
    for line in section.splitlines():
        m = re.match(r"\| (\d+) \| (.+?) \| (.+) \|$", line)
        if not m:
            continue
        for name in re.findall(r"`(\w+)`", m.group(2)):
            table[name] = int(m.group(1))
    return table


def test_every_error_class_is_in_the_readme_table_with_its_exit_code() -> None:
    table = readme_table()
    missing = [cls.__name__ for cls in error_classes() if cls.__name__ not in table]
    assert missing == [], f"README's exit code table lacks {missing}"
    wrong = {
        cls.__name__: (cls.exit_code, table[cls.__name__])
        for cls in error_classes()
        if table[cls.__name__] != cls.exit_code
    }
    assert wrong == {}, wrong


def test_the_tree_in_the_module_docstring_names_every_class() -> None:
    doc = errors.__doc__ or ""
    assert [cls.__name__ for cls in error_classes() if cls.__name__ not in doc] == []


def test_exit_codes_are_the_documented_ones() -> None:
    assert {cls.exit_code for cls in error_classes()} <= {1, 2, 3, 4, 5, 6, 7, 8}
    assert errors.CredentialsNotFound.exit_code == 2  # README: "missing credentials" is invalid input
    assert errors.ValueOutOfRange.exit_code == 2
    assert errors.StateLocked.exit_code == 1 and errors.StateLocked.retryable
    for cls in (errors.StateReadOnly, errors.StateCorrupt, errors.StateFull):
        assert cls.exit_code == 7


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_the_cli_exits_with_the_class_exit_code(cls: type[errors.SafeguardsError]) -> None:
    exc = cls("example.com.: something went wrong")

    @handle_errors()
    def command(as_json: bool = False) -> None:
        raise exc

    with pytest.raises(typer.Exit) as info:
        command(as_json=True)
    assert info.value.exit_code == cls.exit_code


# ------------------------------------------------------------------------- SQLite faults


def _db(path: Path, **kwargs: object) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, **kwargs)  # type: ignore[arg-type]
    db.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
    return db


def test_read_only_database_is_state_read_only(tmp_path: Path) -> None:
    _db(tmp_path / "s.sqlite").close()
    ro = sqlite3.connect(f"file:{tmp_path / 's.sqlite'}?mode=ro", uri=True, isolation_level=None)
    with (
        pytest.raises(errors.StateReadOnly, match=r"s\.sqlite: cannot write the state .*writable"),
        transaction(ro, threading.RLock()) as db,
    ):
        db.execute("INSERT INTO t (v) VALUES (1)")


def test_damaged_database_is_state_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    db = sqlite3.connect(path, isolation_level=None)
    with (
        pytest.raises(errors.StateCorrupt, match=r"damaged .*backup"),
        transaction(db, threading.RLock(), write=False) as tx,
    ):
        tx.execute("SELECT * FROM sqlite_master").fetchall()


def test_lock_held_past_the_timeout_is_state_locked(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    holder = _db(path)
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        with (
            pytest.raises(errors.StateLocked, match=r"locked by another process.*nothing was written"),
            transaction(waiter, threading.RLock()) as db,
        ):
            db.execute("INSERT INTO t (v) VALUES (1)")
    finally:
        holder.execute("ROLLBACK")
    assert errors.StateLocked.retryable


def test_full_disk_is_state_full_and_nothing_is_written(tmp_path: Path) -> None:
    db = _db(tmp_path / "s.sqlite")
    with transaction(db, threading.RLock()) as tx:
        tx.execute("INSERT INTO t (v) VALUES (x'00')")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(errors.StateFull, match=r"free disk space"), transaction(db, threading.RLock()) as tx:
        for _ in range(50):
            tx.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 4096,))
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_integer_beyond_64_bits_is_value_out_of_range(tmp_path: Path) -> None:
    db = _db(tmp_path / "s.sqlite")
    with pytest.raises(errors.ValueOutOfRange, match=r"2\*\*63-1"), transaction(db, threading.RLock()) as tx:
        tx.execute("INSERT INTO t (k) VALUES (?)", (2**63,))
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_other_errors_are_left_alone() -> None:
    assert state_error(ValueError("x")) is None
    assert state_error(sqlite3.IntegrityError("UNIQUE constraint failed: t.k")) is None
    unknown = state_error(sqlite3.OperationalError("no such table: plans"), "plans.sqlite")
    assert isinstance(unknown, errors.StateUnusable) and "plans.sqlite" in str(unknown)
