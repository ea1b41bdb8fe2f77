"""A weapon's record sheet: the master record, its marks, its whole history and the Data Matrix of its unique
mark (ISO/IEC 15434 format 06, as the marking station engraves it), with the QR of the record's address when
one is given. Holders are never named: an event with a private person says so and no more.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from hardware.codes import render, symbols, uii
from hardware.codes.errors import CodeError
from registry.history import service as history
from registry.markings.models import Marking
from registry.organisations import repository as org_repo
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons
from registry.weapons.models import Weapon
from reports import pdf
from reports import repository as reports_repo
from reports.i18n import Lang

MODULE_MM = 0.9  # Data Matrix module size on paper: 20-26 modules ≈ 2 cm, read by any phone or scanner


def _model_for_payload(model: str | None) -> str | None:
    """How a model goes into the payload (upper case, letters, digits, - . /), as the station writes it."""
    if model is None:
        return None
    kept = "".join(c for c in model.upper() if c.isascii() and (c.isalnum() or c in "-./"))
    return kept or None


def unique_mark_payload(weapon: Weapon, marks: list[Marking]) -> tuple[str | None, str | None]:
    """(payload, why not): the payload read back from the engraved mark if a station recorded one,
    else the one a station would engrave for this record; None with the reason when neither exists."""
    engraved = [m for m in marks if m.payload and m.is_primary] or [m for m in marks if m.payload]
    if engraved:
        return engraved[-1].payload, None
    if not weapon.manufacturer_code or not weapon.serial:
        return None, "no maker code or serial in the record"
    mark = uii.UniqueMark(
        enterprise=weapon.manufacturer_code,
        model=_model_for_payload(weapon.model),
        serial=weapon.serial,
        country=weapon.country_of_manufacture,
        year=weapon.year_of_manufacture,
    )
    try:
        return uii.compose(mark), None
    except CodeError as exc:
        return None, exc.message


def context(
    session: Session, weapon_id: uuid.UUID, lang: Lang, *, record_url: str | None = None
) -> dict[str, Any]:
    w, s = weapons.get(session, weapon_id)
    marks = weapon_repo.markings_of(session, weapon_id)
    events = history.history(session, weapon_id)
    org_ids = {i for e in events for i in (e.from_org_id, e.to_org_id) if i} | (
        {s.custodian_org_id} if s.custodian_org_id else set()
    )
    orgs = {i: o for i in org_ids if (o := org_repo.get(session, i)) is not None}
    payload, why_not = unique_mark_payload(w, marks)
    dm_svg = render.svg(symbols.datamatrix(payload), module_mm=MODULE_MM) if payload else None
    qr_svg = render.svg(symbols.qr(record_url), module_mm=0.6) if record_url else None
    names = reports_repo.category_names(session)
    return {
        "w": w,
        "s": s,
        "marks": marks,
        "events": events,
        "orgs": orgs,
        "payload": payload,
        "payload_shown": uii.show(payload) if payload else None,
        "payload_missing": why_not,
        "datamatrix_svg": dm_svg,
        "qr_svg": qr_svg,
        "record_url": record_url,
        "category": lang.gettext(names[w.category]) if w.category in names else w.category,
    }


def weapon_sheet_pdf(
    session: Session, *, weapon_id: uuid.UUID, lang: str = "en", record_url: str | None = None
) -> bytes:
    language = Lang.of(lang)
    ctx = context(session, weapon_id, language, record_url=record_url)
    w = ctx["w"]
    title = language.gettext("Weapon record sheet %(serial)s", serial=w.serial or str(w.id))
    return pdf.render("weapon_sheet.html", ctx, language, title=title)
