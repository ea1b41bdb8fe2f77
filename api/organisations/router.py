"""`/api/v1/organisations`: register, list, read, change (optimistic locking), license and close.

Reads carry `ETag: "<version>"`; a PATCH must send it back as `If-Match` (428 without it, 412 when someone
changed the organisation since), so two officers cannot silently overwrite each other.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from api.auth import require
from api.db import DbSession
from api.errors import ApiError, problem_responses
from api.organisations.schemas import (
    CloseIn,
    LicenceIn,
    LicenceOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPage,
    OrganisationPatch,
)
from registry.errors import Conflict
from registry.organisations import service as orgs
from registry.organisations.models import Organisation
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"])

Reader = Annotated[Principal, Depends(require(Permission.ORG_READ))]
Writer = Annotated[Principal, Depends(require(Permission.ORG_WRITE))]


class PreconditionRequired(ApiError):
    status = 428
    code = "precondition_required"
    title = "If-Match required"


class PreconditionFailed(ApiError):
    status = 412
    code = "precondition_failed"
    title = "Changed since you read it"


def etag(org: Organisation) -> str:
    return f'"{org.version}"'


def expected_version(if_match: str | None) -> int:
    """The version named by `If-Match: "<version>"`; a value that names no version can never match."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            'send the ETag of the organisation you read as If-Match: "<version>"', field="If-Match"
        )
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed(
            f"If-Match {if_match!r} names no version of this organisation", field="If-Match"
        )
    return int(value)


@router.get(
    "", summary="List open organisations, by kind and country", responses=problem_responses(401, 403, 422)
)
def list_organisations(
    request: Request,
    session: DbSession,
    who: Reader,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    country: Annotated[str | None, Query(max_length=60)] = None,
    include_closed: bool = False,
    cursor: Annotated[uuid.UUID | None, Query(description="The `next` link's cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> OrganisationPage:
    found = orgs.list_organisations(
        session, kind=kind, country=country, include_closed=include_closed, after=cursor, limit=limit
    )
    nxt = str(request.url.include_query_params(cursor=str(found[-1].id))) if len(found) == limit else None
    return OrganisationPage(items=[OrganisationOut.of(o) for o in found], next=nxt)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an organisation",
    responses=problem_responses(401, 403, 409, 422),
)
def create_organisation(
    body: OrganisationIn, request: Request, response: Response, session: DbSession, who: Writer
) -> OrganisationOut:
    org = orgs.create_organisation(session, actor=who.username, **body.model_dump())
    response.headers["Location"] = str(request.url_for("get_organisation", org_id=org.id).path)
    response.headers["ETag"] = etag(org)
    return OrganisationOut.of(org)


@router.get(
    "/{org_id}",
    summary="An organisation; its `ETag` is the version to send as `If-Match` when changing it",
    responses=problem_responses(401, 403, 404, 422),
)
def get_organisation(
    org_id: uuid.UUID, response: Response, session: DbSession, who: Reader
) -> OrganisationOut:
    org = orgs.get_organisation(session, org_id)
    response.headers["ETag"] = etag(org)
    return OrganisationOut.of(org)


@router.patch(
    "/{org_id}",
    summary="Change fields of an organisation you read (`If-Match` required)",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def update_organisation(
    org_id: uuid.UUID,
    body: OrganisationPatch,
    response: Response,
    session: DbSession,
    who: Writer,
    if_match: Annotated[str | None, Header(description='The ETag you read: "<version>"')] = None,
) -> OrganisationOut:
    version = expected_version(if_match)
    try:
        org = orgs.update_organisation(
            session, actor=who.username, org_id=org_id, expected_version=version, **body.changes()
        )
    except Conflict as exc:
        if exc.field != "version":
            raise
        raise PreconditionFailed(exc.message, field="If-Match") from exc
    response.headers["ETag"] = etag(org)
    return OrganisationOut.of(org)


@router.post(
    "/{org_id}/licences",
    status_code=status.HTTP_201_CREATED,
    summary="Record a licence of an organisation",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def add_licence(org_id: uuid.UUID, body: LicenceIn, session: DbSession, who: Writer) -> LicenceOut:
    licence = orgs.add_licence(session, actor=who.username, org_id=org_id, **body.model_dump())
    return LicenceOut.of(licence)


@router.post(
    "/{org_id}/close",
    summary="Close an organisation; its records pass into a state organisation's custody (REQ-21)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def close_organisation(
    org_id: uuid.UUID, body: CloseIn, response: Response, session: DbSession, who: Writer
) -> OrganisationOut:
    org = orgs.close_organisation(
        session,
        actor=who.username,
        org_id=org_id,
        records_custodian_id=body.records_custodian_id,
        closed_at=body.closed_at,
    )
    response.headers["ETag"] = etag(org)
    return OrganisationOut.of(org)
