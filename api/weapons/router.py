"""`/api/v1/weapons`: register, get, search, append events, read history. Each route only translates HTTP
to one registry call; the rules live in `registry/`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.auth import require
from api.db import Context, DbSession
from api.errors import NotImplementedYet, problem_responses
from api.weapons.schemas import (
    EventIn,
    EventOut,
    History,
    MarkingOut,
    RecordedEvent,
    WarningOut,
    WeaponDocument,
    WeaponIn,
    WeaponOut,
    WeaponPage,
)
from registry.codes import Status
from registry.history import service as history
from registry.users.roles import Permission
from registry.users.service import Principal
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons

router = APIRouter(prefix="/api/v1/weapons", tags=["weapons"])

Reader = Annotated[Principal, Depends(require(Permission.WEAPON_READ))]
Registrar = Annotated[Principal, Depends(require(Permission.WEAPON_WRITE))]
EventWriter = Annotated[Principal, Depends(require(Permission.EVENT_WRITE))]

FUZZY_DESCRIPTION = (
    "Ranked candidates where `?` in the serial marks an unreadable character. Not served yet: "
    "`fuzzy=true` answers 501 until the tracing issue's matcher lands."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a weapon with its marks and the first event of its history",
    responses=problem_responses(401, 403, 409, 422),
)
def register_weapon(
    body: WeaponIn, request: Request, response: Response, session: DbSession, ctx: Context, who: Registrar
) -> WeaponDocument:
    reg = weapons.register(
        session,
        actor=who.username,
        weapon=body.to_input(),
        markings=[m.to_input() for m in body.markings],
        event=body.event.to_input(),
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
    )
    response.headers["Location"] = str(request.url_for("get_weapon", weapon_id=reg.weapon.id).path)
    return WeaponDocument(
        **WeaponOut.of(reg.weapon, reg.state).model_dump(),
        markings=[MarkingOut.of(m) for m in reg.markings],
        warnings=[WarningOut.of(w) for w in reg.warnings],
    )


@router.get(
    "",
    summary="Search weapons: exact serial or mark text, or by make, model, status and category",
    description="`serial` matches the weapon's serial or the text or serial of any of its marks, ignoring "
    "case, spaces and punctuation (at most 50 matches, no further pages). Without `serial`, results are "
    "paged: follow `next` until it is null. " + FUZZY_DESCRIPTION,
    responses=problem_responses(401, 403, 422, 501),
)
def search_weapons(
    request: Request,
    session: DbSession,
    who: Reader,
    serial: Annotated[str | None, Query(max_length=300, description="Serial or mark text")] = None,
    fuzzy: Annotated[bool, Query(description=FUZZY_DESCRIPTION)] = False,
    make: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    cursor: Annotated[uuid.UUID | None, Query(description="The `next` link's cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> WeaponPage:
    if fuzzy:
        raise NotImplementedYet("fuzzy matching arrives with the tracing issue", field="fuzzy")
    if serial is not None:
        found = weapons.find_by_mark(session, serial)
        return WeaponPage(items=[WeaponOut.of(w, s) for w, s in found], next=None)
    pairs = weapon_repo.search(
        session,
        make=make,
        model=model,
        status=status_.value if status_ else None,
        category=category,
        after=cursor,
        limit=limit,
    )
    nxt = None
    if len(pairs) == limit:
        nxt = str(request.url.include_query_params(cursor=str(pairs[-1][0].id)))
    return WeaponPage(items=[WeaponOut.of(w, s) for w, s in pairs], next=nxt)


@router.get(
    "/{weapon_id}",
    summary="A weapon: its facts, current state and marks",
    responses=problem_responses(401, 403, 404, 422),
)
def get_weapon(weapon_id: uuid.UUID, session: DbSession, who: Reader) -> WeaponDocument:
    w, s = weapons.get(session, weapon_id)
    marks = weapon_repo.markings_of(session, weapon_id)
    return WeaponDocument(**WeaponOut.of(w, s).model_dump(), markings=[MarkingOut.of(m) for m in marks])


@router.post(
    "/{weapon_id}/events",
    status_code=status.HTTP_201_CREATED,
    summary="Append one event to a weapon's history (corrections are `amended` events, never edits)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def add_event(
    weapon_id: uuid.UUID, body: EventIn, session: DbSession, ctx: Context, who: EventWriter
) -> RecordedEvent:
    rec = history.record_event(
        session,
        actor=who.username,
        weapon_id=weapon_id,
        event=body.to_input(),
        marking=body.marking.to_input() if body.marking else None,
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
    )
    w, s = weapons.get(session, weapon_id)
    return RecordedEvent(
        event=EventOut.of(rec.event),
        weapon=WeaponOut.of(w, s),
        marking=MarkingOut.of(rec.marking) if rec.marking else None,
        warnings=[WarningOut.of(x) for x in rec.warnings],
    )


@router.get(
    "/{weapon_id}/history",
    summary="The whole history of a weapon, oldest first, with amendments shown where they apply",
    responses=problem_responses(401, 403, 404, 422),
)
def weapon_history(weapon_id: uuid.UUID, session: DbSession, who: Reader) -> History:
    events = history.history(session, weapon_id)
    changes = history.effective_changes(events)
    return History(weapon_id=weapon_id, events=[EventOut.of(e, changes.get(str(e.id))) for e in events])
