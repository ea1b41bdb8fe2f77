"""Who is calling, and may they: every `/api/v1` route declares `Depends(require(Permission.X))`.

Credentials are a bearer token (`Authorization: Bearer …`, from `POST /api/v1/auth/token`) or an API key
(`X-API-Key: …`) for stations and scripts. No or unknown credentials give 401 with a Bearer challenge; a
known principal whose role lacks the permission gets 403. The registry records `principal.username` as the
actor of everything written.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from api.db import AppContext, Context
from api.errors import Forbidden, Unauthenticated
from registry.db import utcnow
from registry.users import repository as users_repo
from registry.users import service as users
from registry.users.roles import Permission, has_permission
from registry.users.service import Principal

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a password

# auto_error=False: a missing header is our 401 problem, not FastAPI's plain 401/403.
bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


# How long a checked credential is trusted without asking the database again. A token revoked, a key revoked
# or a user disabled elsewhere (the CLI, another server process) is refused at the latest this much later;
# disabling a user through this process's API clears the cache at once. A bearer token is never trusted
# past its own expiry.
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000


# An entry is refreshed ahead of its expiry, in the last fifth of its life, by one request while the others
# still use it: otherwise every request in flight when it expires would check the credential against the
# database at once (32 at a time under load). This does not extend the trust: an entry still dies at its
# deadline, refreshed or not.
REFRESH_AT = 0.8


class PrincipalCache:
    """Credential digest -> (Principal, monotonic deadline, refresh time, refresh claimed), least recently
    used dropped first. Keyed by the SHA-256 of the credential, so no secret is kept in memory longer than
    the request that brought it."""

    def __init__(self, seconds: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES) -> None:
        self.seconds = seconds
        self.entries = entries
        self._items: OrderedDict[str, tuple[Principal, float, float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, *, unless_due: bool = False) -> Principal | None:
        """The principal while its entry lives. With `unless_due`, also None while the entry waits for a
        refresh nobody has claimed yet (for a caller that cannot refresh it: its request goes to
        `current_principal`, which claims the refresh)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            now = time.monotonic()
            if item[1] <= now:
                del self._items[key]
                return None
            if unless_due and item[2] <= now and not item[3]:
                return None
            self._items.move_to_end(key)
            return item[0]

    def claim_refresh(self, key: str) -> bool:
        """True for the one caller that should check the entry's credential again now (then `put` the
        answer, or `drop` the entry, or `release` the claim if the check failed)."""
        with self._lock:
            item = self._items.get(key)
            if item is None or item[3] or item[2] > time.monotonic():
                return False
            self._items[key] = (item[0], item[1], item[2], True)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items[key] = (item[0], item[1], item[2], False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def put(self, key: str, principal: Principal, expires_at: datetime | None = None) -> None:
        seconds = self.seconds
        if expires_at is not None:
            seconds = min(seconds, (expires_at - utcnow()).total_seconds())
        if seconds <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._items[key] = (principal, now + seconds, now + REFRESH_AT * seconds, False)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def principal_cache(app: FastAPI) -> PrincipalCache:
    cache = getattr(app.state, "principal_cache", None)
    if cache is None:
        cache = app.state.principal_cache = PrincipalCache()
    return cache


def _digest(kind: str, secret: str) -> str:
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()


def _look_up(ctx: AppContext, kind: str, secret: str) -> tuple[Principal, datetime | None] | None:
    """The database's answer, in its own short transaction (an API key's use is recorded and audited, at
    most hourly, whatever becomes of the request)."""
    with ctx.sessions() as session, session.begin():
        if kind == "bearer":
            principal = users.principal_for_token(session, secret)
            if principal is None:
                return None
            row = users_repo.token_by_hash(session, hashlib.sha256(secret.encode()).hexdigest())
            return principal, row.expires_at if row is not None else utcnow()
        principal = users.principal_for_api_key(session, secret)
        return (principal, None) if principal is not None else None


REFUSED = {
    "bearer": "the bearer token is unknown or expired: request a new one",
    "api_key": "the API key is unknown or revoked",
}


def _credential(token: str | None, api_key: str | None) -> tuple[str, str] | None:
    """Which credential a request brings: the bearer token if any, else the API key."""
    if token:
        return "bearer", token
    if api_key:
        return "api_key", api_key
    return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, parsed as `bearer_scheme` parses it."""
    scheme, param = get_authorization_scheme_param(authorization)
    return param if authorization and scheme.lower() == "bearer" else None


def cached_principal(app: FastAPI, *, authorization: str | None, api_key: str | None) -> Principal | None:
    """The caller named by these headers if their credential was checked in the last CACHE_SECONDS, without
    I/O; None otherwise, and while its entry waits for a refresh no request has claimed yet (then
    `current_principal` checks it, and answers 401 if it is not valid). For the fast read path
    (api/weapons/fast_reads.py): the same credentials, the same cache, the same order."""
    credential = _credential(bearer_token(authorization), api_key)
    if credential is None:
        return None
    return principal_cache(app).get(_digest(*credential), unless_due=True)


async def current_principal(
    request: Request,
    ctx: Context,
    token: Annotated[str | None, Security(bearer_scheme)] = None,
    api_key: Annotated[str | None, Security(api_key_scheme)] = None,
) -> Principal:
    """Async, so a credential seen in the last few seconds costs no thread hop and no query; a new one is
    looked up in a worker thread."""
    credential = _credential(token, api_key)
    if credential is None:
        raise Unauthenticated()
    kind, secret = credential
    cache = principal_cache(request.app)
    key = _digest(kind, secret)
    if (principal := cache.get(key)) is not None and not cache.claim_refresh(key):
        request.state.principal = principal  # for read-your-writes routing (api/db.py)
        return principal
    try:
        found = await run_in_threadpool(_look_up, ctx, kind, secret)
    except BaseException:
        cache.release(key)  # another request may refresh it
        raise
    if found is None:
        cache.drop(key)  # revoked or expired since it was cached: refused from now on
        raise Unauthenticated(REFUSED[kind])
    principal, expires_at = found
    cache.put(key, principal, expires_at)
    request.state.principal = principal
    return principal


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that yields the caller's Principal if their role holds `permission`."""

    # Async: a pure check, not worth a worker thread.
    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not has_permission(principal.role, permission):
            raise Forbidden(f"the role {principal.role} may not do this (needs {permission.value})")
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    # Read by the route inventory (and its test): which permission guards which route.
    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency
