"""What makes a marking valid under the ITI and the node's profile (ITI section III). Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.codes import MarkCondition, MarkingKind, MarkingMethod
from registry.errors import MarkingRuleViolation, UnknownReference, ValidationError
from registry.profiles import Profile
from registry.reference.countries import normalise_country
from registry.reference.service import Catalogue, text_key
from registry.warnings import Warning

UNIQUE_KINDS = frozenset({MarkingKind.MANUFACTURE, MarkingKind.REMARKING})


@dataclass
class MarkingInput:
    text: str
    kind: str = MarkingKind.MANUFACTURE
    component: str = "frame"
    method: str = MarkingMethod.STAMP
    manufacturer: str | None = None
    country: str | None = None
    serial: str | None = None
    year: int | None = None
    transferring_state: str | None = None
    scheme_symbol: str | None = None
    location: str | None = None
    exposed_surface: bool = True
    conspicuous: bool = True
    readable: bool = True
    durable: bool = True
    recoverable: bool = True
    condition: str = MarkCondition.INTACT
    payload: str | None = None
    applied_on: date | None = None
    station: str | None = None
    operator: str | None = None
    verified: bool = False
    component_id: str | None = None


def _enum(value: str, enum: type, fld: str) -> str:
    try:
        return str(enum(value))
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValidationError(f"{fld} {value!r} is not one of: {allowed}", field=fld, value=value) from None


def normalise(m: MarkingInput, *, catalogue: Catalogue, prefix: str = "marking") -> MarkingInput:
    """Check codes and normalise countries in place; raises on anything that is not a known code."""
    m.kind = _enum(m.kind, MarkingKind, f"{prefix}.kind")
    m.method = _enum(m.method, MarkingMethod, f"{prefix}.method")
    m.condition = _enum(m.condition, MarkCondition, f"{prefix}.condition")
    if m.component not in catalogue.component_kinds:
        raise UnknownReference(
            f"component {m.component!r} is not a known component kind "
            f"({', '.join(sorted(catalogue.component_kinds))})",
            field=f"{prefix}.component",
            value=m.component,
        )
    if not m.text or not m.text.strip():
        raise ValidationError("the marking text as applied is required", field=f"{prefix}.text")
    if m.country:
        m.country = normalise_country(m.country, field=f"{prefix}.country")
    if m.transferring_state:
        m.transferring_state = normalise_country(m.transferring_state, field=f"{prefix}.transferring_state")
    if m.year is not None and not 1300 <= m.year <= date.today().year + 1:
        raise ValidationError(
            f"year {m.year} is not a plausible marking year", field=f"{prefix}.year", value=m.year
        )
    return m


def is_primary(m: MarkingInput, catalogue: Catalogue) -> bool:
    return bool(catalogue.component_kinds[m.component].is_primary)


def is_unique_mark(m: MarkingInput, catalogue: Catalogue) -> bool:
    """A mark that identifies the weapon on its own: manufacture or re-marking, on the frame/receiver
    (ITI 10, REQ-12), legible, with a serial."""
    return (
        m.kind in UNIQUE_KINDS
        and is_primary(m, catalogue)
        and bool(m.serial)
        and m.readable
        and m.condition == MarkCondition.INTACT
    )


def check(
    m: MarkingInput, *, profile: Profile, catalogue: Catalogue, prefix: str = "marking"
) -> list[Warning]:
    """Rules of ITI 7 and 8 for one marking, after `normalise`. Raises on a broken rule, returns warnings."""
    warnings: list[Warning] = []
    if m.kind in UNIQUE_KINDS:
        warnings += _check_unique(m, profile=profile, prefix=prefix)
    elif m.kind == MarkingKind.IMPORT:
        if not m.country:
            raise MarkingRuleViolation(
                "an import marking must give the country of import (ITI 8(b))", field=f"{prefix}.country"
            )
        if m.year is None:
            warnings.append(
                Warning(
                    "import_year_missing",
                    "the year of import should be marked where possible (ITI 8(b))",
                    f"{prefix}.year",
                )
            )
    elif m.kind == MarkingKind.STATE_TRANSFER and not m.transferring_state:
        raise MarkingRuleViolation(
            "a state-stock transfer marking must identify the transferring state (ITI 8(c))",
            field=f"{prefix}.transferring_state",
        )
    flags = {
        f: getattr(m, f) for f in ("exposed_surface", "conspicuous", "readable", "durable", "recoverable")
    }
    if m.kind in UNIQUE_KINDS and not all(flags.values()):
        bad = ", ".join(k for k, v in flags.items() if not v)
        warnings.append(
            Warning(
                "mark_quality",
                f"the unique mark is not {bad}: it is flagged for review (ITI 7)",
                f"{prefix}.{bad.split(', ')[0]}",
            )
        )
    if m.condition in (MarkCondition.ALTERED, MarkCondition.OBLITERATED):
        warnings.append(
            Warning(
                "mark_tampered",
                f"the mark is {m.condition}: flagged for criminal referral (Firearms Protocol 5(1)(c))",
                f"{prefix}.condition",
            )
        )
    return warnings


def _check_unique(m: MarkingInput, *, profile: Profile, prefix: str) -> list[Warning]:
    warnings: list[Warning] = []
    if m.scheme_symbol:
        # Alternative scheme: a registered symbol plus a code that identifies the country (ITI 8(a)).
        if not m.serial:
            raise MarkingRuleViolation(
                "an alternative-scheme marking needs its numeric/alphanumeric code", field=f"{prefix}.serial"
            )
        if not m.country:
            raise MarkingRuleViolation(
                "an alternative-scheme marking must let states identify the country of manufacture",
                field=f"{prefix}.country",
            )
    else:
        # A re-mark of a found weapon is applied by the state, not a maker: country and serial identify it
        # (ISACS 05.30); a manufacture mark needs all three elements of ITI 8(a).
        needed = (
            ("country", "serial")
            if m.kind == MarkingKind.REMARKING
            else ("manufacturer", "country", "serial")
        )
        missing = [f for f in needed if not getattr(m, f)]
        if missing:
            raise MarkingRuleViolation(
                f"a {m.kind} marking must identify the manufacturer, the country of manufacture and the "
                f"serial number (ITI 8(a)); missing: {', '.join(missing)}",
                field=f"{prefix}.{missing[0]}",
                missing=missing,
            )
    if m.serial:
        check_serial(m.serial, profile=profile, field=f"{prefix}.serial")
    if m.year is None:
        if profile.year_required:
            raise MarkingRuleViolation(
                f"the {profile.name} profile requires the year of manufacture in the mark",
                field=f"{prefix}.year",
            )
        warnings.append(
            Warning("year_missing", "the year of manufacture is encouraged (ITI 8(a))", f"{prefix}.year")
        )
    return warnings


def check_serial(serial: str, *, profile: Profile, field: str) -> None:
    if not text_key(serial):
        raise ValidationError("the serial number has no letters or digits", field=field, value=serial)
    if profile.serial_pattern is not None and not profile.serial_pattern.fullmatch(serial):
        raise MarkingRuleViolation(
            f"serial {serial!r} breaks the {profile.name} profile: {profile.serial_pattern_text}",
            field=field,
            value=serial,
        )
