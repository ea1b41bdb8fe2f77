"""Every error leaves the API as RFC 9457 `application/problem+json`, naming the field(s) a client must fix.

One table maps domain errors to HTTP statuses; the registry's errors know nothing of HTTP. Anything a client
sent gets a 4xx: FastAPI's own request validation becomes a problem too (400 for a body that is not JSON at
all, 422 for a well-formed body with wrong fields).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.db import database_unavailable
from registry.errors import (
    Conflict,
    NotFound,
    RegistryError,
    ValidationError,
)
from registry.imports.jobs import UnsupportedFileType, UploadTooLarge
from registry.users.errors import AccountLocked, AuthenticationFailed

log = logging.getLogger("api.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:iti-registry:problem:"
BEARER_CHALLENGE = 'Bearer realm="iti-registry"'


class ApiError(Exception):
    """An error that exists only at the HTTP edge (credentials, permissions, features not yet served)."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"

    def __init__(self, message: str = "give a bearer token or an X-API-Key", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": BEARER_CHALLENGE})
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this role"


class NotImplementedYet(ApiError):
    status = 501
    code = "not_implemented"
    title = "Not implemented"


# THE table. Most specific first: the first class an error is an instance of decides.
STATUS_BY_ERROR: list[tuple[type[RegistryError], int, str]] = [
    (AccountLocked, 423, "Account locked"),
    (AuthenticationFailed, 401, "Authentication failed"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict with the record"),
    (UploadTooLarge, 413, "Upload too large"),
    (UnsupportedFileType, 415, "Unsupported file type"),
    (ValidationError, 422, "Invalid input"),
    (RegistryError, 422, "Invalid input"),
]


def status_for(exc: Exception) -> tuple[int, str]:
    for cls, status, title in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status, title
    return 500, "Internal error"


def problem(
    request: Request,
    *,
    status: int,
    title: str,
    code: str,
    detail: str,
    fields: Sequence[dict[str, Any]] = (),
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if fields:
        body["field"] = fields[0].get("field")
        body["errors"] = list(fields)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    status, title = status_for(exc)
    details = exc.as_dict()
    fields = [{"field": exc.field, "code": exc.code, "message": exc.message}] if exc.field else []
    extra = {k: v for k, v in details.items() if k not in ("code", "message", "field")}
    headers = {"WWW-Authenticate": BEARER_CHALLENGE} if status == 401 else None
    if isinstance(exc, AccountLocked):
        wait = (exc.locked_until - datetime.now(UTC)).total_seconds()
        headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    return problem(
        request,
        status=status,
        title=title,
        code=exc.code,
        detail=exc.message,
        fields=fields,
        extra=extra,
        headers=headers,
    )


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    fields = [{"field": exc.field, "code": exc.code, "message": exc.message}] if exc.field else []
    return problem(
        request,
        status=exc.status,
        title=exc.title,
        code=exc.code,
        detail=exc.message,
        fields=fields,
        headers=exc.headers,
    )


def field_path(loc: Sequence[str | int]) -> str:
    """('body', 'markings', 0, 'text') -> 'markings[0].text', the registry's own way to name a field."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else list(loc)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    malformed = any(e.get("type") == "json_invalid" for e in errors)
    fields = [
        {"field": field_path(e.get("loc", ())), "code": e.get("type", "invalid"), "message": e.get("msg", "")}
        for e in errors
    ]
    if malformed:
        return problem(
            request,
            status=400,
            title="Malformed request",
            code="malformed_json",
            detail="the request body is not valid JSON",
            fields=[{"field": "body", "code": "json_invalid", "message": errors[0].get("msg", "")}],
        )
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(request, status=422, title="Invalid input", code="invalid", detail=detail, fields=fields)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 429: "rate_limited"}.get(
        exc.status_code, "http_error"
    )
    return problem(
        request,
        status=exc.status_code,
        title=str(exc.detail) if exc.status_code != 404 else "Not found",
        code=code,
        detail=str(exc.detail),
        headers=dict(exc.headers or {}),
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("api.unhandled_error", extra={"path": request.url.path})
    return problem(
        request,
        status=500,
        title="Internal error",
        code="internal",
        detail="the server failed to handle this request; nothing was recorded",
    )


# Seconds a client should wait after the database was unreachable or busy: long enough for a restarted
# PostgreSQL or a failover, short enough that a retrying client loses little time.
DATABASE_RETRY_AFTER = 5


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that is down, restarting, unreachable or locked is the server's temporary state, not a bug:
    503 with Retry-After (the transaction was rolled back, nothing was recorded). Other DBAPI errors stay 500.
    """
    unavailable = database_unavailable(exc)
    if isinstance(exc, sa_exc.DataError) and not unavailable:
        # The database refused a value as data (PostgreSQL: a NUL character in text, a number out of range),
        # found by the injection suite: the client's input, answered 422, not a 500. SQLite stores such values.
        log.warning("api.unstorable_value", extra={"path": request.url.path, "error": str(exc.orig)[:200]})
        return problem(
            request,
            status=422,
            title="Invalid input",
            code="unstorable_value",
            detail="a value cannot be stored: text must not contain NUL characters and numbers must be in range",
        )
    if not unavailable:
        return _unexpected(request, exc)
    log.warning("api.database_unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
    # SQLite's single writer was busy: the lock is held for one transaction, so retrying soon is right.
    locked = isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig)
    return problem(
        request,
        status=503,
        title="Database unavailable",
        code="database_unavailable",
        detail="the database cannot be reached or is busy; nothing was recorded: retry after the time given",
        headers={"Retry-After": "1" if locked else str(DATABASE_RETRY_AFTER)},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(Exception, _unexpected)


class ProblemField(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; `field` and `errors` name what the client must fix."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    field: str | None = None
    errors: list[ProblemField] = []


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route; `api.app` rewrites their media type to problem+json."""
    return {s: {"model": Problem} for s in statuses}
