"""Trace pages for points of contact: inbox and outbox, compose, the request with its candidates and the
answer / delay / restrict / refuse forms, close and follow-up along the chain, and the statistics.

Each form posts to one route that calls one `tracing.requests.service` function, as the JSON API does. A
refused action rolls back its savepoint and the request page is shown again with the error by its field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

import tracing.requests.handlers  # noqa: F401 - the inbound trace message handlers, as the API registers them
from api.db import DbSession
from api.traces.schemas import TraceIn, officer_actions
from api.ui.forms import form_data, model_errors, nest, registry_errors
from api.ui.i18n import N_, _
from api.ui.session import CSRF_FIELD, check_csrf, page_requires
from api.ui.templating import render
from registry.errors import RegistryError, ValidationError
from registry.users.roles import Permission
from registry.users.service import Principal
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons
from tracing.requests import disclosure, stats
from tracing.requests import service as traces
from tracing.requests.codes import (
    Completeness,
    Confidentiality,
    DelayReason,
    Direction,
    Ground,
    IntendedUse,
    RecoveryKind,
    TraceState,
    Urgency,
)
from tracing.requests.errors import TraceNotFound

router = APIRouter(prefix="/ui/traces", include_in_schema=False)
Reader = Annotated[Principal, Depends(page_requires(Permission.TRACE_READ))]
Writer = Annotated[Principal, Depends(page_requires(Permission.TRACE_WRITE))]
Form = Annotated[dict[str, Any], Depends(form_data)]
MARKING_ROWS = 3


def _codes(enum: Any) -> list[str]:
    return [m.value for m in enum]


CODES = {
    "urgencies": _codes(Urgency),
    "confidentialities": _codes(Confidentiality),
    "recovery_kinds": _codes(RecoveryKind),
    "intended_uses": _codes(IntendedUse),
    "delay_reasons": _codes(DelayReason),
    "grounds": _codes(Ground),
    "completeness": _codes(Completeness),
    "states": _codes(TraceState),
}


def _field(name: str | None) -> str:
    """markings[1].text (the registry's name) -> markings.1.text (the form's)."""
    return re.sub(r"\[(\d+)\]", r".\1", name or "form")


@router.get("", response_class=HTMLResponse)
def trace_list(
    request: Request, session: DbSession, who: Reader, direction: str = "incoming", state: str = ""
) -> Response:
    direction = direction if direction in ("incoming", "outgoing") else "incoming"
    traces.refresh_deliveries(session)
    rows = traces.search(
        session, direction=direction, state=state if state in CODES["states"] else None, limit=100
    )
    ctx = {"rows": rows, "direction": direction, "state": state, "overdue": traces.overdue(session), **CODES}
    return render(request, "traces/list.html", ctx)


def _compose_values(session: Session, weapon_id: uuid.UUID | None) -> dict[str, Any]:
    """A new request, prefilled from this registry's record of the weapon when there is one."""
    values: dict[str, Any] = {"urgency": "routine", "confidentiality": "restricted"}
    if weapon_id is None:
        return values
    w, _s = weapons.get(session, weapon_id)
    values.update(
        {
            "weapon_id": str(w.id),
            "category": w.category,
            "make": w.make,
            "model": w.model or "",
            "calibre": w.calibre or "",
        }
    )
    for i, m in enumerate(weapon_repo.markings_of(session, weapon_id)[:MARKING_ROWS]):
        values[f"markings.{i}.text"] = m.text
        values[f"markings.{i}.position"] = m.component_kind
        values[f"markings.{i}.kind"] = m.kind
        values[f"markings.{i}.serial"] = m.serial or ""
    return values


@router.get("/new", response_class=HTMLResponse)
def compose_form(
    request: Request, session: DbSession, who: Writer, weapon_id: uuid.UUID | None = None
) -> Response:
    ctx = {"values": _compose_values(session, weapon_id), "errors": {}, "rows": range(MARKING_ROWS), **CODES}
    return render(request, "traces/new.html", ctx)


def _trace_input(form: dict[str, Any]) -> TraceIn:
    data = nest(form, skip=frozenset({CSRF_FIELD}))
    rows = data.pop("markings", {})
    data["markings"] = [rows[k] for k in sorted(rows, key=int) if rows[k].get("text")]
    return TraceIn.model_validate(data)


@router.post("/new", response_class=HTMLResponse)
def compose(request: Request, form: Form, session: DbSession, who: Writer) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    errors: dict[str, str] = {}
    try:
        body = _trace_input(form)
        with session.begin_nested():
            out = traces.create_draft(session, actor=who.username, data=body.to_input())
    except PydanticError as exc:
        errors = {_field(k): v for k, v in model_errors(exc).items()}
    except RegistryError as exc:
        errors = {_field(k): v for k, v in registry_errors(exc).items()}
    if errors:
        ctx = {"values": form, "errors": errors, "rows": range(MARKING_ROWS), **CODES}
        return render(request, "traces/new.html", ctx, status_code=422)
    return RedirectResponse(f"/ui/traces/{out.request.id}?done=drafted", status_code=303)


def _page(
    request: Request,
    session: Session,
    who: Principal,
    request_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    flash: str = "",
    status_code: int = 200,
) -> Response:
    req = traces.view(session, actor=who.username, request_id=request_id)  # audited: who read which trace
    candidates = []
    for c in req.candidates or []:
        try:
            w, s = weapons.get(session, uuid.UUID(str(c["weapon_id"])))
        except (RegistryError, ValueError):
            continue
        candidates.append((c, w, s))
    ctx = {
        "t": req,
        "actions": officer_actions(req),
        "next_hop": traces.next_hop(session, req) if req.direction == Direction.OUTGOING else None,
        "transitions": traces.transitions(session, req.id),
        "attachments": traces.attachments(session, req.id),
        "candidates": candidates,
        "errors": errors or {},
        "values": values or {},
        "flash": flash,
        "today": date.today().isoformat(),
        "use": {
            "stated": disclosure.stated_purpose(req),
            "providing_state": disclosure.providing_state(req)
            if disclosure.holds_received_information(req)
            else None,
            "notices": disclosure.notices(session, req),
        },
        **CODES,
    }
    return render(request, "traces/show.html", ctx, status_code=status_code)


FLASH = {
    "drafted": N_("Draft saved. Check it, then send it."),
    "send": N_("Sent. The requested state's acknowledgement will show here."),
    "acknowledge": N_("Receipt acknowledged."),
    "answer": N_("Answer sent."),
    "delay": N_("The delay and its reason were sent."),
    "restrict": N_("The restricted answer was sent."),
    "refuse": N_("The refusal and its reason were sent."),
    "close": N_("Request closed."),
    "candidates": N_("The registry was searched again."),
    "disclosure-notice": N_(
        "The notice was sent. Once the providing state's node confirms receipt, the information may be used "
        "for that purpose and recipient."
    ),
}
# The history shows each step's action through the `label` filter; this one is no lifecycle action.
HISTORY_WORDS = (N_("disclosure notice"),)


@router.get("/stats", response_class=HTMLResponse)
def statistics(request: Request, session: DbSession, who: Reader, year: int | None = None) -> Response:
    year = year if year is None or 1990 <= year <= 2200 else None
    ctx = {
        "year": year,
        "s": stats.trace_statistics(session, year=year),
        "sdg": stats.sdg_16_4_2(session, year=year),
    }
    return render(request, "traces/stats.html", ctx)


@router.get("/{request_id}", response_class=HTMLResponse)
def show(
    request: Request, request_id: uuid.UUID, session: DbSession, who: Reader, done: str = ""
) -> Response:
    return _page(request, session, who, request_id, flash=_(FLASH[done]) if done in FLASH else "")


def _act(
    request: Request,
    session: Session,
    who: Principal,
    request_id: uuid.UUID,
    form: dict[str, Any],
    action: str,
    call: Callable[[], Any],
) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    try:
        with session.begin_nested():
            out = call()
    except PydanticError as exc:
        errors = model_errors(exc)
    except RegistryError as exc:
        errors = {f"{action}.{_field(k)}": v for k, v in registry_errors(exc).items()}
    else:
        target = getattr(out, "request", out)
        return RedirectResponse(f"/ui/traces/{target.id}?done={action}", status_code=303)
    return _page(request, session, who, request_id, errors=errors, values=form, status_code=422)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(_("give a date (YYYY-MM-DD)"), field=field) from None


def _grounds(form: dict[str, Any]) -> list[str]:
    value = form.get("grounds", [])
    return value if isinstance(value, list) else [value]


@router.get("/{request_id}/attachments/{attachment_id}")
def attachment(request_id: uuid.UUID, attachment_id: uuid.UUID, session: DbSession, who: Reader) -> Response:
    """A photo of the request, as stored; viewing it is a view of the request (audited)."""
    traces.view(session, actor=who.username, request_id=request_id)
    for a in traces.attachments(session, request_id):
        if a.id == attachment_id:
            headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"}
            return Response(a.data, media_type=a.media_type, headers=headers)
    raise TraceNotFound(_("no such photo on this request"), field="attachment_id")


@router.post("/{request_id}/{action}", response_class=HTMLResponse)
def act(
    request: Request, request_id: uuid.UUID, action: str, form: Form, session: DbSession, who: Writer
) -> Response:
    u = who.username
    calls: dict[str, Callable[[], Any]] = {
        "send": lambda: traces.send(session, actor=u, request_id=request_id),
        "acknowledge": lambda: traces.acknowledge(session, actor=u, request_id=request_id),
        "candidates": lambda: traces.refresh_candidates(session, actor=u, request_id=request_id),
        "answer": lambda: traces.answer(
            session,
            actor=u,
            request_id=request_id,
            completeness=form.get("completeness", ""),
            weapon_id=_uuid(form.get("weapon_id")),
            text=form.get("text", ""),
        ),
        "delay": lambda: traces.delay(
            session,
            actor=u,
            request_id=request_id,
            reason_code=form.get("reason_code", ""),
            reason=form.get("reason", ""),
            expected_by=_date(form.get("expected_by"), "expected_by"),
        ),
        "restrict": lambda: traces.restrict(
            session,
            actor=u,
            request_id=request_id,
            grounds=_grounds(form),
            reason=form.get("reason", ""),
            weapon_id=_uuid(form.get("weapon_id")),
        ),
        "refuse": lambda: traces.refuse(
            session, actor=u, request_id=request_id, grounds=_grounds(form), reason=form.get("reason", "")
        ),
        "close": lambda: traces.close(
            session,
            actor=u,
            request_id=request_id,
            note=form.get("note", ""),
            origin_established={"yes": True, "no": False}.get(form.get("origin_established", "")),
        ),
        "disclosure-notice": lambda: disclosure.notify_disclosure(
            session,
            actor=u,
            request_id=request_id,
            purpose=form.get("notice_purpose", ""),
            recipient=form.get("notice_recipient", ""),
            reason=form.get("notice_reason", ""),
        ),
        "follow-up": lambda: traces.follow_up(
            session, actor=u, request_id=request_id, requested_country=form.get("requested_country") or None
        ),
    }
    if action not in calls:
        return _page(
            request, session, who, request_id, errors={"form": _("Unknown action.")}, status_code=404
        )
    name = "drafted" if action == "follow-up" else action
    return _act(request, session, who, request_id, form, name, calls[action])
