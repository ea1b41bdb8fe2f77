"""CSV and XLSX exports of a weapon search (the filters of `GET /api/v1/weapons`) and of the statistics.

Every text cell that a spreadsheet would read as a formula — starting with `=`, `+`, `-`, `@`, or a tab or
carriage return that some programs strip first — is prefixed with an apostrophe (OWASP "CSV injection"):
a mark text or a place name typed as `=HYPERLINK(…)` arrives as text, never as a formula. Numbers stay
numbers. CSV is UTF-8 with a byte-order mark so spreadsheet programs read Arabic, Chinese and Cyrillic text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons
from registry.weapons.models import Weapon, WeaponState
from reports.national import flatten
from tracing.matching import service as matcher
from tracing.requests import stats

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAGE = 1000
WEAPON_COLUMNS = (
    "id",
    "category",
    "make",
    "model",
    "calibre",
    "serial",
    "country_of_manufacture",
    "year_of_manufacture",
    "status",
    "illicit",
    "pending_marking",
    "country",
    "location",
    "last_event_at",
    "registered_at",
)


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def safe_cell(value: Any) -> Any:
    """A value as it may go into a spreadsheet cell: text that would start a formula is neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True)
class WeaponFilters:
    serial: str | None = None
    fuzzy: bool = False
    make: str | None = None
    model: str | None = None
    status: str | None = None
    category: str | None = None


def _weapon_row(w: Weapon, s: WeaponState) -> list[Any]:
    values = {c: getattr(w, c, None) for c in WEAPON_COLUMNS}
    values.update(
        status=s.status,
        illicit=s.illicit,
        pending_marking=s.pending_marking,
        country=s.country,
        location=s.location,
        last_event_at=s.last_event_at,
        id=str(w.id),
    )
    return [values[c] for c in WEAPON_COLUMNS]


def weapon_rows(session: Session, filters: WeaponFilters, *, limit: int = 100_000) -> Iterator[list[Any]]:
    """The header, then each weapon the search finds (every page, up to `limit`)."""
    yield list(WEAPON_COLUMNS)
    f = filters
    if f.fuzzy and f.serial:
        found = matcher.find_candidates(session, observed=f.serial, limit=50)
        for _c, w, s in matcher.with_records(session, found):
            yield _weapon_row(w, s)
        return
    if f.serial:
        pairs = weapons.find_by_mark(
            session, f.serial, make=f.make, model=f.model, status=f.status, category=f.category
        )
        for w, s in pairs:
            yield _weapon_row(w, s)
        return
    after, sent = None, 0
    while sent < limit:
        page = weapon_repo.search(
            session, make=f.make, model=f.model, status=f.status, category=f.category, after=after,
            limit=min(PAGE, limit - sent),
        )  # fmt: skip
        for w, s in page:
            yield _weapon_row(w, s)
        sent += len(page)
        if len(page) < PAGE:
            return
        after = page[-1][0].id


def stats_rows(session: Session, *, year: int | None = None) -> Iterator[list[Any]]:
    """The trace statistics and SDG 16.4.2 (as `GET /api/v1/traces/stats`) as section, item, value."""
    yield ["section", "item", "value"]
    traces = stats.trace_statistics(session, year=year)
    for section, item, value in flatten("traces", traces["total"]):
        yield [section, item, value]
    for partner, figures in traces["per_partner"].items():
        for section, item, value in flatten(f"traces.partner.{partner}", figures):
            yield [section, item, value]
    for y, figures in traces["per_year"].items():
        for section, item, value in flatten(f"traces.year.{y}", figures):
            yield [section, item, value]
    for section, item, value in flatten("sdg_16_4_2", stats.sdg_16_4_2(session, year=year)):
        yield [section, item, value]


def to_csv(rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """CSV in chunks (a large search streams without being held whole)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    yield "\ufeff".encode()
    for i, row in enumerate(rows, 1):
        writer.writerow([safe_cell(v) for v in row])
        if i % 500 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def to_xlsx(rows: Iterable[list[Any]], *, sheet: str = "export") -> bytes:
    from openpyxl import Workbook  # loaded for XLSX only: every `iti` command imports this package

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def export(rows: Iterable[list[Any]], fmt: Format | str, *, sheet: str = "export") -> Iterator[bytes]:
    if Format(fmt) is Format.CSV:
        yield from to_csv(rows)
    else:
        yield to_xlsx(rows, sheet=sheet)
