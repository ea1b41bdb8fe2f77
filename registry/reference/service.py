"""Reference data in the database: seeding the shipped tables, officers' additions, and fast look-ups.

`Catalogue` is loaded once per operation (the tables are small) and answers every look-up an import of
millions of rows needs from memory.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import utcnow
from registry.errors import Conflict, ValidationError
from registry.reference import catalogue as shipped
from registry.reference.countries import normalise_country
from registry.reference.models import CalibreRef, CategoryRef, ComponentKindRef, ManufacturerRef, ModelRef

_NOT_ALNUM = re.compile(r"[\W_]+")


@lru_cache(maxsize=65536)
def text_key(value: str) -> str:
    """Upper case letters and digits only (any script): how names, models and serials are compared."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", value).upper())


def _shipped_models() -> list[dict[str, str]]:
    with resources.files("registry.reference").joinpath("data/models.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _seed_table(session: Session, model: Any, items: list[Any], build: Callable[[Any], Any]) -> int:
    """Add the shipped rows whose code the table does not hold yet; returns how many."""
    have = set(session.execute(select(model.code)).scalars())
    rows = [build(item) for item in items if item.code not in have]
    session.add_all(rows)
    return len(rows)


def seed_reference_data(session: Session, *, actor: str) -> dict[str, int]:
    """Insert shipped rows that are missing; never touch officers' rows. Idempotent."""
    now = utcnow()
    added = {"categories": 0, "manufacturers": 0, "calibres": 0, "component_kinds": 0, "models": 0}
    added["categories"] = _seed_table(
        session,
        CategoryRef,
        shipped.load_categories(),
        lambda c: CategoryRef(
            code=c.code,
            name=c.name,
            weapon_group=c.group,
            description=c.description,
            max_calibre_mm=c.max_calibre_mm,
            shipped=True,
            added_at=now,
        ),
    )
    added["manufacturers"] = _seed_table(
        session,
        ManufacturerRef,
        shipped.load_manufacturers(),
        lambda m: ManufacturerRef(
            code=m.code,
            name=m.name,
            country=m.country,
            mark_forms="|".join(m.mark_forms),
            serial_pattern=m.serial_pattern or "",
            shipped=True,
            added_at=now,
        ),
    )
    added["calibres"] = _seed_table(
        session,
        CalibreRef,
        shipped.load_calibres(),
        lambda c: CalibreRef(
            code=c.code,
            name=c.name,
            aliases="|".join(c.aliases),
            bore_mm=c.bore_mm,
            kind=c.kind,
            shipped=True,
            added_at=now,
        ),
    )
    added["component_kinds"] = _seed_table(
        session,
        ComponentKindRef,
        shipped.load_component_kinds(),
        lambda k: ComponentKindRef(
            code=k.code, name=k.name, is_primary=k.primary, essential=k.essential, shipped=True, added_at=now
        ),
    )
    session.flush()
    have_models = {(m, k) for m, k in session.execute(select(ModelRef.manufacturer_code, ModelRef.model_key))}
    for row in _shipped_models():
        key = (row["manufacturer"], text_key(row["model"]))
        if key not in have_models:
            session.add(
                ModelRef(
                    manufacturer_code=row["manufacturer"],
                    model=row["model"],
                    model_key=key[1],
                    category=row["category"] or None,
                    calibre=row["calibre"] or None,
                    shipped=True,
                    added_at=now,
                )
            )
            added["models"] += 1
    session.flush()
    if any(added.values()):
        audit.record(session, actor=actor, action="reference.seeded", info=added)
    return added


@dataclass
class Catalogue:
    categories: dict[str, CategoryRef] = field(default_factory=dict)
    manufacturers: dict[str, ManufacturerRef] = field(default_factory=dict)
    maker_index: dict[str, str] = field(default_factory=dict)  # text_key(name/form/code) -> code
    calibres: dict[str, CalibreRef] = field(default_factory=dict)
    calibre_index: dict[str, str] = field(default_factory=dict)
    component_kinds: dict[str, ComponentKindRef] = field(default_factory=dict)
    models: set[tuple[str, str]] = field(default_factory=set)

    def manufacturer_code(self, make: str) -> str | None:
        return self.maker_index.get(text_key(make))

    def calibre_code(self, text: str) -> str | None:
        key = shipped.calibre_key(text)
        return self.calibre_index.get(key) or shipped.normalise_calibre(text)

    def known_model(self, manufacturer_code: str | None, model: str) -> bool:
        return manufacturer_code is not None and (manufacturer_code, text_key(model)) in self.models

    def bore_mm(self, calibre: str | None) -> float | None:
        if not calibre:
            return None
        code = self.calibre_code(calibre)
        if code and code in self.calibres:
            return self.calibres[code].bore_mm
        match = re.search(r"(\d+(?:\.\d+)?)\s*mm", calibre, re.IGNORECASE)
        return float(match.group(1)) if match else None


def load_catalogue(session: Session) -> Catalogue:
    cat = Catalogue()
    for c in session.execute(select(CategoryRef)).scalars():
        cat.categories[c.code] = c
    for m in session.execute(select(ManufacturerRef)).scalars():
        cat.manufacturers[m.code] = m
        # Mark forms that are just a country ("AUSTRIA") would make every Austrian maker ambiguous.
        for form in (m.code, m.name, *[f for f in m.mark_forms.split("|") if f]):
            key = text_key(form)
            if key and not key.startswith("MADEIN") and key not in _COUNTRY_WORDS:
                cat.maker_index.setdefault(key, m.code)
    for cal in session.execute(select(CalibreRef)).scalars():
        cat.calibres[cal.code] = cal
        for form in (cal.code, cal.name, *[a for a in cal.aliases.split("|") if a]):
            cat.calibre_index.setdefault(shipped.calibre_key(form), cal.code)
    for k in session.execute(select(ComponentKindRef)).scalars():
        cat.component_kinds[k.code] = k
    cat.models = {(m, k) for m, k in session.execute(select(ModelRef.manufacturer_code, ModelRef.model_key))}
    return cat


_COUNTRY_WORDS = frozenset(
    text_key(w)
    for w in (
        "AUSTRIA",
        "ITALY",
        "BELGIUM",
        "GERMANY",
        "USA",
        "U.S.A.",
        "CZECH REPUBLIC",
        "RUSSIA",
        "CHINA",
        "ISRAEL",
        "BRAZIL",
        "SERBIA",
        "POLAND",
        "BULGARIA",
        "ROMANIA",
        "TURKEY",
        "SOUTH AFRICA",
        "INDIA",
        "PAKISTAN",
        "KOREA",
        "JAPAN",
        "FINLAND",
        "SWITZERLAND",
        "CROATIA",
        "INDONESIA",
        "AUSTRALIA",
        "CANADA",
        "CHILE",
        "ARGENTINA",
        "PHILIPPINES",
        "SINGAPORE",
        "HUNGARY",
        "SAUDI ARABIA",
        "EGYPT",
        "SPAIN",
        "FRANCE",
        "UK",
        "ENGLAND",
    )
)


# --- officers' additions ----------------------------------------------------------------------------------


def add_manufacturer(
    session: Session, *, actor: str, code: str, name: str, country: str, mark_forms: list[str] | None = None
) -> ManufacturerRef:
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9_]{2,40}", code):
        raise ValidationError("manufacturer code must be 2-40 letters, digits or _", field="code", value=code)
    if session.get(ManufacturerRef, code) is not None:
        raise Conflict(f"manufacturer {code} already exists", field="code", value=code)
    ref = ManufacturerRef(
        code=code,
        name=name.strip(),
        country=normalise_country(country),
        mark_forms="|".join(mark_forms or []),
        serial_pattern="",
        shipped=False,
        added_by=actor,
        added_at=utcnow(),
    )
    session.add(ref)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reference.manufacturer_added",
        subject=f"manufacturer:{code}",
        info={"name": ref.name, "country": ref.country},
    )
    return ref


def add_model(
    session: Session,
    *,
    actor: str,
    manufacturer_code: str,
    model: str,
    category: str | None = None,
    calibre: str | None = None,
) -> ModelRef:
    if session.get(ManufacturerRef, manufacturer_code) is None:
        raise ValidationError(
            f"unknown manufacturer {manufacturer_code}", field="manufacturer", value=manufacturer_code
        )
    key = text_key(model)
    exists = session.execute(
        select(ModelRef).where(ModelRef.manufacturer_code == manufacturer_code, ModelRef.model_key == key)
    ).scalar_one_or_none()
    if exists is not None:
        raise Conflict(f"model {model} of {manufacturer_code} already exists", field="model", value=model)
    ref = ModelRef(
        manufacturer_code=manufacturer_code,
        model=model.strip(),
        model_key=key,
        category=category,
        calibre=calibre,
        shipped=False,
        added_by=actor,
        added_at=utcnow(),
    )
    session.add(ref)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reference.model_added",
        subject=f"manufacturer:{manufacturer_code}",
        info={"model": ref.model},
    )
    return ref


def add_calibre(
    session: Session,
    *,
    actor: str,
    code: str,
    name: str,
    bore_mm: float,
    kind: str,
    aliases: list[str] | None = None,
) -> CalibreRef:
    if session.get(CalibreRef, code) is not None:
        raise Conflict(f"calibre {code} already exists", field="code", value=code)
    if bore_mm <= 0:
        raise ValidationError("bore must be a positive number of millimetres", field="bore_mm", value=bore_mm)
    ref = CalibreRef(
        code=code,
        name=name,
        aliases="|".join(aliases or []),
        bore_mm=bore_mm,
        kind=kind,
        shipped=False,
        added_by=actor,
        added_at=utcnow(),
    )
    session.add(ref)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reference.calibre_added",
        subject=f"calibre:{code}",
        info={"name": name, "bore_mm": bore_mm},
    )
    return ref
