"""A stocktake kept as a record (who counted which site, when, and every line) and exported as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from hardware.stations import repository as repo
from hardware.stations.stocktake import Stocktake
from registry.audit import service as audit
from registry.errors import NotFound
from registry.stations.models import Stocktake as StocktakeRecord
from registry.stations.models import StocktakeMethod

CSV_COLUMNS = (
    "result",
    "weapon_id",
    "make",
    "model",
    "serial",
    "status",
    "registry_location",
    "scan",
    "reason",
)


def lines_of(result: Stocktake) -> list[dict[str, Any]]:
    """Every line of the report, in the order an officer reads it: problems first."""
    lines: list[dict[str, Any]] = []
    for kind, seen in (("missing", result.missing), ("elsewhere", result.elsewhere), ("found", result.found)):
        for s in seen:
            d = asdict(s)
            lines.append(
                {
                    "result": kind,
                    "weapon_id": str(d["weapon_id"]),
                    "make": d["make"],
                    "model": d["model"],
                    "serial": d["serial"],
                    "status": d["status"],
                    "registry_location": d["location"],
                    "scan": None,
                    "reason": None,
                }
            )
    lines += [_scan_line("unknown", u.scan, u.reason) for u in result.unknown]
    lines += [_scan_line("repeated", r, "scanned more than once; counted once") for r in result.repeated]
    return lines


def _scan_line(kind: str, scan: str, reason: str) -> dict[str, Any]:
    keys = dict.fromkeys(CSV_COLUMNS)
    return {**keys, "result": kind, "scan": scan, "reason": reason}


def save(
    session: Session,
    *,
    result: Stocktake,
    actor: str,
    method: str = StocktakeMethod.SCAN,
    station: str | None = None,
    notes: str = "",
) -> StocktakeRecord:
    """Keep the stocktake as a record (audited); nothing about the weapons themselves changes."""
    rec = StocktakeRecord(
        location=result.location,
        counted_by=actor,
        station=station or None,
        method=StocktakeMethod(method).value,
        expected=result.expected,
        found=len(result.found),
        missing=len(result.missing),
        elsewhere=len(result.elsewhere),
        unknown=len(result.unknown),
        lines=lines_of(result),
        notes=notes,
    )
    session.add(rec)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="stocktake.recorded",
        subject=audit.new_subject("stocktake", rec.id),
        records=[audit.snapshot_obj(rec)],
        info={"location": rec.location, "missing": rec.missing, "elsewhere": rec.elsewhere},
    )
    return rec


def get(session: Session, stocktake_id: uuid.UUID) -> StocktakeRecord:
    rec = repo.get_stocktake(session, stocktake_id)
    if rec is None:
        raise NotFound(f"no stocktake {stocktake_id}", field="stocktake_id", value=str(stocktake_id))
    return rec


def to_csv(rec: StocktakeRecord) -> str:
    """One row per line, after a header naming the site, the officer and the totals. Cells that a
    spreadsheet would run as a formula are prefixed with a quote (a scan is untrusted text)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(
        ["# stocktake", str(rec.id), "location", _cell(rec.location), "counted_by", _cell(rec.counted_by)]
    )
    w.writerow(
        [
            "# counted_at",
            rec.counted_at.isoformat(),
            "expected",
            rec.expected,
            "found",
            rec.found,
            "missing",
            rec.missing,
            "elsewhere",
            rec.elsewhere,
            "unknown",
            rec.unknown,
        ]
    )
    w.writerow(CSV_COLUMNS)
    for line in rec.lines:
        w.writerow([_cell(line.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Scans keep their raw separators in the record; in a CSV cell they are shown as <GS>, <RS>, <EOT>.
    text = text.replace("\x1d", "<GS>").replace("\x1e", "<RS>").replace("\x04", "<EOT>")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
