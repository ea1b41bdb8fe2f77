"""The unique-mark payload: ISO/IEC 15434 format 06 with ANSI MH10.8.2 data identifiers, in the style of a
MIL-STD-130 construct-2 unique item identifier (enterprise + part number + serial).

Layout (docs/hardware.md has the full table)::

    [)> RS 06 GS V<maker> GS 1P<model> GS S<serial> GS 4L<country> GS 23D<year> RS EOT

`parse` is strict: it names the first thing wrong and never repairs a payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pycountry

from hardware.codes.errors import PayloadError

RS, GS, EOT = "\x1e", "\x1d", "\x04"
HEADER = "[)>" + RS
FORMAT_06 = "06" + GS
TRAILER = RS + EOT

# Data characters allowed in every element: MIL-STD-130 restricts UII parts to upper-case Latin letters,
# digits, '-' and '/'; '.' is allowed too because model designations use it (e.g. "P.38").
DATA_CHARS = re.compile(r"[A-Z0-9./-]+")  # always fullmatch: `$` would let a trailing newline through
MAX_DATA = 35  # MH10.8.2 gives an..35 for the identifiers used here

# Data identifiers we write and read: DI -> (field, explanation). Anything else is refused by name.
ENTERPRISE_DIS = ("V", "17V", "18V")
KNOWN_DIS: dict[str, tuple[str, str]] = {
    "V": ("enterprise", "maker code assigned by the national registry (supplier code assigned by customer)"),
    "17V": ("enterprise", "US DoD CAGE / NATO NCAGE code (5 characters)"),
    "18V": ("enterprise", "issuing agency code + company identification number (ISO/IEC 15459)"),
    "1P": ("model", "part number / model designation as assigned by the maker"),
    "S": ("serial", "serial number"),
    "4L": ("country", "country of origin, ISO 3166-1 alpha-2"),
    "23D": ("year", "year of manufacture (MH10.8.2 23D date, year-only form yyyy)"),
    "16D": ("production_date", "production date yyyymmdd"),
}
# Composition order; parse accepts any order (ISO/IEC 15434 gives order no meaning) but no duplicates.
ORDER = ("enterprise", "model", "serial", "country", "year", "production_date")
_DI = re.compile(r"^([0-9]{0,3})([A-Z])")


@dataclass(frozen=True)
class UniqueMark:
    """The content of one unique mark, as carried in the Data Matrix."""

    enterprise: str
    serial: str
    model: str | None = None
    country: str | None = None
    year: int | None = None
    production_date: date | None = None
    enterprise_di: str = "V"

    @property
    def uii(self) -> str:
        """The concatenated unique item identifier (construct 2: enterprise + part number + serial)."""
        return f"{self.enterprise}{self.model or ''}{self.serial}"

    def elements(self) -> list[tuple[str, str]]:
        out = [(self.enterprise_di, self.enterprise)]
        if self.model is not None:
            out.append(("1P", self.model))
        out.append(("S", self.serial))
        if self.country is not None:
            out.append(("4L", self.country))
        if self.year is not None:
            out.append(("23D", f"{self.year:04d}"))
        if self.production_date is not None:
            # Not strftime("%Y"): it writes year 999 as "999", which no parser reads back as yyyymmdd.
            d = self.production_date
            out.append(("16D", f"{d.year:04d}{d.month:02d}{d.day:02d}"))
        return out


def compose(mark: UniqueMark) -> str:
    """The exact payload string (with RS, GS and EOT) for `mark`; raises PayloadError on bad content."""
    if mark.enterprise_di not in ENTERPRISE_DIS:
        raise PayloadError(
            f"enterprise data identifier {mark.enterprise_di!r} is not one of {', '.join(ENTERPRISE_DIS)}",
            field="enterprise_di",
        )
    parts = []
    for di, value in mark.elements():
        _check_value(di, value, position=None)
        parts.append(di + value)
    payload = HEADER + FORMAT_06 + GS.join(parts) + TRAILER
    if parse(payload) != mark:  # the composer and the parser must agree on every mark we issue
        raise PayloadError("the mark does not survive a parse round trip", field="payload")
    return payload


def parse(payload: str) -> UniqueMark:
    """Read a payload strictly. Raises PayloadError naming what is wrong and where (character offset)."""
    if not payload.startswith(HEADER):
        raise PayloadError(
            "not an ISO/IEC 15434 message: it must start with '[)>' followed by RS (0x1E)"
            + _separator_hint(payload),
            field="envelope",
            position=0,
        )
    if not payload[len(HEADER) :].startswith(FORMAT_06):
        fmt = payload[len(HEADER) : len(HEADER) + 2]
        raise PayloadError(
            f"format {fmt!r} is not supported: only format 06 (data identifiers) followed by GS (0x1D) is",
            field="format",
            position=len(HEADER),
        )
    if not payload.endswith(TRAILER):
        raise PayloadError(
            "the message must end with RS (0x1E) then EOT (0x04), with nothing after",
            field="envelope",
            position=len(payload),
        )
    start = len(HEADER) + len(FORMAT_06)
    body = payload[start : -len(TRAILER)]
    if RS in body or EOT in body:
        pos = start + min(i for i in (body.find(RS), body.find(EOT)) if i >= 0)
        raise PayloadError(
            "only one format 06 envelope is allowed: RS or EOT found inside it",
            field="envelope",
            position=pos,
        )
    values: dict[str, str] = {}
    dis: dict[str, str] = {}
    offset = start
    for element in body.split(GS):
        di, value = _split_element(element, offset)
        name = KNOWN_DIS[di][0]
        if name in values:
            raise PayloadError(
                f"{name} is given twice (data identifier {di} after {dis[name]})", field=name, position=offset
            )
        _check_value(di, value, position=offset + len(di))
        values[name], dis[name] = value, di
        offset += len(element) + 1
    return _mark_of(values, dis)


def _split_element(element: str, offset: int) -> tuple[str, str]:
    if not element:
        raise PayloadError(
            "empty data element (two GS in a row, or GS right after the header)", position=offset
        )
    m = _DI.match(element)
    if m is None:
        raise PayloadError(
            f"data element {show(element)!r} does not start with a data identifier", position=offset
        )
    di = m.group(0)
    if di not in KNOWN_DIS:
        raise PayloadError(
            f"data identifier {di!r} is not used in unique marks (known: {', '.join(KNOWN_DIS)})",
            field="data_identifier",
            position=offset,
        )
    return di, element[len(di) :]


def _check_value(di: str, value: str, *, position: int | None) -> None:
    name = KNOWN_DIS[di][0]
    if not value:
        raise PayloadError(f"{name} (data identifier {di}) is empty", field=name, position=position)
    if len(value) > MAX_DATA:
        raise PayloadError(
            f"{name} is {len(value)} characters; at most {MAX_DATA} are allowed",
            field=name,
            position=position,
        )
    if not DATA_CHARS.fullmatch(value):
        bad = next(c for c in value if not DATA_CHARS.fullmatch(c))
        raise PayloadError(
            f"{name} {show(value)!r} contains {show(bad)!r}: only A-Z, 0-9, '-', '/' and '.' are allowed",
            field=name,
            position=None if position is None else position + value.index(bad),
        )
    _check_specific(di, name, value, position)


def _check_specific(di: str, name: str, value: str, position: int | None) -> None:
    if di == "17V" and not re.fullmatch(r"[A-Z0-9]{5}", value):
        raise PayloadError(
            f"a CAGE/NCAGE code has 5 characters, not {value!r}", field=name, position=position
        )
    if di == "4L" and (len(value) != 2 or pycountry.countries.get(alpha_2=value) is None):
        raise PayloadError(
            f"country {value!r} is not an ISO 3166-1 alpha-2 code", field=name, position=position
        )
    if di == "23D" and not re.fullmatch(r"[0-9]{4}", value):
        raise PayloadError(f"year {value!r} must be four digits (yyyy)", field=name, position=position)
    if di == "16D":
        try:
            date(int(value[:4]), int(value[4:6]), int(value[6:8]))
            if len(value) != 8 or not value.isdigit():
                raise ValueError(value)
        except ValueError:
            raise PayloadError(
                f"production date {value!r} is not a date yyyymmdd", field=name, position=position
            ) from None


def _mark_of(values: dict[str, str], dis: dict[str, str]) -> UniqueMark:
    for required in ("enterprise", "serial"):
        if required not in values:
            raise PayloadError(
                f"the {required} is missing: a unique mark needs an enterprise identifier "
                f"({'/'.join(ENTERPRISE_DIS)}) and a serial (S)",
                field=required,
            )
    pd = values.get("production_date")
    return UniqueMark(
        enterprise=values["enterprise"],
        serial=values["serial"],
        model=values.get("model"),
        country=values.get("country"),
        year=int(values["year"]) if "year" in values else None,
        production_date=date(int(pd[:4]), int(pd[4:6]), int(pd[6:])) if pd else None,
        enterprise_di=dis["enterprise"],
    )


def show(text: str) -> str:
    """Control characters spelt out, so an error message shows what a scanner really sent."""
    names = {RS: "<RS>", GS: "<GS>", EOT: "<EOT>"}
    return "".join(names.get(c, f"<0x{ord(c):02X}>" if ord(c) < 32 else c) for c in text)


def _separator_hint(payload: str) -> str:
    if payload.startswith("[)>") and payload[3:5] == "06":
        return " — the separators are missing (a keyboard-wedge scanner drops RS/GS/EOT)"
    return ""


def describe(payload: str) -> list[tuple[str, str, str]]:
    """(data identifier, field, value) rows of a valid payload, in the documented order, for display."""
    mark = parse(payload)
    return [(di, KNOWN_DIS[di][0], value) for di, value in mark.elements()]
