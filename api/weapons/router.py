"""`/api/v1/weapons`: register, get, search, append events and markings, read history. Each route only
translates HTTP to one registry call; the rules live in `registry/`.

Writes take an optional `Idempotency-Key` header (`registry.idempotency.service` explains the rules): a retry
with the same key and body gets the first response again, marked `Idempotent-Replayed: true`, and records
nothing new."""

from __future__ import annotations

import uuid
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.auth import require
from api.db import AppContext, Context, DbSession, ReadSession
from api.errors import problem_responses
from api.weapons.fast_reads import encode
from api.weapons.schemas import (
    CandidateOut,
    CandidatePage,
    EventIn,
    EventOut,
    History,
    MarkingOut,
    MarkingRecordIn,
    MatchOut,
    RecordedEvent,
    WarningOut,
    WeaponDocument,
    WeaponIn,
    WeaponOut,
    WeaponPage,
)
from registry.codes import Status
from registry.errors import ValidationError
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.idempotency import service as idempotency
from registry.idempotency.errors import FIELD as IDEMPOTENCY_KEY
from registry.idempotency.models import KEY_MAX_LENGTH
from registry.markings.rules import MarkingInput
from registry.users.roles import Permission
from registry.users.service import Principal
from registry.weapons import read_model
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons
from tracing.matching import service as matcher
from tracing.matching.description import Description

router = APIRouter(prefix="/api/v1/weapons", tags=["weapons"])

Reader = Annotated[Principal, Depends(require(Permission.WEAPON_READ))]
Registrar = Annotated[Principal, Depends(require(Permission.WEAPON_WRITE))]
EventWriter = Annotated[Principal, Depends(require(Permission.EVENT_WRITE))]
MarkingWriter = Annotated[Principal, Depends(require(Permission.MARKING_WRITE))]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY,
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        description="A key of your choosing, new for each distinct request: a retry with the same key and "
        "body answers the first response again (`Idempotent-Replayed: true`) and records nothing new. "
        "Remembered for 24 hours per user; the same key with another body or path is a 409.",
    ),
]
REPLAYED = "Idempotent-Replayed"
Out = TypeVar("Out", bound=BaseModel)

FUZZY_DESCRIPTION = (
    "With `fuzzy=true`: ranked candidates for a damaged or misread `serial` (or mark text), each with a "
    "score and the reason — `?` marks an unreadable character; look-alikes (0/O/D/Q, 1/I/L/7, 2/Z, 5/S, 6/G, "
    "8/B) and one transposition are tolerated (docs/tracing.md, the matcher). `limit` caps the list. "
    "With `fuzzy=true`, `make`, `model`, `calibre` and `category` describe the weapon as seen: they rank "
    "the candidates (a record that agrees comes first) and remove none."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WeaponDocument,
    summary="Register a weapon with its marks and the first event of its history",
    responses=problem_responses(401, 403, 409, 422),
)
def register_weapon(
    body: WeaponIn,
    request: Request,
    response: Response,
    session: DbSession,
    ctx: Context,
    who: Registrar,
    idempotency_key: IdempotencyKey = None,
) -> WeaponDocument | Response:
    if (replay := _replay(session, request, who, idempotency_key, body)) is not None:
        replay.headers["Location"] = _location(request, replay.body_id)
        return replay
    reg = weapons.register(
        session,
        actor=who.username,
        weapon=body.to_input(),
        markings=[m.to_input() for m in body.markings],
        event=body.event.to_input(),
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
    )
    response.headers["Location"] = _location(request, reg.weapon.id)
    doc = WeaponDocument(
        **WeaponOut.of(reg.weapon, reg.state).model_dump(),
        markings=[MarkingOut.of(m) for m in reg.markings],
        warnings=[WarningOut.of(w) for w in reg.warnings],
    )
    return _remember(session, who, idempotency_key, doc)


@router.get(
    "",
    summary="Search weapons: exact serial or mark text, or by make, model, status and category",
    description="`serial` matches the weapon's serial or the text or serial of any of its marks, ignoring "
    "case, spaces and punctuation (at most 50 matches, no further pages); `make`, `model`, `status` and "
    "`category` narrow it, as they narrow every search (all filters given must hold). Without `serial`, "
    "results are paged: follow `next` until it is null. " + FUZZY_DESCRIPTION,
    responses=problem_responses(401, 403, 422),
)
def search_weapons(
    request: Request,
    session: ReadSession,
    who: Reader,
    serial: Annotated[str | None, Query(max_length=300, description="Serial or mark text")] = None,
    fuzzy: Annotated[bool, Query(description=FUZZY_DESCRIPTION)] = False,
    make: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    calibre: Annotated[
        str | None, Query(max_length=60, description="With `fuzzy=true` only: ranks the candidates")
    ] = None,
    cursor: Annotated[uuid.UUID | None, Query(description="The `next` link's cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> WeaponPage | CandidatePage:
    if fuzzy:
        seen = Description(make=make, model=model, calibre=calibre, category=category)
        return _candidates(session, serial, limit, seen)
    if calibre is not None:
        raise ValidationError("calibre ranks fuzzy candidates: give it with fuzzy=true", field="calibre")
    if serial is not None:
        found = weapons.find_by_mark(
            session,
            serial,
            make=make,
            model=model,
            status=status_.value if status_ else None,
            category=category,
        )
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


def _candidates(session: Session, serial: str | None, limit: int, seen: Description) -> CandidatePage:
    if serial is None:
        raise ValidationError("fuzzy=true needs the serial as read", field="serial")
    found = matcher.find_candidates(session, observed=serial, limit=min(limit, 50), description=seen)
    return CandidatePage(
        query=matcher.Query.parse(serial).text,
        items=[
            CandidateOut(**WeaponOut.of(w, s).model_dump(), match=MatchOut(**_match(c)))
            for c, w, s in matcher.with_records(session, found)
        ],
    )


def _match(c: matcher.Candidate) -> dict[str, object]:
    return {
        "score": c.score,
        "exact": c.exact,
        "reason": c.reason,
        "matched": c.matched,
        "source": c.source,
        "method": c.method,
        "agreed": list(c.agreed),
        "rank_score": c.rank_score,
    }


@router.get(
    "/{weapon_id}",
    response_model=WeaponDocument,
    summary="A weapon: its facts, current state and marks",
    responses=problem_responses(401, 403, 404, 422),
)
def get_weapon(weapon_id: uuid.UUID, session: ReadSession, who: Reader) -> Response:
    # On a local SQLite file the plain case is answered before routing (api/weapons/fast_reads.py) from
    # the same read model; this route answers the rest, on any backend, on the connection its read was
    # routed to. The rows are the document: no ORM objects, no second validation by the response model
    # (tests/api/test_weapons_fast_path.py checks the bytes against the Pydantic models).
    doc = read_model.get_document(session.connection(), weapon_id)
    return Response(encode(doc), media_type="application/json")


@router.post(
    "/{weapon_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordedEvent,
    summary="Append one event to a weapon's history (corrections are `amended` events, never edits)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def add_event(
    weapon_id: uuid.UUID,
    body: EventIn,
    request: Request,
    session: DbSession,
    ctx: Context,
    who: EventWriter,
    idempotency_key: IdempotencyKey = None,
) -> RecordedEvent | Response:
    if (replay := _replay(session, request, who, idempotency_key, body)) is not None:
        return replay
    marking = body.marking.to_input() if body.marking else None
    return _record(session, ctx, who, weapon_id, body.to_input(), marking, idempotency_key)


@router.post(
    "/{weapon_id}/markings",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordedEvent,
    summary="Record a marking applied to a weapon, as a `marked` event in its history",
    description="For marking stations and operators: needs `marking.write`, not `event.write`.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def add_marking(
    weapon_id: uuid.UUID,
    body: MarkingRecordIn,
    request: Request,
    session: DbSession,
    ctx: Context,
    who: MarkingWriter,
    idempotency_key: IdempotencyKey = None,
) -> RecordedEvent | Response:
    if (replay := _replay(session, request, who, idempotency_key, body)) is not None:
        return replay
    return _record(session, ctx, who, weapon_id, body.to_event(), body.to_input(), idempotency_key)


def _record(
    session: Session,
    ctx: AppContext,
    who: Principal,
    weapon_id: uuid.UUID,
    event: EventInput,
    marking: MarkingInput | None,
    idempotency_key: str | None,
) -> RecordedEvent:
    """One event (with its marking, if any) through the registry, remembered under the idempotency key."""
    rec = history.record_event(
        session,
        actor=who.username,
        weapon_id=weapon_id,
        event=event,
        marking=marking,
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
    )
    return _remember(session, who, idempotency_key, _recorded(session, rec))


def _recorded(session: Session, rec: history.Recorded) -> RecordedEvent:
    w, s = weapons.get(session, rec.event.weapon_id)
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
def weapon_history(weapon_id: uuid.UUID, session: ReadSession, who: Reader) -> History:
    events = history.history(session, weapon_id)
    changes = history.effective_changes(events)
    return History(weapon_id=weapon_id, events=[EventOut.of(e, changes.get(str(e.id))) for e in events])


class Replay(JSONResponse):
    """A stored response sent again; `body_id` is the created resource's id, for its `Location`."""

    def __init__(self, stored: idempotency.StoredResponse) -> None:
        super().__init__(stored.body, status_code=stored.status, headers={REPLAYED: "true"})
        self.body_id = stored.body.get("id") if isinstance(stored.body, dict) else None


def _replay(
    session: Session, request: Request, who: Principal, key: str | None, body: BaseModel
) -> Replay | None:
    """The stored response if this request was already answered under `key`; else claim the key."""
    if key is None:
        return None
    stored = idempotency.begin(
        session,
        principal=who.username,
        key=key,
        method=request.method,
        path=request.url.path,
        request_hash=idempotency.request_hash(body.model_dump(mode="json", exclude_unset=True)),
    )
    return Replay(stored) if stored else None


def _remember(session: Session, who: Principal, key: str | None, out: Out) -> Out:
    """Store the response under `key` in the request's transaction (all our idempotent writes answer 201)."""
    if key is not None:
        idempotency.finish(
            session,
            principal=who.username,
            key=key,
            status=status.HTTP_201_CREATED,
            body=out.model_dump(mode="json"),
        )
    return out


def _location(request: Request, weapon_id: object) -> str:
    return str(request.url_for("get_weapon", weapon_id=str(weapon_id)).path)
