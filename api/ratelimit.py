"""Rate limits: token buckets per client address for logins and inbound federation messages, per credential
for the rest of `/api/v1`; the login and federation buckets are shared by every process serving the registry.

The login lockout (registry/users) stops guessing one account's password; it does not stop one address from
trying one password against many accounts, nor a flood that keeps the server hashing Argon2 passwords. A
peer's signed messages are verified before anything is stored, but verifying costs a signature check and a
transaction each, so a flood from one address is cut off first.

Where the buckets live (registry/ratelimit/store.py), and why:

- Login and federation: in the registry's own database by default (`rate_limit_buckets`), so `--workers 4`
  or four app servers behind a load balancer on one PostgreSQL allow the configured figure in total, not 4×,
  and a restart forgets nothing. These are the limits that defend against guessing and floods, and each
  request they guard already costs far more than the check (an Argon2 hash and a transaction; a signature
  check and a transaction): one upsert, about half a millisecond (docs/security.md has figures), is noise.
- The per-credential API limit: in memory, per process, by default. A shared bucket would add a write to
  every API request, and on SQLite every write takes the database's single writer lock: reads that write
  nothing today would queue behind each other and behind imports. The limit is a fairness throttle against
  a runaway script, not a guessing defence (credentials are 256-bit random; an unauthenticated request pays
  a token look-up before it is refused), so N processes allowing N× the figure is acceptable and documented;
  on PostgreSQL or Redis it can be shared (`ITI_RATE_LIMIT_API_STORE`).
- Redis (`ITI_RATE_LIMIT_STORE=redis://…`) for deployments that already run one: one round trip, no
  database write, expiry by Redis itself. Never required: a laptop with SQLite needs no other service.

When a store fails (database unreachable or locked past its busy timeout, Redis down), each limit has its
policy: login and federation fail closed, with 503 and Retry-After (an outage of the store must not lift the
brute-force defence; a peer's outbox retries, so nothing is lost; on the database store the request could not
have been served anyway), and the API limit fails open (a throttle is not worth refusing officers' work; a
request that needs the database meets its own 503). Never a 500.

Configuration (environment, or `Settings.extra` in tests), each `N/S`: up to N requests at once, refilled at
N per S seconds; `off` disables that limit:

- `ITI_RATE_LIMIT_LOGIN` (default `20/60`): `POST /api/v1/auth/token` and `POST /ui/login`, per address.
- `ITI_RATE_LIMIT_FEDERATION` (default `120/60`): `POST /api/v1/federation/messages` and
  `POST /federation/v1/messages`, per address of the sending node.
- `ITI_RATE_LIMIT_API` (default `6000/60`): every other `/api/v1` request, per credential (bearer token,
  API key or session cookie; the address when there is none).
- `ITI_RATE_LIMIT_STORE` (default `database`; `memory`, or a `redis://` URL): the store of the login and
  federation limits.
- `ITI_RATE_LIMIT_API_STORE` (default `memory`; `database`, or a `redis://` URL): the store of the API limit.
- `ITI_RATE_LIMIT_ENABLED=false` turns all of them off (the test suite does; a benchmark may).

Behind a reverse proxy the client address is the proxy's unless uvicorn trusts its `X-Forwarded-For` (a proxy
on 127.0.0.1 by default, `FORWARDED_ALLOW_IPS` for another host; docs/operations.md).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import PROBLEM_JSON, PROBLEM_TYPE
from registry.config import Settings
from registry.ratelimit.store import MemoryStore, Rate, Store, open_store

__all__ = ["Limit", "Rate", "RateLimited", "RateLimits", "StoreUnavailable"]

log = logging.getLogger(__name__)

DEFAULTS = {"LOGIN": "20/60", "FEDERATION": "120/60", "API": "6000/60"}
DEFAULT_STORES = {"ITI_RATE_LIMIT_STORE": "database", "ITI_RATE_LIMIT_API_STORE": "memory"}
FAIL_OPEN = {"login": False, "federation": False, "api": True}
STORE_RETRY_AFTER = 5  # seconds a client is told to wait while a fail-closed limit's store is unavailable
FAILURE_LOG_EVERY_S = 10.0  # a failing store is logged at most this often per limit and process
# Paths with their own limit (a dependency on the route): the per-credential limit leaves them alone.
OWN_LIMIT_PATHS = ("/api/v1/auth/token", "/api/v1/federation/messages", "/federation/v1/messages")


class RateLimited(StarletteHTTPException):
    """429 with Retry-After: problem+json under /api, an HTML page under /ui (api/ui/router.py)."""

    def __init__(self, retry_after: float, what: str) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            status_code=429,
            detail=f"too many {what} from this client: retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


class StoreUnavailable(StarletteHTTPException):
    """503 with Retry-After: a fail-closed limit whose store cannot answer (a database that is down or locked
    answers the app's own 503 `database_unavailable` instead, api/errors.py)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            status_code=503,
            detail=f"{what} are paused: the rate-limit store cannot be reached; retry after {STORE_RETRY_AFTER} s",
            headers={"Retry-After": str(STORE_RETRY_AFTER)},
        )


@dataclass(eq=False)
class Limit:
    """One limit: its rate, its store and what happens when the store fails."""

    name: str
    rate: Rate
    store: Store
    fail_open: bool

    def __post_init__(self) -> None:
        self._failure_logged_at = -math.inf

    def take(self, key: str) -> float:
        """0 if the request may go ahead, else the seconds to wait; applies the failure policy."""
        try:
            return self.store.take(f"{self.name}:{key}", self.rate)
        except Exception as exc:
            self._log_failure(exc)
            if self.fail_open:
                return 0.0
            if _database_unavailable(exc):
                raise  # the app's 503 `database_unavailable` with Retry-After, as for any request
            raise StoreUnavailable(WHAT[self.name]) from exc

    def _log_failure(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._failure_logged_at < FAILURE_LOG_EVERY_S:
            return
        self._failure_logged_at = now
        log.warning(
            "ratelimit.store_failed limit=%s store=%s policy=%s error=%s: %s",
            self.name,
            self.store.kind,
            "open" if self.fail_open else "closed",
            type(exc).__name__,
            str(exc)[:200],
        )


WHAT = {"login": "sign-in attempts", "federation": "federation messages", "api": "requests"}


def _database_unavailable(exc: Exception) -> bool:
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    )


@dataclass
class RateLimits:
    login: Limit | None
    federation: Limit | None
    api: Limit | None

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: Engine) -> RateLimits:
        def setting(name: str) -> str | None:
            return settings.extra.get(name, os.environ.get(name))

        enabled = (setting("ITI_RATE_LIMIT_ENABLED") or "true").lower() not in ("0", "false", "no", "off")
        if not enabled:
            return cls(None, None, None)
        stores: dict[str, Store] = {}  # one store per distinct setting (one Redis client, say)

        def store(name: str) -> Store:
            spec = (setting(name) or DEFAULT_STORES[name]).strip()
            if spec.lower() == "memory":
                return MemoryStore()  # each limit its own: nothing is shared in memory anyway
            if spec not in stores:
                stores[spec] = open_store(spec, engine=engine, name=name)
            return stores[spec]

        limits: dict[str, Limit | None] = {}
        for part, default in DEFAULTS.items():
            name = f"ITI_RATE_LIMIT_{part}"
            rate = Rate.parse(setting(name) or default, name=name)
            store_name = "ITI_RATE_LIMIT_API_STORE" if part == "API" else "ITI_RATE_LIMIT_STORE"
            limit = part.lower()
            limits[limit] = Limit(limit, rate, store(store_name), FAIL_OPEN[limit]) if rate else None
        return cls(**limits)

    def close(self) -> None:
        for limit in (self.login, self.federation, self.api):
            if limit is not None:
                limit.store.close()


def client_address(scope: Scope | Request) -> str:
    client = scope.client if isinstance(scope, Request) else scope.get("client")
    return client[0] if client else "unknown"


def _limits(request: Request) -> RateLimits | None:
    return getattr(request.app.state, "rate_limits", None)


def _check(limit: Limit | None, key: str, request: Request) -> None:
    """Sync: the login and federation routes call it in a worker thread, where a store may block."""
    if limit is None:
        return
    wait = limit.take(key)
    if wait:
        log.warning(
            "ratelimit.refused what=%s path=%s client=%s",
            WHAT[limit.name],
            request.url.path,
            client_address(request),
        )
        raise RateLimited(wait, WHAT[limit.name])


def login_limit(request: Request) -> None:
    """Dependency of the two login routes: sign-in attempts per client address, whatever the user name."""
    limits = _limits(request)
    _check(limits and limits.login, client_address(request), request)


def federation_limit(request: Request) -> None:
    """Dependency of the inbound message routes: messages per sending address, checked before the body is
    read or any signature verified."""
    limits = _limits(request)
    _check(limits and limits.federation, client_address(request), request)


def credential_key(scope: Scope) -> str:
    """A digest of whatever authenticates the request (never the secret itself in memory as a key), or the
    address for anonymous requests."""
    headers = dict(scope.get("headers") or [])
    secret = headers.get(b"authorization") or headers.get(b"x-api-key")
    if secret is None:
        cookie = headers.get(b"cookie", b"")
        secret = cookie if b"iti_session" in cookie else None
    if secret is None:
        return "addr:" + client_address(scope)
    return "cred:" + hashlib.sha256(secret).hexdigest()[:32]


class CredentialLimitMiddleware:
    """The per-credential limit on `/api/v1`, ahead of routing and authentication, so a flood costs the
    server no token look-up. Pure ASGI: streaming responses pass through untouched. A memory bucket is
    checked on the event loop (a dictionary look-up); a shared store in a worker thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits: RateLimits | None = None
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            if path.startswith("/api/v1/") and path not in OWN_LIMIT_PATHS:
                limits = scope["app"].state.rate_limits if "app" in scope else None
        limit = limits.api if limits else None
        wait = 0.0
        if limit is not None:
            key = credential_key(scope)
            if isinstance(limit.store, MemoryStore):
                wait = limit.take(key)
            else:
                wait = await anyio.to_thread.run_sync(limit.take, key)
        if not wait:
            await self.app(scope, receive, send)
            return
        log.warning("ratelimit.refused what=api path=%s client=%s", scope["path"], client_address(scope))
        await _send_problem(send, scope["path"], RateLimited(wait, "requests"))


async def _send_problem(send: Send, path: str, exc: RateLimited) -> None:
    import orjson

    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + "rate_limited",
        "title": "Too many requests",
        "status": 429,
        "detail": exc.detail,
        "instance": path,
        "code": "rate_limited",
    }
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", (exc.headers or {})["Retry-After"].encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def install(app: FastAPI, settings: Settings) -> None:
    """The limits on the app's own engine (`app.state.ctx`, set by api/app.py before this is called)."""
    app.state.rate_limits = RateLimits.from_settings(settings, engine=app.state.ctx.engine)
    app.add_middleware(CredentialLimitMiddleware)
