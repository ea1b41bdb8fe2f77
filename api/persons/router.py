"""`/api/v1/persons`: register a holder, find one by identity document, read one. Every search and read
needs a `purpose`, which the registry records in the audit log with the caller (REQ-23)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.auth import require
from api.db import Context, DbSession
from api.errors import problem_responses
from api.persons.schemas import PersonIn, PersonMatches, PersonOut, PersonRef
from registry.persons import crypto
from registry.persons import service as persons
from registry.persons.crypto import DataKeys
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/api/v1/persons", tags=["persons"])

Reader = Annotated[Principal, Depends(require(Permission.PERSON_READ))]
Writer = Annotated[Principal, Depends(require(Permission.PERSON_WRITE))]
Purpose = Annotated[
    str, Query(min_length=1, max_length=500, description="Why you need this person's data (audited)")
]


def data_keys(ctx: Context) -> DataKeys:
    return crypto.load_or_create_data_keys(ctx.settings)


Keys = Annotated[DataKeys, Depends(data_keys)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a person (sealed at rest); returns the id only",
    responses=problem_responses(401, 403, 409, 422),
)
def register_person(
    body: PersonIn, request: Request, response: Response, session: DbSession, who: Writer, keys: Keys
) -> PersonRef:
    person = persons.register_person(session, actor=who.username, keys=keys, **body.model_dump())
    response.headers["Location"] = str(request.url_for("read_person", person_id=person.id).path)
    return PersonRef.of(person)


@router.get(
    "",
    summary="Find persons by identity document (formatting ignored); the search is audited",
    responses=problem_responses(401, 403, 422),
)
def find_persons(
    session: DbSession,
    who: Reader,
    keys: Keys,
    identity_number: Annotated[str, Query(min_length=1, max_length=100)],
    identity_country: Annotated[str, Query(min_length=1, max_length=60)],
    purpose: Purpose,
) -> PersonMatches:
    found = persons.find_by_identity(
        session,
        actor=who.username,
        keys=keys,
        identity_number=identity_number,
        identity_country=identity_country,
        purpose=purpose,
    )
    return PersonMatches(items=[PersonRef.of(p) for p in found])


@router.get(
    "/{person_id}",
    summary="A person's data; the read is audited with your purpose",
    responses=problem_responses(401, 403, 404, 422),
)
def read_person(
    person_id: uuid.UUID, purpose: Purpose, session: DbSession, who: Reader, keys: Keys
) -> PersonOut:
    view = persons.read_person(session, actor=who.username, keys=keys, person_id=person_id, purpose=purpose)
    return PersonOut.of(view)
