"""Jurisdiction profiles: the ITI baseline and stricter national rules, as data plus small functions.

A node picks one with ITI_PROFILE (`iti`, `eu`, `us`). Rules elsewhere ask the profile; nothing in the
registry tests `if country == …`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from registry.errors import ValidationError


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    # REQ-07: whether the model is part of what must be unique together with maker, country and serial.
    uniqueness_includes_model: bool = False
    # REQ-19/20: minimum retention in years; the strictest applicable rule wins.
    retention_manufacture_years: int = 30
    retention_other_years: int = 20
    retention_after_destruction_years: int | None = None
    # REQ-06 vs REQ-40: the ITI encourages year and model; the EU requires the year (unless in the serial).
    year_required: bool = False
    model_required: bool = False
    # REQ-17: a polymer frame must record the metal insert that carries the mark.
    polymer_carrier_required: bool = False
    # REQ-44: allowed serial characters and whether a digit is needed.
    serial_pattern: re.Pattern[str] | None = None
    serial_pattern_text: str = ""
    # REQ-43/46: physical mark size, checked by marking stations.
    min_char_height_mm: float | None = None
    min_depth_mm: float | None = None
    # REQ-47: days within which acquisitions and dispositions must be recorded.
    acquisition_days: int | None = None
    disposition_days: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


ITI = Profile(
    name="iti",
    title="International Tracing Instrument baseline (A/60/88)",
    notes=("Year of manufacture and model are encouraged: missing ones give a warning.",),
)

EU = Profile(
    name="eu",
    title="European Union: Directive (EU) 2021/555 and Implementing Directive 2019/68 as amended",
    retention_after_destruction_years=30,
    year_required=True,
    polymer_carrier_required=True,
    min_char_height_mm=1.6,
    min_depth_mm=0.0762,
)

US = Profile(
    name="us",
    title="United States: 27 CFR 478",
    serial_pattern=re.compile(r"^(?=.*[0-9])[A-Za-z0-9-]+$"),
    serial_pattern_text="Roman letters, Arabic numerals and hyphens, with at least one digit",
    model_required=True,
    min_char_height_mm=1.5875,  # 1/16 inch
    min_depth_mm=0.0762,  # 0.003 inch
    acquisition_days=15,
    disposition_days=7,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (ITI, EU, US)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise ValidationError(
            f"unknown jurisdiction profile {name!r}; known: {', '.join(sorted(PROFILES))}", field="profile"
        ) from None
