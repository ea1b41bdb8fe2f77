"""Compose the mark of a registered weapon from the registry and the node's jurisdiction profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hardware.codes import uii
from hardware.codes.errors import CodeError
from hardware.codes.uii import UniqueMark
from hardware.marking.job import CODE_FIELD, JobRefused, MarkField, MarkJob, MarkRules, check_job, normalise
from registry.profiles import Profile
from registry.weapons import service as weapons
from registry.weapons.models import Weapon

# Letters a mark may show, by profile. The registry's Profile has no field for this yet, so the table
# lives here, keyed by profile name (EU 2019/68: Latin, Cyrillic or Greek; 27 CFR 478.92: Roman letters).
SCRIPTS: dict[str, tuple[str, ...] | None] = {
    "iti": None,
    "eu": ("LATIN", "CYRILLIC", "GREEK"),
    "us": ("LATIN",),
}
# Defaults when the profile sets no minimum: ISACS 05.30 gives no figure; 1.6 mm reads without a loupe.
DEFAULT_CHAR_HEIGHT_MM = 1.6
DEFAULT_DEPTH_MM = 0.08


def rules_for(profile: Profile) -> MarkRules:
    return MarkRules(
        profile=profile.name,
        require_model=profile.model_required,
        require_year=profile.year_required,
        serial_pattern=profile.serial_pattern,
        serial_pattern_text=profile.serial_pattern_text,
        min_char_height_mm=profile.min_char_height_mm,
        min_depth_mm=profile.min_depth_mm,
        scripts=SCRIPTS.get(profile.name),
    )


def unique_mark_of(weapon: Weapon) -> UniqueMark:
    """The Data Matrix content of a weapon's unique identity (maker code, model, serial, country, year)."""
    if not weapon.manufacturer_code:
        raise JobRefused(
            f"maker {weapon.make!r} has no code in the manufacturers table, so the Data Matrix has no "
            "enterprise identifier; add it with `iti ref add-manufacturer` first",
            field="make",
        )
    if not weapon.serial:
        raise JobRefused(
            "the weapon has no serial to mark; new manufacture and imports get one from "
            "`iti station reserve-serial` (POST /api/v1/stations/serials) before they are registered",
            field="serial",
        )
    mark = UniqueMark(
        enterprise=weapon.manufacturer_code,
        model=normalise(weapon.model),
        serial=weapon.serial,
        country=weapon.country_of_manufacture,
        year=weapon.year_of_manufacture,
    )
    try:
        uii.compose(mark)
    except CodeError as exc:
        raise JobRefused(
            f"the weapon's {exc.field} cannot go into the Data Matrix: {exc.message}", field=exc.field
        ) from exc
    return mark


@dataclass(frozen=True)
class Composed:
    weapon: Weapon
    mark: UniqueMark
    payload: str
    job: MarkJob
    rules: MarkRules


def compose_job(
    weapon: Weapon,
    *,
    profile: Profile,
    char_height_mm: float | None = None,
    depth_mm: float | None = None,
    method: str = "laser",
) -> Composed:
    """The job for `weapon`, checked against the profile (raises JobRefused before anything is sent)."""
    rules = rules_for(profile)
    mark = unique_mark_of(weapon)
    payload = uii.compose(mark)
    height = (
        char_height_mm if char_height_mm is not None else rules.min_char_height_mm or DEFAULT_CHAR_HEIGHT_MM
    )
    depth = depth_mm if depth_mm is not None else rules.min_depth_mm or DEFAULT_DEPTH_MM
    lines = [
        ("maker", weapon.make.upper()),
        ("model", weapon.model),
        ("serial", weapon.serial),
        ("country", weapon.country_of_manufacture),
        ("year", None if weapon.year_of_manufacture is None else str(weapon.year_of_manufacture)),
    ]
    fields = [MarkField(name, text, height) for name, text in lines if text]
    fields.append(MarkField(CODE_FIELD, payload, height))
    job = MarkJob(fields=tuple(fields), depth_mm=depth, method=method, info={"weapon_id": str(weapon.id)})
    check_job(job, rules)
    return Composed(weapon=weapon, mark=mark, payload=payload, job=job, rules=rules)


def compose_for(
    session: Session,
    weapon_id: uuid.UUID,
    *,
    profile: Profile,
    char_height_mm: float | None = None,
    depth_mm: float | None = None,
    method: str = "laser",
) -> Composed:
    """Read the weapon from the registry and compose its checked job."""
    weapon, _ = weapons.get(session, weapon_id)
    return compose_job(
        weapon, profile=profile, char_height_mm=char_height_mm, depth_mm=depth_mm, method=method
    )
