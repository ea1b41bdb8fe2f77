"""`iti weapon …` and `iti event add`: register, look up and record the life of a weapon."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import typer

from cli.common import (
    STATE,
    Exit,
    actor,
    emit,
    fail,
    parse_uuid,
    print_warnings,
    profile,
    settings,
    table,
    transaction,
)
from cli.i18n import L_, N_, _, label, named, ngettext
from registry.errors import RegistryError
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.imports.service import org_index, parse_when, record_to_inputs
from registry.markings import components
from registry.markings.rules import MarkingInput
from registry.reference.service import load_catalogue
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons

app = typer.Typer(help="Register weapons and look them up.", no_args_is_help=True)

Opt = typer.Option
# A component's moves, read with the weapon column that follows them.
COMPONENT_ACTIONS = {"installed": N_("installed in"), "removed": N_("removed from")}


def weapon_dict(w: Any, s: Any) -> dict[str, Any]:
    return {
        "id": w.id,
        "category": w.category,
        "make": w.make,
        "manufacturer_code": w.manufacturer_code,
        "model": w.model,
        "calibre": w.calibre,
        "serial": w.serial,
        "country_of_manufacture": w.country_of_manufacture,
        "year_of_manufacture": w.year_of_manufacture,
        "frame_material": w.frame_material,
        "mark_carrier": w.mark_carrier,
        "status": s.status,
        "custodian_org_id": s.custodian_org_id,
        "holder_person_id": s.holder_person_id,
        "location": s.location,
        "country": s.country,
        "illicit": s.illicit,
        "pending_marking": s.pending_marking,
        "events": s.event_count,
        "registered_at": w.registered_at,
        "registered_by": w.registered_by,
    }


def marking_dict(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "component": m.component_kind,
        "primary": m.is_primary,
        "text": m.text,
        "manufacturer": m.manufacturer,
        "country": m.country,
        "serial": m.serial,
        "year": m.year,
        "method": m.method,
        "condition": m.condition,
        "verified": m.verified,
    }


def event_dict(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "seq": e.seq,
        "type": e.type,
        "occurred_at": e.occurred_at,
        "recorded_by": e.recorded_by,
        "from_org_id": e.from_org_id,
        "to_org_id": e.to_org_id,
        "from_country": e.from_country,
        "to_country": e.to_country,
        "location": e.location,
        "documents": e.documents,
        "data": e.data,
        "notes": e.notes,
        "corrects_event_id": e.corrects_event_id,
    }


@app.command("add")
def add(
    category: Annotated[str, Opt(help="Weapon category code, e.g. SA-PIS (see `iti ref list categories`)")],
    make: Annotated[str, Opt(help="Manufacturer or brand as marked, e.g. GLOCK")],
    serial: Annotated[str | None, Opt(help="Serial number as marked")] = None,
    model: Annotated[str | None, Opt()] = None,
    calibre: Annotated[str | None, Opt()] = None,
    country: Annotated[str | None, Opt("--country", help="Country of manufacture (AT, AUT or 040)")] = None,
    year: Annotated[int | None, Opt("--year", help="Year of manufacture")] = None,
    event: Annotated[
        str, Opt(help="How the weapon enters the record: manufactured, imported, found, seized, surrendered")
    ] = "manufactured",
    at: Annotated[str | None, Opt(help="When it happened (ISO date or date-time); default now")] = None,
    mark_text: Annotated[str | None, Opt(help="The manufacture mark exactly as applied")] = None,
    mark_component: Annotated[str, Opt(help="Where the mark is: frame, receiver, …")] = "frame",
    mark_method: Annotated[str, Opt()] = "stamp",
    import_country: Annotated[str | None, Opt(help="Import mark: country of import")] = None,
    import_year: Annotated[int | None, Opt(help="Import mark: year of import")] = None,
    custodian: Annotated[str | None, Opt(help="Registration number of the organisation holding it")] = None,
    location: Annotated[str | None, Opt()] = None,
    frame_material: Annotated[str, Opt(help="metal, polymer or other")] = "metal",
    mark_carrier: Annotated[
        str | None, Opt(help="Polymer frames: the metal plate that carries the mark")
    ] = None,
    criminal_offence: Annotated[bool | None, Opt(help="Seizures: linked to a criminal offence?")] = None,
    illicit_grounds: Annotated[str | None, Opt(help="|-separated ITI grounds, e.g. not_marked")] = None,
    mark_condition: Annotated[str | None, Opt(help="intact, altered, obliterated, missing")] = None,
    notes: Annotated[str, Opt()] = "",
) -> None:
    """Register one weapon with its marks and the first event of its history."""
    record = {
        "category": category,
        "make": make,
        "serial": serial,
        "model": model,
        "calibre": calibre,
        "country_of_manufacture": country,
        "year_of_manufacture": year,
        "event_type": event,
        "occurred_at": at,
        "mark_text": mark_text,
        "mark_component": mark_component,
        "mark_method": mark_method,
        "import_country": import_country,
        "import_year": import_year,
        "custodian": custodian,
        "location": location,
        "frame_material": frame_material,
        "mark_carrier": mark_carrier,
        "criminal_offence": criminal_offence,
        "illicit_grounds": illicit_grounds,
        "mark_condition": mark_condition,
        "notes": notes,
    }
    with transaction(writes=True) as session:
        w, marks, ev = record_to_inputs(
            record, orgs=org_index(session), custody_org=None, catalogue=load_catalogue(session)
        )
        reg = weapons.register(
            session,
            actor=actor(),
            weapon=w,
            markings=marks,
            event=ev,
            profile=profile(),
            home_country=settings().node_country,
        )
        out = weapon_dict(reg.weapon, reg.state) | {"warnings": [x.as_dict() for x in reg.warnings]}
    print_warnings(reg.warnings)
    emit(
        out,
        human=_(
            "[green]registered[/] weapon %(id)s (%(make)s %(model)s serial %(serial)s), status %(status)s",
            id=reg.weapon.id,
            make=reg.weapon.make,
            model=reg.weapon.model or "",
            serial=reg.weapon.serial or "—",
            status=label(reg.state.status),
        ),
    )


def _resolve(session: Any, ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        found = weapons.find_by_mark(session, ref)
        if len(found) == 1:
            return found[0][0].id
        if not found:
            fail(
                L_("no weapon with id, serial or mark %(ref)r", ref=ref), Exit.NOT_FOUND, {"field": "weapon"}
            )
        fail(
            L_(
                "%(n)s weapons carry %(ref)r: give the id (see `iti weapon find %(text)s`)",
                n=len(found),
                ref=ref,
                text=ref,
            ),
            Exit.CONFLICT,
            {"field": "weapon"},
        )


@app.command("show")
def show(weapon: Annotated[str, typer.Argument(help="Weapon id, serial or mark text")]) -> None:
    """Show a weapon's record: facts, current state and marks."""
    with transaction() as session:
        wid = _resolve(session, weapon)
        w, s = weapons.get(session, wid)
        marks = [marking_dict(m) for m in weapon_repo.markings_of(session, wid)]
        data = weapon_dict(w, s) | {"markings": marks}
        names = _category_names(session)
    human = table(
        _("Weapon %(id)s", id=w.id),
        [_("field"), _("value")],
        [[label(k), _shown(k, v, names)] for k, v in data.items() if k != "markings"],
    )
    emit(data, human=human)
    if not STATE.json:
        emit(
            None,
            human=table(
                _("Marks"),
                [_("kind"), _("component"), _("text"), _("country"), _("serial"), _("year"), _("condition")],
                [
                    [
                        label(m["kind"]),
                        label(m["component"]),
                        m["text"],
                        m["country"],
                        m["serial"],
                        m["year"],
                        label(m["condition"]),
                    ]
                    for m in marks
                ],
            ),
        )


@app.command("find")
def find(
    text: Annotated[str, typer.Argument(help="Serial or any mark text; case, spaces and dashes ignored")],
) -> None:
    """Find weapons by serial or by the text of any of their marks (exact, normalised)."""
    with transaction() as session:
        rows = [weapon_dict(w, s) for w, s in weapons.find_by_mark(session, text)]
    emit(
        rows,
        human=table(
            ngettext(
                "%(num)d weapon marked %(text)r", "%(num)d weapons marked %(text)r", len(rows), text=text
            ),
            [_("id"), _("make"), _("model"), _("serial"), _("country"), _("status")],
            [
                [r["id"], r["make"], r["model"], r["serial"], r["country_of_manufacture"], label(r["status"])]
                for r in rows
            ],
        ),
    )
    if not rows:
        raise typer.Exit(Exit.NOT_FOUND)


@app.command("list")
def list_(
    status: Annotated[str | None, Opt()] = None,
    make: Annotated[str | None, Opt()] = None,
    model: Annotated[str | None, Opt()] = None,
    category: Annotated[str | None, Opt()] = None,
    pending_marking: Annotated[bool, Opt(help="Only recovered weapons waiting for a unique mark")] = False,
    limit: Annotated[int, Opt()] = 50,
) -> None:
    """List weapons by status, make, model or category."""
    with transaction() as session:
        if pending_marking:
            pairs = weapon_repo.pending_marking(session, limit=limit)
        else:
            pairs = weapon_repo.search(
                session, make=make, model=model, status=status, category=category, limit=limit
            )
        rows = [weapon_dict(w, s) for w, s in pairs]
        names = _category_names(session)
    emit(
        rows,
        human=table(
            ngettext("%(num)d weapon", "%(num)d weapons", len(rows)),
            [_("id"), _("category"), _("make"), _("model"), _("serial"), _("status")],
            [
                [
                    r["id"],
                    named(r["category"], names.get(r["category"])),
                    r["make"],
                    r["model"],
                    r["serial"],
                    label(r["status"]),
                ]
                for r in rows
            ],
        ),
    )


def _category_names(session: Any) -> dict[str, str]:
    return {code: c.name for code, c in load_catalogue(session).categories.items()}


def _shown(field: str, value: Any, names: dict[str, str]) -> Any:
    """A value of `weapon show` for a person: codes as words, yes/no, the category with its name."""
    if field in ("status", "frame_material"):
        return label(value)
    if field == "category" and value in names:
        return f"{value} — {_(names[value])}"  # the code officers type, and what it means
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return value


@app.command("history")
def history_(weapon: Annotated[str, typer.Argument(help="Weapon id, serial or mark text")]) -> None:
    """The whole history of a weapon, oldest first, with amendments shown where they apply."""
    with transaction() as session:
        wid = _resolve(session, weapon)
        events = history.history(session, wid)
        rows = [event_dict(e) for e in events]
        changes = history.effective_changes(events)
    for r in rows:
        r["amended"] = changes.get(str(r["id"]))
    emit(
        rows,
        human=table(
            _("History of %(id)s", id=wid),
            ["#", _("when"), _("event"), _("by"), _("to"), _("where"), _("notes")],
            [
                [
                    r["seq"],
                    r["occurred_at"].strftime("%Y-%m-%d %H:%M"),
                    label(r["type"]),
                    r["recorded_by"],
                    r["to_country"] or r["to_org_id"] or "",
                    r["location"] or "",
                    (r["notes"] + (" " + _("[amended]") if r["amended"] else "")).strip(),
                ]
                for r in rows
            ],
        ),
    )


def _kv(items: list[str], field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(
                L_("%(field)s takes key=value, got %(item)r", field=field, item=item),
                Exit.INVALID,
                {"field": field},
            )
        lowered = value.lower()
        out[key] = True if lowered == "true" else False if lowered == "false" else value
    return out


def _docs(items: list[str]) -> list[dict[str, Any]]:
    docs = []
    for item in items:
        parts = item.split(":")
        if len(parts) < 2:
            fail(
                L_("--doc takes kind:number[:issued_on[:expires_on]], got %(item)r", item=item),
                Exit.INVALID,
                {"field": "doc"},
            )
        doc = {"kind": parts[0], "number": parts[1]}
        if len(parts) > 2 and parts[2]:
            doc["issued_on"] = parts[2]
        if len(parts) > 3 and parts[3]:
            doc["expires_on"] = parts[3]
        docs.append(doc)
    return docs


event_app = typer.Typer(help="Record events in a weapon's history.", no_args_is_help=True)


@event_app.command("add")
def event_add(
    weapon: Annotated[str, typer.Argument(help="Weapon id, serial or mark text")],
    type_: Annotated[
        str, typer.Argument(metavar="TYPE", help="exported, transferred, stolen, found, destroyed, …")
    ],
    at: Annotated[str | None, Opt(help="When it happened (ISO); default now")] = None,
    to_org: Annotated[str | None, Opt(help="Receiving organisation id")] = None,
    from_org: Annotated[str | None, Opt(help="Handing-over organisation id")] = None,
    to_country: Annotated[str | None, Opt()] = None,
    from_country: Annotated[str | None, Opt()] = None,
    location: Annotated[str | None, Opt()] = None,
    doc: Annotated[list[str] | None, Opt(help="kind:number[:issued_on[:expires_on]], repeatable")] = None,
    data: Annotated[
        list[str] | None, Opt(help="key=value facts, repeatable (e.g. criminal_offence=true)")
    ] = None,
    notes: Annotated[str, Opt()] = "",
    corrects: Annotated[str | None, Opt(help="Amendments: id of the event corrected")] = None,
    mark_text: Annotated[
        str | None, Opt(help="A marking applied with this event, exactly as applied")
    ] = None,
    mark_kind: Annotated[str, Opt()] = "remarking",
    mark_component: Annotated[str, Opt()] = "frame",
    mark_method: Annotated[str, Opt()] = "dot_peen",
    mark_serial: Annotated[str | None, Opt()] = None,
    mark_country: Annotated[str | None, Opt()] = None,
    mark_year: Annotated[int | None, Opt()] = None,
    mark_manufacturer: Annotated[str | None, Opt()] = None,
) -> None:
    """Append one event to a weapon's history (corrections are `amended` events, never edits)."""
    facts = _kv(data or [], "data")
    if "illicit_grounds" in facts:
        facts["illicit_grounds"] = [g for g in str(facts["illicit_grounds"]).split("|") if g]
    ev = EventInput(
        type=type_,
        occurred_at=_when(at),
        to_org_id=parse_uuid(to_org, "to_org") if to_org else None,
        from_org_id=parse_uuid(from_org, "from_org") if from_org else None,
        to_country=to_country,
        from_country=from_country,
        location=location,
        documents=_docs(doc or []),
        data=facts,
        notes=notes,
        corrects_event_id=parse_uuid(corrects, "corrects") if corrects else None,
    )
    marking = None
    if mark_text:
        marking = MarkingInput(
            text=mark_text,
            kind=mark_kind,
            component=mark_component,
            method=mark_method,
            serial=mark_serial,
            country=mark_country,
            year=mark_year,
            manufacturer=mark_manufacturer,
            transferring_state=mark_country,
        )
    with transaction(writes=True) as session:
        wid = _resolve(session, weapon)
        rec = history.record_event(
            session,
            actor=actor(),
            weapon_id=wid,
            event=ev,
            profile=profile(),
            marking=marking,
            home_country=settings().node_country,
        )
        out = event_dict(rec.event) | {
            "status": rec.state.status,
            "warnings": [w.as_dict() for w in rec.warnings],
        }
    print_warnings(rec.warnings)
    emit(
        out,
        human=_(
            "[green]recorded[/] %(event)s (#%(seq)s) on %(id)s; status now %(status)s",
            event=label(rec.event.type),
            seq=rec.event.seq,
            id=wid,
            status=label(rec.state.status),
        ),
    )


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_when({"at": value}, "at")
    except RegistryError as exc:
        fail(exc.message, Exit.INVALID, {"field": "at"})


component_app = typer.Typer(
    help="Serialised components (receiver modules, barrels) that move between weapons.", no_args_is_help=True
)


@component_app.command("add")
def component_add(
    kind: Annotated[str, Opt(help="Component kind, e.g. barrel, upper_receiver (`iti ref list components`)")],
    serial: Annotated[str | None, Opt()] = None,
    manufacturer: Annotated[str | None, Opt(help="Manufacturer code")] = None,
    description: Annotated[str, Opt()] = "",
) -> None:
    """Register a serialised component; install it with `iti event add WEAPON component_replaced --data
    installed_component_id=ID`."""
    with transaction(writes=True) as session:
        c = components.register_component(
            session,
            actor=actor(),
            catalogue=load_catalogue(session),
            kind=kind,
            serial=serial,
            manufacturer_code=manufacturer,
            description=description,
        )
        data = {"id": c.id, "kind": c.kind, "serial": c.serial}
    emit(
        data,
        human=_(
            "[green]registered[/] %(kind)s %(serial)s (%(id)s)",
            kind=label(c.kind),
            serial=c.serial or "",
            id=c.id,
        ),
    )


@component_app.command("history")
def component_history(component: Annotated[str, typer.Argument(help="Component id")]) -> None:
    """Every weapon the component has been part of, in order."""
    with transaction() as session:
        moves = components.history(session, parse_uuid(component, "component"))
        rows = [
            {"weapon_id": m.weapon_id, "action": m.action, "at": m.occurred_at, "event_id": m.event_id}
            for m in moves
        ]
    emit(
        rows,
        human=table(
            _("Component %(id)s", id=component),
            [_("when"), _("action"), _("weapon")],
            [[r["at"], _(COMPONENT_ACTIONS.get(r["action"], r["action"])), r["weapon_id"]] for r in rows],
        ),
    )
