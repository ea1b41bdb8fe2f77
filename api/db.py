"""The database at the HTTP edge: one engine per app, one transaction per request.

The request owns the transaction (as `cli.common.transaction` does for a command): committed when the route
returns, rolled back when it raises, before the response leaves, so a client never sees 201 for a write that
then failed to commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

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


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(context)]


def get_session(ctx: Context) -> Iterator[Session]:
    with ctx.sessions() as session, session.begin():
        yield session


# scope="function": commit or roll back when the route function ends, before the response is sent.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
