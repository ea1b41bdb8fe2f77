"""Liveness and readiness for load balancers and orchestrators; open to everyone, no database detail leaked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.db import Context
from api.errors import problem, problem_responses
from registry import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database is reachable and its schema at the current migration",
    responses=problem_responses(503),
)
def readyz(request: Request, ctx: Context) -> JSONResponse:
    try:
        at_head = migrate.is_at_head(ctx.engine)
    except SQLAlchemyError as exc:
        return problem(
            request,
            status=503,
            title="Not ready",
            code="database_unreachable",
            detail=f"the database cannot be reached ({type(exc).__name__})",
        )
    if not at_head:
        return problem(
            request,
            status=503,
            title="Not ready",
            code="schema_not_current",
            detail="the database is not at the current schema: run `iti db upgrade`",
        )
    return JSONResponse({"status": "ready"})
