"""The HTTP API: `create_app()` builds it for `iti serve`, uvicorn and the tests.

Versioned under `/api/v1`; OpenAPI at `/openapi.json`, docs at `/docs`; `/healthz` and `/readyz` open.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api import errors, health, ratelimit
from api.admin.router import router as users_router
from api.audit.router import router as audit_router
from api.db import AppContext
from api.federation.router import router as federation_router
from api.imports.router import router as imports_router
from api.organisations.router import router as organisations_router
from api.persons.router import router as persons_router
from api.reference.router import router as reference_router
from api.reports.router import router as reports_router
from api.stations.router import router as stations_router
from api.traces.router import router as traces_router
from api.ui import router as ui
from api.users.router import router as auth_router
from api.weapons.fast_reads import FastReads
from api.weapons.router import router as weapons_router
from registry.config import Settings, get_settings
from registry.db import make_engine, make_sessionmaker
from registry.profiles import get_profile

DESCRIPTION = """National small-arms registry after the UN International Tracing Instrument (A/60/88).

Authenticate with `POST /api/v1/auth/token` (OAuth2 password form) and send `Authorization: Bearer <token>`,
or send `X-API-Key: <key>`. Errors are RFC 9457 `application/problem+json` naming the offending field(s).
"""


def _version() -> str:
    try:
        return version("iti-registry")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """Build the app. `engine` and `session_factory` may be injected (tests bind them to a test transaction);
    otherwise the app makes its own engine from `settings.database_url` and disposes of it at shutdown."""
    settings = settings or get_settings()
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    ctx = AppContext(
        settings=settings,
        profile=get_profile(settings.profile),
        engine=engine,
        sessions=session_factory or make_sessionmaker(engine),
        owns_engine=owns_engine,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if ctx.owns_engine:
            ctx.engine.dispose()

    app = FastAPI(
        title="iti-registry",
        version=_version(),
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.include_router(health.router)
    app.include_router(auth_router)
    app.include_router(reports_router)  # before weapons: /weapons/export.csv is not a weapon id
    app.include_router(weapons_router)
    app.include_router(organisations_router)
    app.include_router(persons_router)
    app.include_router(audit_router)
    app.include_router(users_router)
    app.include_router(reference_router)
    app.include_router(federation_router)
    app.include_router(imports_router)
    app.include_router(traces_router)
    app.include_router(stations_router)
    ui.install(app)
    app.add_middleware(FastReads)  # GET a weapon / exact serial on SQLite, ahead of routing (its docstring)
    ratelimit.install(app, settings)  # outermost: a flood is refused before any other work (api/ratelimit.py)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


_UNAVAILABLE: dict[str, Any] = {
    "description": "Database unavailable or busy: nothing was recorded; retry after `Retry-After` seconds",
    "headers": {
        "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
    },
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with error responses declared as problem+json (as they are sent)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, path_item in doc.get("paths", {}).items():
        for op in path_item.values():
            if path.startswith(("/api/", "/federation/")):
                # Any route that reaches the database may find it down, restarting or (SQLite) busy with
                # another writer: api.errors answers 503 with Retry-After, and nothing was recorded.
                unavailable = op.setdefault("responses", {}).setdefault("503", copy.deepcopy(_UNAVAILABLE))
                unavailable.setdefault("headers", copy.deepcopy(_UNAVAILABLE["headers"]))
            if "requestBody" in op:
                # A body that is not JSON (or not UTF-8) at all is a 400 problem on every route that takes one.
                op.setdefault("responses", {}).setdefault(
                    "400",
                    {
                        "description": "Malformed request body",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    },
                )
            for code, resp in op.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400 and "application/json" in resp.get("content", {}):
                    content = resp["content"].pop("application/json")
                    if code == "422":
                        content = {"schema": {"$ref": "#/components/schemas/Problem"}}
                    resp["content"][errors.PROBLEM_JSON] = content
    schemas = doc.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = doc
    return doc
