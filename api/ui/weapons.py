"""Weapon pages: search, the record page (marks, timeline, QR), registration and new events.

Writes go through the same input models and registry services as the JSON API. A registry error rolls back
a savepoint, so the page can show the form again with the error next to its field and nothing half-written
is committed with the request.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

from api.db import Context, DbSession, ReadSession
from api.ui import qr
from api.ui.forms import form_data, model_errors, nest, registry_errors
from api.ui.i18n import _
from api.ui.session import CSRF_FIELD, check_csrf, page_requires
from api.ui.templating import render
from api.weapons.schemas import EventFields, EventIn, WeaponIn
from registry.codes import EventType, FrameMaterial, IllicitGround, MarkingKind, MarkingMethod, Status
from registry.errors import NotFound, RegistryError
from registry.history import service as history
from registry.imports.service import resolve_organisation
from registry.organisations import repository as org_repo
from registry.reference.service import load_catalogue
from registry.users.roles import Permission
from registry.users.service import Principal
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons
from tracing.matching import service as matcher

router = APIRouter(prefix="/ui/weapons", include_in_schema=False)

Reader = Annotated[Principal, Depends(page_requires(Permission.WEAPON_READ))]
Registrar = Annotated[Principal, Depends(page_requires(Permission.WEAPON_WRITE))]
EventWriter = Annotated[Principal, Depends(page_requires(Permission.EVENT_WRITE))]
Form = Annotated[dict[str, Any], Depends(form_data)]

PAGE_SIZE = 50
ENTRY_EVENTS = (
    EventType.MANUFACTURED,
    EventType.IMPORTED,
    EventType.FOUND,
    EventType.SEIZED,
    EventType.SURRENDERED,
)
# Events an officer adds by hand; `marked` comes from stations, `amended`/`voided` from corrections.
LATER_EVENTS = tuple(e for e in EventType if e not in (EventType.MANUFACTURED,))


def _options(values: Any) -> list[tuple[str, str]]:
    return [(v.value, v.value.replace("_", " ")) for v in values]


def _as_utc(value: Any) -> Any:
    """`<input type=datetime-local>` sends no zone; the form says UTC, so the value is UTC."""
    if isinstance(value, str) and value and "+" not in value[10:] and not value.endswith("Z"):
        return value + ("Z" if len(value) > 16 else ":00Z")
    return value


@router.get("", response_class=HTMLResponse)
def search(
    request: Request,
    who: Reader,  # before `session`: the sign-in check's session (primary) opens first and closes last
    session: ReadSession,
    serial: str = "",
    fuzzy: bool = False,
    make: str = "",
    status: str = "",
    category: str = "",
    cursor: uuid.UUID | None = None,
) -> Response:
    serial, make = serial.strip()[:300], make.strip()[:200]
    statuses = {s.value for s in Status}
    status = status if status in statuses else ""
    results: list[Any] = []
    nxt: str | None = None
    note = ""
    if serial and fuzzy:
        try:
            found = matcher.find_candidates(session, observed=serial, limit=PAGE_SIZE)
        except RegistryError as exc:
            note = exc.message
        else:
            results = [(w, s, c) for c, w, s in matcher.with_records(session, found)]
            note = _(
                "Ranked candidates: confusable characters (0/O, 1/I, 5/S …), ? and one swapped pair tolerated."
            )
    elif serial:
        results = weapons.find_by_mark(
            session, serial, make=make or None, status=status or None, category=category or None
        )
    elif make or status or category or request.query_params:
        results = weapon_repo.search(
            session,
            make=make or None,
            status=status or None,
            category=category or None,
            after=cursor,
            limit=PAGE_SIZE,
        )
        if len(results) == PAGE_SIZE:
            nxt = str(request.url.include_query_params(cursor=str(results[-1][0].id)))
    values = {"serial": serial, "make": make, "status": status, "category": category, "fuzzy": fuzzy}
    ctx = {
        "results": results,
        "values": values,
        "next": nxt,
        "note": note,
        "statuses": _options(Status),
        "categories": sorted(load_catalogue(session).categories),
        "searched": bool(request.query_params),
    }
    return render(request, "weapons/search.html", ctx)


def _register_context(session: Session, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    cat = load_catalogue(session)
    return {
        "values": values,
        "errors": errors,
        "categories": [
            (c.code, f"{c.code} — {_(c.name)}") for c in sorted(cat.categories.values(), key=lambda c: c.code)
        ],
        "makers": sorted(m.name for m in cat.manufacturers.values()),
        "calibres": sorted(cat.calibres),
        "frames": _options(FrameMaterial),
        "entry_events": _options(ENTRY_EVENTS),
        "marking_kinds": _options(MarkingKind),
        "methods": _options(MarkingMethod),
    }


@router.get("/new", response_class=HTMLResponse)
def register_form(request: Request, session: DbSession, who: Registrar) -> Response:
    values = {"event.type": "imported", "marking.kind": "manufacture", "frame_material": "metal"}
    return render(request, "weapons/new.html", _register_context(session, values, {}))


@router.post("/new", response_class=HTMLResponse)
def register(request: Request, form: Form, session: DbSession, ctx: Context, who: Registrar) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    data = nest(form, skip=frozenset({CSRF_FIELD}))
    if "event" in data:
        data["event"]["occurred_at"] = _as_utc(data["event"].get("occurred_at"))
        if data["event"].get("occurred_at") is None:
            data["event"].pop("occurred_at")
        if doc := data["event"].pop("document", None):
            data["event"]["documents"] = [doc]
    data["markings"] = [m for m in (data.pop("marking", None), data.pop("marking2", None)) if m]
    errors: dict[str, str] = {}
    try:
        if "event" in data:
            _resolve_orgs(session, data["event"], prefix="event.")
        body = WeaponIn.model_validate(data)
        with session.begin_nested():
            reg = weapons.register(
                session,
                actor=who.username,
                weapon=body.to_input(),
                markings=[m.to_input() for m in body.markings],
                event=body.event.to_input(),
                profile=ctx.profile,
                home_country=ctx.settings.node_country,
            )
    except PydanticError as exc:
        errors = model_errors(exc)
    except RegistryError as exc:
        errors = {_registration_field(k): v for k, v in registry_errors(exc).items()}
    if errors:
        return render(request, "weapons/new.html", _register_context(session, form, errors), status_code=422)
    warned = ",".join(dict.fromkeys(w.code for w in reg.warnings))
    return RedirectResponse(
        f"/ui/weapons/{reg.weapon.id}?done=registered" + (f"&w={warned}" if warned else ""), status_code=303
    )


_EVENT_ONLY = set(EventFields.model_fields) - set(WeaponIn.model_fields)


def _registration_field(name: str) -> str:
    """The registry names an entry event's fields as it names any event's (`to_country`); on the
    registration form they sit under `event.`."""
    head = name.split(".")[0].split("[")[0]
    return f"event.{name}" if head in _EVENT_ONLY else name


def _resolve_orgs(session: Session, data: dict[str, Any], prefix: str = "") -> None:
    """The form names organisations as an officer knows them (registration number or exact name, or id);
    the registry wants their ids."""
    for side in ("from_org", "to_org"):
        ref = data.pop(side, None)
        if not ref:
            continue
        try:
            data[f"{side}_id"] = str(resolve_organisation(session, ref).id)
        except NotFound:
            raise NotFound(
                _("no organisation %(ref)s: give its registration number or exact name", ref=repr(ref)),
                field=f"{prefix}{side}",
            ) from None


def _org_names(session: Session, events: list[Any]) -> dict[uuid.UUID, str]:
    ids = {i for e in events for i in (e.from_org_id, e.to_org_id) if i is not None}
    return {i: org.name for i in ids if (org := org_repo.get(session, i)) is not None}


@router.get("/{weapon_id}", response_class=HTMLResponse)
def show(
    request: Request,
    weapon_id: uuid.UUID,
    who: Reader,  # before `session`: the sign-in check's session (primary) opens first and closes last
    session: ReadSession,
    done: str = "",
    w: str = "",
) -> Response:
    weapon, state = weapons.get(session, weapon_id)
    events = history.history(session, weapon_id)
    record_url = str(request.url_for("show", weapon_id=str(weapon_id)))
    ctx = {
        "w": weapon,
        "s": state,
        "markings": weapon_repo.markings_of(session, weapon_id),
        "events": list(reversed(events)),  # the timeline reads newest first
        "changes": history.effective_changes(events),
        "orgs": _org_names(session, events),
        "qr_svg": qr.svg(record_url),
        "record_url": record_url,
        "flash": {"registered": _("Weapon registered."), "event": _("Event recorded.")}.get(done, ""),
        "warnings": [c for c in w.split(",") if c][:20],
    }
    return render(request, "weapons/show.html", ctx)


def _organisation_names(session: Session) -> list[str]:
    """For the form's suggestions; an officer may also type a registration number."""
    return sorted(o.name for o in org_repo.list_organisations(session, limit=1000))


def _event_context(
    session: Session, weapon: Any, state: Any, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "w": weapon,
        "s": state,
        "values": values,
        "errors": errors,
        "event_types": _options(LATER_EVENTS),
        "organisations": _organisation_names(session),
        "grounds": _options(IllicitGround),
    }


@router.get("/{weapon_id}/events/new", response_class=HTMLResponse)
def event_form(
    request: Request, weapon_id: uuid.UUID, session: DbSession, who: EventWriter, type: str = ""
) -> Response:
    weapon, state = weapons.get(session, weapon_id)
    return render(request, "weapons/event.html", _event_context(session, weapon, state, {"type": type}, {}))


@router.post("/{weapon_id}/events/new", response_class=HTMLResponse)
def add_event(
    request: Request, weapon_id: uuid.UUID, form: Form, session: DbSession, ctx: Context, who: EventWriter
) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    weapon, state = weapons.get(session, weapon_id)
    data = nest(form, skip=frozenset({CSRF_FIELD}))
    data["occurred_at"] = _as_utc(data.get("occurred_at"))
    if data["occurred_at"] is None:
        data.pop("occurred_at")
    if doc := data.pop("document", None):
        data["documents"] = [doc]
    errors: dict[str, str] = {}
    try:
        _resolve_orgs(session, data)
        body = EventIn.model_validate(data)
        with session.begin_nested():
            history.record_event(
                session,
                actor=who.username,
                weapon_id=weapon_id,
                event=body.to_input(),
                marking=None,
                profile=ctx.profile,
                home_country=ctx.settings.node_country,
            )
    except PydanticError as exc:
        errors = model_errors(exc)
    except RegistryError as exc:
        errors = registry_errors(exc)
    if errors:
        page = _event_context(session, weapon, state, form, errors)
        return render(request, "weapons/event.html", page, status_code=422)
    return RedirectResponse(f"/ui/weapons/{weapon_id}?done=event", status_code=303)
