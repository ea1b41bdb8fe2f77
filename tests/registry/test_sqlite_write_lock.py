"""SQLite transactions that will write take the write lock before their first read (registry.db.WRITES).

In WAL mode a deferred transaction reads from a snapshot; once another connection commits, it can no longer
write, and SQLite says "database is locked" at once instead of waiting (SQLITE_BUSY_SNAPSHOT). An officer's
save that read the weapon, then wrote, failed whenever the delivery worker committed in between.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from registry.db import WRITES, make_engine, make_sessionmaker


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (who TEXT NOT NULL)")
    yield engine
    engine.dispose()


def _write(engine: Engine, who: str) -> None:
    with Session(engine) as other, other.begin():
        other.execute(text("INSERT INTO notes (who) VALUES (:w)"), {"w": who})


def _notes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT who FROM notes ORDER BY rowid"))]


def test_without_the_option_a_read_then_write_fails_after_another_commit(sqlite_file: Engine) -> None:
    """Why the option exists: the failure it prevents, reproduced (no timing involved)."""
    sessions = make_sessionmaker(sqlite_file)
    with sessions() as officer, officer.begin():
        officer.execute(text("SELECT count(*) FROM notes")).scalar_one()  # the snapshot starts here
        _write(sqlite_file, "worker")
        with pytest.raises(OperationalError, match="locked"):
            officer.execute(text("INSERT INTO notes (who) VALUES ('officer')"))
    assert _notes(sqlite_file) == ["worker"]


def test_a_writing_transaction_holds_the_lock_from_its_first_read(sqlite_file: Engine) -> None:
    sessions = make_sessionmaker(sqlite_file)
    done: list[str] = []
    with sessions(execution_options=WRITES) as officer, officer.begin():
        officer.execute(text("SELECT count(*) FROM notes")).scalar_one()
        worker = threading.Thread(target=lambda: (_write(sqlite_file, "worker"), done.append("worker")))
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), "the worker should wait for the officer's lock, not write under it"
        officer.execute(text("INSERT INTO notes (who) VALUES ('officer')"))
        done.append("officer")
    worker.join(timeout=10)
    assert done == ["officer", "worker"]
    assert _notes(sqlite_file) == ["officer", "worker"]


def test_reading_transactions_stay_deferred_and_read_while_a_writer_holds_the_lock(
    sqlite_file: Engine,
) -> None:
    """A page must keep reading while an import holds the write lock for minutes."""
    _write(sqlite_file, "before")
    sessions = make_sessionmaker(sqlite_file)
    with sessions(execution_options=WRITES) as importer, importer.begin():
        importer.execute(text("INSERT INTO notes (who) VALUES ('import')"))
        with sessions() as page, page.begin():
            assert page.execute(text("SELECT who FROM notes")).scalars().all() == ["before"]


@pytest.mark.postgres
def test_the_option_is_harmless_on_postgresql(postgres_engine: Engine) -> None:
    with make_sessionmaker(postgres_engine)(execution_options=WRITES) as s, s.begin():
        assert s.execute(text("SELECT 1")).scalar_one() == 1
