"""Who is calling, and may they: every `/api/v1` route declares `Depends(require(Permission.X))`.

Credentials are a bearer token (`Authorization: Bearer …`, from `POST /api/v1/auth/token`) or an API key
(`X-API-Key: …`) for stations and scripts. No or unknown credentials give 401 with a Bearer challenge; a
known principal whose role lacks the permission gets 403. The registry records `principal.username` as the
actor of everything written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from api.db import DbSession
from api.errors import Forbidden, Unauthenticated
from registry.users import service as users
from registry.users.roles import Permission, has_permission
from registry.users.service import Principal

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a password

# auto_error=False: a missing header is our 401 problem, not FastAPI's plain 401/403.
bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def current_principal(
    session: DbSession,
    token: Annotated[str | None, Security(bearer_scheme)] = None,
    api_key: Annotated[str | None, Security(api_key_scheme)] = None,
) -> Principal:
    if token:
        principal = users.principal_for_token(session, token)
        if principal is None:
            raise Unauthenticated("the bearer token is unknown or expired: request a new one")
        return principal
    if api_key:
        principal = users.principal_for_api_key(session, api_key)
        if principal is None:
            raise Unauthenticated("the API key is unknown or revoked")
        return principal
    raise Unauthenticated()


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that yields the caller's Principal if their role holds `permission`."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not has_permission(principal.role, permission):
            raise Forbidden(f"the role {principal.role} may not do this (needs {permission.value})")
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    # Read by the route inventory (and its test): which permission guards which route.
    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency
