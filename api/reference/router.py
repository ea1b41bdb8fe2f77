"""`/api/v1/reference/{table}`: the reference tables (categories, manufacturers, models, calibres,
components) as the registry checks weapons against them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import require
from api.db import DbSession
from api.errors import problem_responses
from api.reference.schemas import ReferenceTable
from registry.reference.service import Catalogue, load_catalogue
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/api/v1/reference", tags=["reference"])

Reader = Annotated[Principal, Depends(require(Permission.WEAPON_READ))]


class Table(StrEnum):
    CATEGORIES = "categories"
    MANUFACTURERS = "manufacturers"
    MODELS = "models"
    CALIBRES = "calibres"
    COMPONENTS = "components"


def _rows(cat: Catalogue, table: Table) -> list[dict[str, Any]]:
    if table is Table.CATEGORIES:
        return [
            {
                "code": c.code,
                "name": c.name,
                "group": c.weapon_group,
                "description": c.description,
                "max_calibre_mm": c.max_calibre_mm,
            }
            for c in cat.categories.values()
        ]
    if table is Table.MANUFACTURERS:
        return [
            {
                "code": m.code,
                "name": m.name,
                "country": m.country,
                "mark_forms": [f for f in m.mark_forms.split("|") if f],
            }
            for m in cat.manufacturers.values()
        ]
    if table is Table.CALIBRES:
        return [
            {
                "code": c.code,
                "name": c.name,
                "kind": c.kind,
                "bore_mm": c.bore_mm,
                "aliases": [a for a in c.aliases.split("|") if a],
            }
            for c in cat.calibres.values()
        ]
    if table is Table.COMPONENTS:
        return [
            {"code": k.code, "name": k.name, "primary": k.is_primary, "essential": k.essential}
            for k in cat.component_kinds.values()
        ]
    return [{"manufacturer_code": m, "model_key": k} for m, k in cat.models]


@router.get(
    "/{table}", summary="One reference table, sorted by code", responses=problem_responses(401, 403, 422)
)
def reference_table(table: Table, session: DbSession, who: Reader) -> ReferenceTable:
    rows = _rows(load_catalogue(session), table)
    rows.sort(key=lambda r: tuple(str(v) for v in r.values())[:2])
    return ReferenceTable(table=table.value, items=rows)
