"""`/api/v1/traces`: trace requests between national points of contact. Each route translates HTTP to one
`tracing.requests.service` call; the rules live there. A request this node does not hold is a 404, whoever
asks; every view of a request is audited (the information is confidential)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

import tracing.requests.handlers  # noqa: F401 - registers the inbound trace message handlers
from api.auth import require
from api.db import DbSession
from api.errors import problem_responses
from api.traces.schemas import (
    AnswerIn,
    AttachmentIn,
    AttachmentOut,
    CloseIn,
    DelayIn,
    DisclosureNoticeIn,
    FollowUpIn,
    GroundsIn,
    NoticeOut,
    OverdueOut,
    TraceDocument,
    TraceIn,
    TraceOut,
    TracePage,
    TraceSummary,
    UseLimitsOut,
    WarningOut,
    officer_actions,
    transitions_out,
)
from registry.users.roles import Permission
from registry.users.service import Principal
from registry.warnings import Warning
from tracing.requests import disclosure, exchange, stats
from tracing.requests import service as traces
from tracing.requests.errors import AttachmentRejected, TraceNotFound
from tracing.requests.models import TraceRequest

router = APIRouter(prefix="/api/v1/traces", tags=["traces"])
PurposeQuery = Annotated[
    str,
    Query(
        max_length=32,
        description="What the information is used for (an intended-use code): the request's stated purpose, "
        "or another one after a delivered disclosure notice to the providing state (REQ-32)",
    ),
]
RecipientQuery = Annotated[
    str | None, Query(max_length=200, description="Who the information is disclosed to, if anyone")
]

Reader = Annotated[Principal, Depends(require(Permission.TRACE_READ))]
Writer = Annotated[Principal, Depends(require(Permission.TRACE_WRITE))]
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422)


def _document(session: Session, req: TraceRequest, warnings: list[Warning] | None = None) -> TraceDocument:
    base = TraceOut.model_validate(
        {
            **{c: getattr(req, c) for c in TraceOut.model_fields if hasattr(req, c)},
            "allowed_actions": officer_actions(req),
            "next_hop": traces.next_hop(session, req) if req.direction == "outgoing" else None,
        }
    )
    return TraceDocument(
        **base.model_dump(),
        transitions=transitions_out(traces.transitions(session, req.id)),
        attachments=[AttachmentOut.of(a) for a in traces.attachments(session, req.id)],
        use_limits=UseLimitsOut(
            stated_purpose=disclosure.stated_purpose(req),
            confidentiality=req.confidentiality,
            providing_state=disclosure.providing_state(req)
            if disclosure.holds_received_information(req)
            else None,
            disclosure_notices=[NoticeOut.model_validate(n) for n in disclosure.notices(session, req)],
        ),
        warnings=[WarningOut(**w.as_dict()) for w in warnings or []],  # type: ignore[arg-type]
    )


@router.get(
    "", summary="Trace requests, newest first: outbox and inbox", responses=problem_responses(401, 403, 422)
)
def list_traces(
    request: Request,
    session: DbSession,
    who: Reader,
    direction: Annotated[str | None, Query(pattern="^(outgoing|incoming)$")] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    country: Annotated[str | None, Query(max_length=2, description="Partner state, alpha-2")] = None,
    cursor: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TracePage:
    traces.refresh_deliveries(session)
    rows = traces.search(
        session,
        direction=direction,
        state=state,
        country=country.upper() if country else None,
        after=cursor,
        limit=limit,
    )
    nxt = str(request.url.include_query_params(cursor=str(rows[-1].id))) if len(rows) == limit else None
    return TracePage(items=[TraceSummary.model_validate(r) for r in rows], next=nxt)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Compose a trace request (a draft: nothing leaves until it is sent)",
    responses=WRITE_ERRORS,
)
def create_trace(
    body: TraceIn, request: Request, response: Response, session: DbSession, who: Writer
) -> TraceDocument:
    out = traces.create_draft(session, actor=who.username, data=body.to_input())
    response.headers["Location"] = str(request.url_for("get_trace", request_id=str(out.request.id)).path)
    return _document(session, out.request, out.warnings)


@router.get(
    "/overdue",
    summary="Requests past their acknowledgement or answer deadline",
    responses=problem_responses(401, 403),
)
def overdue_traces(session: DbSession, who: Reader) -> list[OverdueOut]:
    traces.refresh_deliveries(session)
    return [
        OverdueOut(
            id=o.request.id,
            case_reference=o.request.case_reference,
            direction=o.request.direction,
            state=o.request.state,
            what=o.what,
            due=o.due,
            days_late=o.days_late,
            owed_by=o.owed_by,
        )
        for o in traces.overdue(session)
    ]


@router.get(
    "/stats",
    summary="Requests sent, received, answered, delayed, refused; times; per partner and year; SDG 16.4.2",
    responses=problem_responses(401, 403, 422),
)
def trace_stats(
    session: DbSession, who: Reader, year: Annotated[int | None, Query(ge=1990, le=2200)] = None
) -> dict[str, Any]:
    return {
        "traces": stats.trace_statistics(session, year=year),
        "sdg_16_4_2": stats.sdg_16_4_2(session, year=year),
    }


@router.get(
    "/{request_id}",
    summary="A trace request with its history and attachments (the view is audited)",
    responses=problem_responses(401, 403, 404, 422),
)
def get_trace(request_id: uuid.UUID, session: DbSession, who: Reader) -> TraceDocument:
    return _document(session, traces.view(session, actor=who.username, request_id=request_id))


@router.get(
    "/{request_id}/export",
    summary="The request and its answer as one structured document (iti-trace-export/1) for other channels, "
    "for a declared purpose (audited)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def export_trace(
    request_id: uuid.UUID,
    session: DbSession,
    who: Reader,
    purpose: PurposeQuery,
    recipient: RecipientQuery = None,
) -> dict[str, Any]:
    return exchange.export_document(
        session, actor=who.username, request_id=request_id, purpose=purpose, recipient=recipient
    )


@router.post(
    "/{request_id}/disclosure-notice",
    summary="Give the providing state notice of a disclosure of its information (purpose, recipient, reason)",
    responses=WRITE_ERRORS,
)
def notify_disclosure(
    request_id: uuid.UUID, body: DisclosureNoticeIn, session: DbSession, who: Writer
) -> TraceDocument:
    out = disclosure.notify_disclosure(
        session, actor=who.username, request_id=request_id, **body.model_dump()
    )
    return _document(session, out.request)


@router.get(
    "/{request_id}/attachments/{attachment_id}",
    summary="One photo of a trace request, as stored",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, **problem_responses(401, 403, 404, 422)},
)
def get_attachment(
    request_id: uuid.UUID, attachment_id: uuid.UUID, session: DbSession, who: Reader
) -> Response:
    traces.view(session, actor=who.username, request_id=request_id)
    for a in traces.attachments(session, request_id):
        if a.id == attachment_id:
            return Response(a.data, media_type=a.media_type, headers={"X-Content-Type-Options": "nosniff"})
    raise TraceNotFound(f"no attachment {attachment_id} on this request", field="attachment_id")


@router.post(
    "/{request_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    summary="Add a photo to a draft (JPEG, PNG, WebP, TIFF)",
    responses=WRITE_ERRORS,
)
def add_attachment(
    request_id: uuid.UUID, body: AttachmentIn, session: DbSession, who: Writer
) -> AttachmentOut:
    try:
        data = base64.b64decode(body.data, validate=True)
    except (binascii.Error, ValueError):
        raise AttachmentRejected("data must be base64", field="data") from None
    row = traces.add_attachment(
        session,
        actor=who.username,
        request_id=request_id,
        filename=body.filename,
        media_type=body.media_type,
        data=data,
    )
    return AttachmentOut.of(row)


@router.post(
    "/{request_id}/send",
    summary="Send a draft: checks ITI 17 content, searches lost/stolen records, queues it",
    responses=WRITE_ERRORS,
)
def send_trace(request_id: uuid.UUID, session: DbSession, who: Writer) -> TraceDocument:
    out = traces.send(session, actor=who.username, request_id=request_id)
    return _document(session, out.request, out.warnings)


@router.post(
    "/{request_id}/acknowledge", summary="Acknowledge receipt of an incoming request", responses=WRITE_ERRORS
)
def acknowledge_trace(request_id: uuid.UUID, session: DbSession, who: Writer) -> TraceDocument:
    return _document(session, traces.acknowledge(session, actor=who.username, request_id=request_id).request)


@router.post(
    "/{request_id}/candidates",
    summary="Search this registry again for the observed markings",
    responses=WRITE_ERRORS,
)
def search_candidates(request_id: uuid.UUID, session: DbSession, who: Writer) -> TraceDocument:
    return _document(session, traces.refresh_candidates(session, actor=who.username, request_id=request_id))


@router.post(
    "/{request_id}/answer",
    summary="Answer an incoming request with the chosen weapon's supply chain",
    responses=WRITE_ERRORS,
)
def answer_trace(request_id: uuid.UUID, body: AnswerIn, session: DbSession, who: Writer) -> TraceDocument:
    out = traces.answer(
        session,
        actor=who.username,
        request_id=request_id,
        completeness=body.completeness,
        weapon_id=body.weapon_id,
        text=body.text,
    )
    return _document(session, out.request)


@router.post(
    "/{request_id}/delay",
    summary="Delay the answer, with the reason and the expected date",
    responses=WRITE_ERRORS,
)
def delay_trace(request_id: uuid.UUID, body: DelayIn, session: DbSession, who: Writer) -> TraceDocument:
    out = traces.delay(session, actor=who.username, request_id=request_id, **body.model_dump())
    return _document(session, out.request)


@router.post(
    "/{request_id}/restrict",
    summary="Answer with information withheld on an ITI 22 ground",
    responses=WRITE_ERRORS,
)
def restrict_trace(request_id: uuid.UUID, body: GroundsIn, session: DbSession, who: Writer) -> TraceDocument:
    out = traces.restrict(session, actor=who.username, request_id=request_id, **body.model_dump())
    return _document(session, out.request)


@router.post(
    "/{request_id}/refuse", summary="Refuse on an ITI 22 ground, with the reason told", responses=WRITE_ERRORS
)
def refuse_trace(request_id: uuid.UUID, body: GroundsIn, session: DbSession, who: Writer) -> TraceDocument:
    out = traces.refuse(
        session, actor=who.username, request_id=request_id, grounds=body.grounds, reason=body.reason
    )
    return _document(session, out.request)


@router.post(
    "/{request_id}/close", summary="Close an answered request (or discard a draft)", responses=WRITE_ERRORS
)
def close_trace(request_id: uuid.UUID, body: CloseIn, session: DbSession, who: Writer) -> TraceDocument:
    out = traces.close(session, actor=who.username, request_id=request_id, **body.model_dump())
    return _document(session, out.request)


@router.post(
    "/{request_id}/follow-up",
    status_code=status.HTTP_201_CREATED,
    summary='A new draft to the next state on the weapon\'s path, prefilled ("next hop")',
    responses=WRITE_ERRORS,
)
def follow_up_trace(
    request_id: uuid.UUID, body: FollowUpIn, session: DbSession, who: Writer
) -> TraceDocument:
    out = traces.follow_up(
        session, actor=who.username, request_id=request_id, requested_country=body.requested_country
    )
    return _document(session, out.request, out.warnings)
