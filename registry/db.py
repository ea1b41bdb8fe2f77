"""Shared persistence pieces: the declarative Base, column types, engine and session factory.

Services take a `Session` and only `flush()`; the edge (CLI command, API dependency) owns the transaction.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, Engine, MetaData, String, TypeDecorator, Uuid, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker

from registry.config import Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite has no time zones of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the registry stores only timezone-aware times")
        return (
            value.astimezone(UTC)
            if dialect.name == "postgresql"
            else value.astimezone(UTC).replace(tzinfo=None)
        )

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A time-ordered UUID (version 7, RFC 9562): new rows land at the end of every primary-key and
    foreign-key index instead of at random places, which keeps bulk imports fast on SQLite and PostgreSQL
    alike. (The standard library gains `uuid.uuid7` in Python 3.14.)"""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    )
    return uuid.UUID(int=value)


UUIDPk = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=new_id)]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow)]
CountryCode = Annotated[str, mapped_column(String(2))]


# libpq waits for ever for a server that accepts TCP but never answers (hung, or behind a black-holing proxy);
# a command or request must fail in bounded time instead (503 at the API). `connect_timeout` in the URL or
# PGCONNECT_TIMEOUT in the environment overrides this.
PG_CONNECT_TIMEOUT_S = 5
SQLITE_POOL_SIZE = 40  # connections kept open: as many as the API's worker threads (anyio's default)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or get_settings().database_url
    parsed = make_url(url)
    if (
        parsed.get_backend_name() == "postgresql"
        and "connect_timeout" not in parsed.query
        and "PGCONNECT_TIMEOUT" not in os.environ
    ):
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S, **kwargs.get("connect_args", {})}
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # A SQLite connection costs a file handle, so never make a thread wait for one: the API's worker
        # threads would wait for connections held by requests that wait for a worker thread (FastAPI
        # validates a sync route's answer in one before the request's session ends), and none would move.
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        kwargs.setdefault("max_overflow", -1)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


# Execution option of a transaction that will write (`WRITES`, given to a Session or Connection). On SQLite it
# begins with BEGIN IMMEDIATE, taking the write lock (waiting up to busy_timeout) before the first read. A
# plain (deferred) transaction that read first cannot take the lock once another connection has committed
# since its snapshot: WAL answers SQLITE_BUSY_SNAPSHOT, "database is locked" at once, without waiting, so an
# officer's save failed whenever the delivery worker wrote in between. Read-only work stays deferred, so
# pages keep reading while an import holds the write lock. PostgreSQL ignores the option.
WRITE_OPTION = "iti_writes"
WRITES: dict[str, Any] = {WRITE_OPTION: True}


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")


def database_unavailable(exc: BaseException) -> bool:
    """A database that is down, restarting, unreachable or (SQLite) locked: a temporary state of the server,
    not a bug and not the caller's input. The transaction was rolled back; retrying later is right. The API
    answers 503 with Retry-After, the CLI exits 7."""
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe is to switch it
    # off and emit BEGIN ourselves (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    # WAL lets readers work while an import writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(settings: Settings | None = None, engine: Engine | None = None) -> Iterator[Session]:
    """A transaction for one edge operation: commit on success, roll back on any error."""
    engine = engine or make_engine((settings or get_settings()).database_url)
    with make_sessionmaker(engine)() as session, session.begin():
        yield session
