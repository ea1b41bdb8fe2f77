"""`/api/v1/auth`: exchange a username and password for a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.db import Context
from api.errors import problem_responses
from api.ratelimit import login_limit
from api.users.schemas import TokenOut
from registry.db import WRITES, utcnow
from registry.users import service as users
from registry.users.errors import AuthenticationFailed

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/token",
    summary="Log in: OAuth2 password form (username, password) → bearer token",
    responses=problem_responses(401, 422, 423, 429),
    dependencies=[Depends(login_limit)],  # attempts per client address, across user names
)
def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: Context) -> TokenOut:
    # Not the usual request transaction: a failed login is itself a fact to keep (failure counter, audit
    # entry), so this transaction commits before the 401 or 423 is raised, or lockout would never happen.
    failure: AuthenticationFailed | None = None
    with ctx.sessions(execution_options=WRITES) as session, session.begin():
        try:
            user = users.authenticate(session, username=form.username, password=form.password)
        except AuthenticationFailed as exc:
            failure = exc
        else:
            issued = users.issue_token(session, user=user)
    if failure is not None:
        raise failure
    expires_in = max(0, int((issued.expires_at - utcnow()).total_seconds()))
    return TokenOut(access_token=issued.token, expires_in=expires_in)
