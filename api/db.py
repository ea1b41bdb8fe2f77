"""The database at the HTTP edge: one engine per app, one transaction per request.

The request owns the transaction (as `cli.common.transaction` does for a command): committed when the route
returns, rolled back when it raises, before the response leaves, so a client never sees 201 for a write that
then failed to commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from registry import db_routing
from registry.config import Settings
from registry.db import WRITES
from registry.db_routing import ReadRouting, Route
from registry.profiles import Profile


@dataclass(frozen=True)
class AppContext:
    """What every request needs from the app: settings, the node's profile, the engine and session factory."""

    settings: Settings
    profile: Profile
    engine: Engine
    sessions: sessionmaker[Session]
    owns_engine: bool
    # Read replicas (registry/db_routing.py): made from the settings when the app owns its engine and
    # replicas are configured; None means every read is on the primary (and always for injected test
    # sessions, which are bound to one connection).
    routing: ReadRouting | None = None

    def __post_init__(self) -> None:
        if self.routing is None and self.owns_engine:
            object.__setattr__(self, "routing", db_routing.routing_from_settings(self.engine, self.settings))


async def context(request: Request) -> AppContext:
    # Async (as every dependency without I/O here): a sync one costs a worker-thread round trip per request.
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(context)]


# Methods that never write: their transaction stays deferred, so it reads alongside a running import.
_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READS_ONLY = "__iti_reads_only__"
F = TypeVar("F", bound=Callable[..., Any])


def reads_only(route: F) -> F:
    """Marks a POST route that changes nothing (a POST for another reason: it is costly, or takes a CSRF
    token): its transaction stays deferred, so on SQLite it does not hold the write lock while it reads."""
    setattr(route, _READS_ONLY, True)
    return route


def _writes(request: Request) -> bool:
    return request.method not in _READING_METHODS and not getattr(
        request.scope.get("endpoint"), _READS_ONLY, False
    )


async def get_session(ctx: Context, request: Request) -> AsyncIterator[Session]:
    """The request's session and transaction. Opening them does no I/O (the connection is taken at the first
    statement, in the route's worker thread), so only the commit or rollback goes to a worker thread. A POST,
    PUT, PATCH or DELETE will write (unless marked `reads_only`): on SQLite its transaction takes the write
    lock before its first read (registry.db.WRITES), so a concurrent commit cannot make its write fail."""
    session = ctx.sessions(execution_options=WRITES if _writes(request) else {})
    session.begin()
    try:
        yield session
    except BaseException:
        await _in_own_thread(_end, session, commit=False)
        raise
    await _in_own_thread(_end, session, commit=True, routing=ctx.routing, principal=_principal(request))


async def _in_own_thread(fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run a session's end outside the shared worker-thread limit (as FastAPI does for the exit of sync
    dependencies). Otherwise, under load, finished requests hold their pool connections while waiting for a
    worker thread to commit, and every worker thread waits for a pool connection: nothing moves."""
    await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=anyio.CapacityLimiter(1))


def _end(
    session: Session, *, commit: bool, routing: ReadRouting | None = None, principal: str | None = None
) -> None:
    try:
        if not commit:
            session.rollback()
        elif routing is None or principal is None:
            session.commit()
        else:
            # Read-your-writes: remember where this principal's write ended in the WAL, so their next reads
            # wait for a replica that has replayed it (two short queries, only with replicas configured).
            did_write = db_routing.wrote(session)
            session.commit()
            if did_write:
                routing.note_write(principal, db_routing.commit_lsn(session))
    finally:
        session.close()


def _principal(request: Request) -> str | None:
    """The caller's name, set on `request.state` by the API's and the UI's authentication dependencies."""
    principal: Any = getattr(request.state, "principal", None)
    return principal.username if principal is not None else None


class ReadOnlySession(Session):
    """A session for work that only reads: at its first statement it takes a read-only connection on a
    replica, or on the primary when no replica is healthy or the caller's last write is not replayed there
    yet (`ReadRouting.connect_for_read`). `route` says which, once chosen."""

    def __init__(self, routing: ReadRouting, state: Any, **kw: Any) -> None:
        super().__init__(expire_on_commit=False, **kw)
        self.routing = routing
        self.state = state  # the request's state: who is calling is read when the first statement runs
        self.route: Route | None = None
        self.read_connection: Connection | None = None

    def get_bind(self, *args: Any, **kw: Any) -> Connection:  # type: ignore[override]
        if self.read_connection is None:
            who = getattr(self.state, "principal", None)
            self.read_connection, self.route = self.routing.connect_for_read(
                who.username if who is not None else None
            )
        return self.read_connection


async def get_read_session(ctx: Context, request: Request) -> AsyncIterator[Session]:
    """A session for a route that only reads. With replicas configured it reads from one of them (see
    ReadOnlySession); without, it is the same as `get_session`. Routing is decided at the first statement,
    after the route's other dependencies have named the caller."""
    if ctx.routing is None:
        plain = ctx.sessions()
        plain.begin()
        try:
            yield plain
        except BaseException:
            await _in_own_thread(_end, plain, commit=False)
            raise
        await _in_own_thread(_end, plain, commit=True)
        return
    session = ReadOnlySession(ctx.routing, request.state)
    request.state.read_session = session  # lets tests and logs see where the read went
    try:
        yield session
    finally:
        await _in_own_thread(_end_read, session)


def _end_read(session: ReadOnlySession) -> None:
    try:
        session.rollback()  # nothing to keep: the transaction was read-only
    finally:
        session.close()
        if session.read_connection is not None:
            session.read_connection.close()


# scope="function": commit or roll back when the route function ends, before the response is sent.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
# For routes that only read (searches, weapon pages, histories): a replica when one is configured and current.
ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]
