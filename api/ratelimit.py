"""Rate limits: token buckets in memory, per client address for logins and inbound federation messages, per
credential for the rest of `/api/v1`.

The login lockout (registry/users) stops guessing one account's password; it does not stop one address from
trying one password against many accounts, nor a flood that keeps the server hashing Argon2 passwords. A
peer's signed messages are verified before anything is stored, but verifying costs a signature check and a
transaction each, so a flood from one address is cut off first. Limits are per process and in memory: with
several workers each keeps its own buckets (docs/security.md says what that means for the figures).

Configuration (environment, or `Settings.extra` in tests), each `N/S`: up to N requests at once, refilled at
N per S seconds; `off` disables that limit:

- `ITI_RATE_LIMIT_LOGIN` (default `20/60`): `POST /api/v1/auth/token` and `POST /ui/login`, per address.
- `ITI_RATE_LIMIT_FEDERATION` (default `120/60`): `POST /api/v1/federation/messages` and
  `POST /federation/v1/messages`, per address of the sending node.
- `ITI_RATE_LIMIT_API` (default `6000/60`): every other `/api/v1` request, per credential (bearer token,
  API key or session cookie; the address when there is none).
- `ITI_RATE_LIMIT_ENABLED=false` turns all of them off (the test suite does; a benchmark may).

Behind a reverse proxy the client address is the proxy's unless uvicorn trusts its `X-Forwarded-For` (a proxy
on 127.0.0.1 by default, `FORWARDED_ALLOW_IPS` for another host; docs/operations.md).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import PROBLEM_JSON, PROBLEM_TYPE
from registry.config import Settings

log = logging.getLogger(__name__)

DEFAULTS = {"LOGIN": "20/60", "FEDERATION": "120/60", "API": "6000/60"}
MAX_KEYS = 100_000  # buckets kept per limit; full (idle) buckets are dropped first when this is reached
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


@dataclass(frozen=True)
class Rate:
    burst: int
    per_seconds: float

    @property
    def refill(self) -> float:
        return self.burst / self.per_seconds

    @classmethod
    def parse(cls, text: str, *, name: str) -> Rate | None:
        if text.strip().lower() in ("off", "none", "0", ""):
            return None
        try:
            burst, seconds = text.split("/")
            rate = cls(int(burst), float(seconds))
        except ValueError:
            raise ValueError(
                f"{name} must look like 20/60 (requests per seconds) or off, not {text!r}"
            ) from None
        if rate.burst < 1 or rate.per_seconds <= 0:
            raise ValueError(f"{name} must be at least 1 request per a positive number of seconds")
        return rate


class Bucket:
    """One token bucket per key. Thread-safe: sync routes run in worker threads."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if the request may go ahead (a token is taken), else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, at = self._tokens.get(key, (float(self.rate.burst), now))
            tokens = min(float(self.rate.burst), tokens + (now - at) * self.rate.refill)
            if tokens >= 1:
                if len(self._tokens) >= MAX_KEYS and key not in self._tokens:
                    self._prune(now)
                self._tokens[key] = (tokens - 1, now)
                return 0.0
            self._tokens[key] = (tokens, now)
            return (1 - tokens) / self.rate.refill

    def _prune(self, now: float) -> None:
        full = [
            k for k, (t, at) in self._tokens.items() if t + (now - at) * self.rate.refill >= self.rate.burst
        ]
        for k in full or list(self._tokens)[: MAX_KEYS // 10]:
            del self._tokens[k]


@dataclass
class RateLimits:
    login: Bucket | None
    federation: Bucket | None
    api: Bucket | None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        def setting(name: str) -> str | None:
            return settings.extra.get(name, os.environ.get(name))

        enabled = (setting("ITI_RATE_LIMIT_ENABLED") or "true").lower() not in ("0", "false", "no", "off")
        buckets: dict[str, Bucket | None] = {}
        for part, default in DEFAULTS.items():
            name = f"ITI_RATE_LIMIT_{part}"
            rate = Rate.parse(setting(name) or default, name=name) if enabled else None
            buckets[part.lower()] = Bucket(rate) if rate else None
        return cls(**buckets)


def client_address(scope: Scope | Request) -> str:
    client = scope.client if isinstance(scope, Request) else scope.get("client")
    return client[0] if client else "unknown"


def _limits(request: Request) -> RateLimits | None:
    return getattr(request.app.state, "rate_limits", None)


def _check(bucket: Bucket | None, key: str, what: str, request: Request) -> None:
    if bucket is None:
        return
    wait = bucket.take(key)
    if wait:
        log.warning(
            "ratelimit.refused what=%s path=%s client=%s", what, request.url.path, client_address(request)
        )
        raise RateLimited(wait, what)


def login_limit(request: Request) -> None:
    """Dependency of the two login routes: sign-in attempts per client address, whatever the user name."""
    limits = _limits(request)
    _check(limits and limits.login, client_address(request), "sign-in attempts", request)


def federation_limit(request: Request) -> None:
    """Dependency of the inbound message routes: messages per sending address, checked before the body is
    read or any signature verified."""
    limits = _limits(request)
    _check(limits and limits.federation, client_address(request), "federation messages", request)


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
    server no token look-up. Pure ASGI: streaming responses pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits: RateLimits | None = None
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            if path.startswith("/api/v1/") and path not in OWN_LIMIT_PATHS:
                limits = scope["app"].state.rate_limits if "app" in scope else None
        bucket = limits.api if limits else None
        wait = bucket.take(credential_key(scope)) if bucket else 0.0
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
    app.state.rate_limits = RateLimits.from_settings(settings)
    app.add_middleware(CredentialLimitMiddleware)
