"""`/api/v1/stations`: what a marking station asks of the registry and reports to it — the composed mark
job, a mark that was read back and verified, stocktakes, offline events and reserved serials. Routes only
translate HTTP; the rules live in `hardware/stations/` and `registry/`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from api.auth import require
from api.db import AppContext, Context, DbSession, ReadSession
from api.errors import problem_responses
from api.stations.schemas import (
    DecisionIn,
    MarkFieldOut,
    MarkJobOut,
    OfflineBatchIn,
    ProfileChecks,
    SerialIn,
    SerialOut,
    StationMarkIn,
    StationMarkOut,
    StocktakeIn,
    StocktakeOut,
    SyncAnswerOut,
    SyncEventOut,
    SyncResultOut,
)
from api.weapons.router import IdempotencyKey, _remember, _replay
from hardware.codes import symbols, uii
from hardware.codes.errors import CodeError
from hardware.marking.job import JobRefused
from hardware.marking.preview import preview_svg
from hardware.stations import offline, records, repository, serials, stocktake
from hardware.stations.compose import Composed, compose_for
from hardware.stations.workflow import Station, record_verified
from registry.errors import Conflict, ValidationError
from registry.stations.models import StocktakeMethod, SyncStatus
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])

Reader = Annotated[Principal, Depends(require(Permission.WEAPON_READ))]
Marker = Annotated[Principal, Depends(require(Permission.MARKING_WRITE))]
# Deciding a conflict writes weapon history on an officer's judgement: a record officer, not a station.
Officer = Annotated[Principal, Depends(require(Permission.EVENT_WRITE))]


def _compose(session: Session, ctx: AppContext, weapon_id: uuid.UUID, method: str = "laser") -> Composed:
    try:
        return compose_for(session, weapon_id, profile=ctx.profile, method=method)
    except (JobRefused, CodeError) as exc:
        raise ValidationError(
            f"the mark breaks the {ctx.profile.name} profile: {exc.message}", field=exc.field or "weapon_id"
        ) from exc


@router.get(
    "/weapons/{weapon_id}/mark-job",
    summary="The mark a station should apply: fields, human-readable text, Data Matrix payload, preview",
    description="Composed from the registry and checked against the node's profile; a weapon whose mark "
    "would break the profile is a 422 naming the field, before anything reaches a machine.",
    responses=problem_responses(401, 403, 404, 422),
)
def mark_job(weapon_id: uuid.UUID, session: ReadSession, ctx: Context, who: Reader) -> MarkJobOut:
    c = _compose(session, ctx, weapon_id)
    sym = symbols.datamatrix(c.payload)
    r = c.rules
    return MarkJobOut(
        weapon_id=weapon_id,
        payload=c.payload,
        payload_display=uii.show(c.payload),
        uii=c.mark.uii,
        human_readable=" ".join(f.text for f in c.job.fields if not f.is_code),
        fields=[
            MarkFieldOut(name=f.name, text=f.text, char_height_mm=f.char_height_mm, is_code=f.is_code)
            for f in c.job.fields
        ],
        depth_mm=c.job.depth_mm,
        method=c.job.method,
        symbol_size=f"{sym.width}x{sym.height}",
        preview_svg=preview_svg(c.job),
        checks=ProfileChecks(
            profile=r.profile,
            passed=True,
            min_char_height_mm=r.min_char_height_mm,
            min_depth_mm=r.min_depth_mm,
            require_model=r.require_model,
            require_year=r.require_year,
            serial_pattern=r.serial_pattern_text or None,
            scripts=list(r.scripts) if r.scripts else None,
        ),
    )


@router.post(
    "/weapons/{weapon_id}/marks",
    status_code=status.HTTP_201_CREATED,
    response_model=StationMarkOut,
    summary="Report a mark the station applied, read back and verified: records the `marked` event",
    description="Refused (409, nothing recorded) unless the fields read back from the machine matched and "
    "the reader decoded exactly the payload the registry composes for this weapon. Takes `Idempotency-Key`.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def report_mark(
    weapon_id: uuid.UUID,
    body: StationMarkIn,
    request: Request,
    session: DbSession,
    ctx: Context,
    who: Marker,
    idempotency_key: IdempotencyKey = None,
) -> StationMarkOut | Response:
    if (replay := _replay(session, request, who, idempotency_key, body)) is not None:
        return replay
    c = _compose(session, ctx, weapon_id, body.method)
    if not body.read_back.fields_match:
        raise Conflict(
            "the fields read back from the machine did not match those sent: nothing recorded",
            field="read_back.fields_match",
        )
    if body.read_back.decoded != [c.payload]:
        seen = ", ".join(uii.show(d) for d in body.read_back.decoded) or "no symbol"
        raise Conflict(
            f"the code read from the mark ({seen}) is not {uii.show(c.payload)}: the part is marked but "
            "unverified and nothing was recorded; quarantine it",
            field="read_back.decoded",
        )
    frames = {"frames": body.frames, "frames_sha256": body.frames_sha256} if body.frames_sha256 else {}
    rec = record_verified(
        session,
        composed=c,
        station=Station(body.station, body.operator, body.machine),
        actor=who.username,
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
        frames=frames,
        occurred_at=body.occurred_at,
    )
    out = StationMarkOut(
        id=rec.event.id,
        weapon_id=weapon_id,
        marking_id=rec.marking.id if rec.marking else None,
        payload=c.payload,
        warnings=[w.message for w in rec.warnings],
    )
    return _remember(session, who, idempotency_key, out)


@router.post(
    "/stocktakes",
    status_code=status.HTTP_201_CREATED,
    response_model=StocktakeOut,
    summary="Count a storage site from a barcode sweep and/or RFID inventory; the result is saved",
    responses=problem_responses(401, 403, 422),
)
def post_stocktake(body: StocktakeIn, session: DbSession, who: Marker) -> StocktakeOut:
    if body.epcs and not body.ncage:
        raise ValidationError(
            "an RFID inventory needs the NCAGE code its tags were issued under", field="ncage"
        )
    result = stocktake.count(
        session, location=body.location, scans=body.scans, epcs=body.epcs, cage=body.ncage
    )
    method = (
        StocktakeMethod.MIXED
        if body.scans and body.epcs
        else StocktakeMethod.RFID
        if body.epcs
        else StocktakeMethod.SCAN
    )
    rec = records.save(
        session, result=result, actor=who.username, method=method, station=body.station, notes=body.notes
    )
    return StocktakeOut.of(rec)


@router.get(
    "/stocktakes/{stocktake_id}",
    summary="A saved stocktake with every line",
    responses=problem_responses(401, 403, 404, 422),
)
def get_stocktake(stocktake_id: uuid.UUID, session: ReadSession, who: Reader) -> StocktakeOut:
    return StocktakeOut.of(records.get(session, stocktake_id))


@router.get(
    "/stocktakes/{stocktake_id}/export.csv",
    summary="A saved stocktake as CSV (header with the totals, then one row per line)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 403, 404, 422)},
)
def export_stocktake(stocktake_id: uuid.UUID, session: ReadSession, who: Reader) -> Response:
    rec = records.get(session, stocktake_id)
    return Response(
        records.to_csv(rec).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="stocktake-{rec.id}.csv"'},
    )


@router.post(
    "/offline-events",
    response_model=SyncResultOut,
    summary="Synchronise an offline station: its events are recorded once; conflicts wait for an officer",
    description="The body is what `iti station export-events` writes. An event already received (same "
    "station event id) is answered from the record and never recorded twice; an event on a weapon whose "
    "history grew centrally since checkout is kept as a `conflict` for an officer, never applied over it.",
    responses=problem_responses(401, 403, 404, 422),
)
def offline_events(body: OfflineBatchIn, session: DbSession, ctx: Context, who: Marker) -> SyncResultOut:
    got = offline.receive(
        session,
        batch=body.model_dump(mode="json"),
        actor=who.username,
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
    )
    return SyncResultOut(
        applied=got.count(SyncStatus.APPLIED),
        conflicts=got.count(SyncStatus.CONFLICT),
        rejected=got.count(SyncStatus.REJECTED),
        duplicates=sum(1 for a in got.answers if a.duplicate),
        answers=[SyncAnswerOut(**a.as_dict()) for a in got.answers],
    )


@router.post(
    "/serials",
    status_code=status.HTTP_201_CREATED,
    response_model=SerialOut,
    summary="Reserve the next serial for new manufacture or import marking (never issued twice)",
    responses=problem_responses(401, 403, 409, 422),
)
def reserve_serial(body: SerialIn, session: DbSession, ctx: Context, who: Marker) -> SerialOut:
    country = body.country or ctx.settings.node_country
    if not country:
        raise ValidationError("this node has no country; name the country of marking", field="country")
    scope = serials.scope_for(country=country, year=body.year, prefix=body.prefix)
    got = serials.reserve(
        session,
        scope=scope,
        actor=who.username,
        purpose=body.purpose,
        station=body.station,
        profile=ctx.profile,
    )
    return SerialOut(serial=got.serial, scope=got.scope, seq=got.seq, id=got.reservation.id)


@router.get(
    "/sync-events",
    summary="Offline station events received, by default the conflicts waiting for an officer",
    responses=problem_responses(401, 403, 422),
)
def list_sync_events(
    session: ReadSession,
    who: Reader,
    state: Annotated[
        str, Query(alias="status", pattern="^(conflict|applied|rejected|all)$", description="or `all`")
    ] = "conflict",
) -> list[SyncEventOut]:
    rows = repository.sync_events(session, status=None if state == "all" else state)
    return [SyncEventOut.of(r) for r in rows]


@router.post(
    "/sync-events/{sync_id}/decision",
    response_model=SyncEventOut,
    summary="An officer decides a conflicting offline event: apply it after review, or reject it",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def decide_sync_event(
    sync_id: uuid.UUID, body: DecisionIn, session: DbSession, ctx: Context, who: Officer
) -> SyncEventOut:
    offline.resolve(
        session,
        sync_id=sync_id,
        apply=body.apply,
        actor=who.username,
        reason=body.reason,
        profile=ctx.profile,
        home_country=ctx.settings.node_country,
    )
    row = repository.sync_event_by_id(session, sync_id)
    assert row is not None  # just decided
    return SyncEventOut.of(row)
