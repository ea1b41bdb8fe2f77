"""`/api/v1/users`: list, add and disable accounts (admin only). Passwords are set here, never shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from api.admin.schemas import UserIn, UserList, UserOut
from api.auth import principal_cache, require
from api.db import DbSession
from api.errors import problem_responses
from registry.users import service as users
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Admin = Annotated[Principal, Depends(require(Permission.USER_ADMIN))]
Username = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", summary="All accounts", responses=problem_responses(401, 403))
def list_users(session: DbSession, who: Admin) -> UserList:
    return UserList(items=[UserOut.of(u) for u in users.list_users(session)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an account with a role and an initial password",
    responses=problem_responses(401, 403, 409, 422),
)
def add_user(body: UserIn, request: Request, response: Response, session: DbSession, who: Admin) -> UserOut:
    user = users.add_user(
        session, actor=who.username, username=body.username, role=body.role, password=body.password
    )
    response.headers["Location"] = f"{request.url.path}/{user.username}"
    return UserOut.of(user)


@router.post(
    "/{username}/disable",
    summary="Disable an account for good and revoke its tokens",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def disable_user(username: Username, request: Request, session: DbSession, who: Admin) -> UserOut:
    user = users.disable_user(session, actor=who.username, username=username)
    principal_cache(request.app).clear()  # the user's tokens stop working now, not when the cache expires
    return UserOut.of(user)
