"""`iti ref …`: the reference tables (categories, manufacturers, models, calibres, component kinds)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from cli.common import actor, emit, table, transaction
from cli.i18n import _
from registry.reference import service as ref
from registry.reference.models import CalibreRef, CategoryRef, ComponentKindRef, ManufacturerRef, ModelRef

app = typer.Typer(
    help="Reference tables shipped with the project and extended by officers.", no_args_is_help=True
)

_TABLES = {
    "categories": (CategoryRef, ["code", "name", "weapon_group", "max_calibre_mm"]),
    "manufacturers": (ManufacturerRef, ["code", "name", "country", "mark_forms"]),
    "models": (ModelRef, ["manufacturer_code", "model", "category", "calibre"]),
    "calibres": (CalibreRef, ["code", "name", "bore_mm", "kind", "aliases"]),
    "components": (ComponentKindRef, ["code", "name", "is_primary", "essential"]),
}


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="categories, manufacturers, models, calibres or components")],
) -> None:
    """List a reference table."""
    if what not in _TABLES:
        raise typer.BadParameter(_("choose one of %(tables)s", tables=", ".join(_TABLES)), param_hint="WHAT")
    model, cols = _TABLES[what]
    with transaction() as session:
        rows = [[getattr(r, c) for c in cols] for r in session.execute(select(model)).scalars()]
    emit([dict(zip(cols, r, strict=True)) for r in rows], human=table(what, cols, rows))


@app.command("add-manufacturer")
def add_manufacturer(
    code: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    country: Annotated[str, typer.Argument()],
    mark_form: Annotated[list[str] | None, typer.Option(help="How it appears in marks (repeatable)")] = None,
) -> None:
    """Add a manufacturer that is not in the shipped table."""
    with transaction(writes=True) as session:
        m = ref.add_manufacturer(
            session, actor=actor(), code=code, name=name, country=country, mark_forms=mark_form
        )
        data = {"code": m.code, "name": m.name, "country": m.country}
    emit(data, human=_("added manufacturer %(code)s (%(country)s)", code=m.code, country=m.country))


@app.command("add-model")
def add_model(
    manufacturer: Annotated[str, typer.Argument()],
    model: Annotated[str, typer.Argument()],
    category: Annotated[str | None, typer.Option()] = None,
    calibre: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a model of a known manufacturer."""
    with transaction(writes=True) as session:
        m = ref.add_model(
            session,
            actor=actor(),
            manufacturer_code=manufacturer.upper(),
            model=model,
            category=category,
            calibre=calibre,
        )
        data = {"manufacturer": m.manufacturer_code, "model": m.model}
    emit(
        data,
        human=_("added model %(model)s of %(manufacturer)s", model=m.model, manufacturer=m.manufacturer_code),
    )


@app.command("add-calibre")
def add_calibre(
    code: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    bore_mm: Annotated[float, typer.Argument()],
    kind: Annotated[str, typer.Option()] = "other",
    alias: Annotated[list[str] | None, typer.Option()] = None,
) -> None:
    """Add a calibre."""
    with transaction(writes=True) as session:
        c = ref.add_calibre(
            session, actor=actor(), code=code, name=name, bore_mm=bore_mm, kind=kind, aliases=alias
        )
        data = {"code": c.code, "name": c.name}
    emit(data, human=_("added calibre %(code)s", code=c.code))
