"""The database at the HTTP edge: one engine per app, one transaction per request.

The request owns the transaction (as `cli.common.transaction` does for a command): committed when the route
returns, rolled back when it raises, before the response leaves, so a client never sees 201 for a write that
then failed to commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from registry.config import Settings
from registry.profiles import Profile


@dataclass(frozen=True)
class AppContext:
    """What every request needs from the app: settings, the node's profile, the engine and session factory."""

    settings: Settings
    profile: Profile
    engine: Engine
    sessions: sessionmaker[Session]
    owns_engine: bool


async def context(request: Request) -> AppContext:
    # Async (as every dependency without I/O here): a sync one costs a worker-thread round trip per request.
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(context)]


async def get_session(ctx: Context) -> AsyncIterator[Session]:
    """The request's session and transaction. Opening them does no I/O (the connection is taken at the first
    statement, in the route's worker thread), so only the commit or rollback goes to a worker thread."""
    session = ctx.sessions()
    session.begin()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_end, session, commit=False)
        raise
    await run_in_threadpool(_end, session, commit=True)


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# scope="function": commit or roll back when the route function ends, before the response is sent.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
