"""Bulk import of weapons from CSV or JSON Lines: all or nothing, or good rows only with a rejects file.

One pass: each record is checked and, while no record has failed, written in batches inside the caller's
transaction. After the first bad record the rest are only checked, so the officer gets every bad row at
once; then `ImportRejected` makes the edge roll everything back. Memory stays flat: only a 64-bit
fingerprint of each uniqueness key is kept, to find duplicates inside the file.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.codes import EventType, MarkingKind
from registry.db import utcnow
from registry.errors import ImportRejected, NotFound, RegistryError, ValidationError
from registry.history.inputs import EventInput
from registry.imports import copy_writer
from registry.imports.formats import Reader, detect_format, file_sha256
from registry.imports.models import ImportJob
from registry.markings.rules import MarkingInput
from registry.organisations.models import Organisation
from registry.profiles import Profile
from registry.reference.service import Catalogue, load_catalogue
from registry.weapons import service as weapons
from registry.weapons.models import Weapon

BATCH = 2000
_MARKING_FIELDS = {f.name for f in fields(MarkingInput)}
_EVENT_FIELDS = {f.name for f in fields(EventInput)}
_MARKING_TYPES = {f.name: str(f.type) for f in fields(MarkingInput)}
_EVENT_TYPES = {f.name: str(f.type) for f in fields(EventInput)}
_JSON_TYPES: tuple[tuple[str, type, str], ...] = (
    ("bool", bool, "true or false"),
    ("int", int, "a whole number"),
    ("str", str, "text"),
    ("list", list, "a list"),
    ("dict", dict, "an object"),
)


@dataclass
class Reject:
    line: int
    field: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class ImportResult:
    job_id: uuid.UUID
    rows: int = 0
    imported: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: int = 0


Progress = Callable[[int, int], None]  # (bytes read, total bytes)


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _int(row: dict[str, Any], key: str) -> int | None:
    value = _text(row, key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(f"{key} must be a whole number", field=key, value=value) from None


def _bool(row: dict[str, Any], key: str) -> bool | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n"):
        return False
    raise ValidationError(f"{key} must be true or false", field=key, value=value)


def parse_when(row: dict[str, Any], key: str) -> datetime | None:
    value = _text(row, key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{key} must be an ISO date or date-time (2021-03-04 or 2021-03-04T10:00Z)",
            field=key,
            value=value,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(value: Any, key: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{key} must be an ISO date", field=key, value=value) from None


def record_to_inputs(
    row: dict[str, Any],
    *,
    orgs: dict[str, uuid.UUID],
    custody_org: uuid.UUID | None,
    catalogue: Catalogue | None = None,
) -> tuple[weapons.WeaponInput, list[MarkingInput], EventInput]:
    """Map one flat (CSV) or nested (JSON Lines) record to service inputs. Field names in errors are the
    record's own column names, so an officer can find them in the file."""
    for required in ("category", "make"):
        if not _text(row, required):
            raise ValidationError(f"{required} is required", field=required)
    weapon = weapons.WeaponInput(
        category=_text(row, "category") or "",
        make=_text(row, "make") or "",
        model=_text(row, "model"),
        calibre=_text(row, "calibre"),
        serial=_text(row, "serial"),
        country_of_manufacture=_text(row, "country_of_manufacture"),
        year_of_manufacture=_int(row, "year_of_manufacture"),
        frame_material=_text(row, "frame_material") or "metal",
        mark_carrier=_text(row, "mark_carrier"),
        description=_text(row, "description") or "",
    )
    if (
        weapon.country_of_manufacture is None
        and catalogue is not None
        and not isinstance(row.get("markings"), list)
    ):
        # A flat record that names a maker on the table but no country: the maker's country, as the
        # manufacturers table gives it (the mark built from these fields then carries it too).
        code = catalogue.manufacturer_code(weapon.make)
        if code is not None:
            weapon.country_of_manufacture = catalogue.manufacturers[code].country
    markings = _markings(row, weapon)
    event = _event(row, orgs=orgs, custody_org=custody_org)
    return weapon, markings, event


def _markings(row: dict[str, Any], weapon: weapons.WeaponInput) -> list[MarkingInput]:
    if isinstance(row.get("markings"), list):
        out = []
        for i, m in enumerate(row["markings"]):
            if not isinstance(m, dict):
                raise ValidationError("each marking is an object", field=f"markings[{i}]")
            unknown = set(m) - _MARKING_FIELDS
            if unknown:
                raise ValidationError(
                    f"unknown marking fields: {', '.join(sorted(unknown))}", field=f"markings[{i}]"
                )
            _check_types(m, _MARKING_TYPES, f"markings[{i}]")
            m = dict(m)
            m["applied_on"] = _date(m.get("applied_on"), f"markings[{i}].applied_on")
            out.append(MarkingInput(**m))
        return out
    out = []
    if weapon.serial:
        country = weapon.country_of_manufacture or _text(row, "mark_country")
        year = _int(row, "mark_year") or weapon.year_of_manufacture
        text = _text(row, "mark_text") or " ".join(str(p) for p in (weapon.make, country, weapon.serial) if p)
        out.append(
            MarkingInput(
                text=text,
                kind=MarkingKind.MANUFACTURE,
                component=_text(row, "mark_component") or "frame",
                method=_text(row, "mark_method") or "stamp",
                manufacturer=weapon.make,
                country=country,
                serial=weapon.serial,
                year=year,
                condition=_text(row, "mark_condition") or "intact",
            )
        )
    import_country = _text(row, "import_country")
    if import_country:
        year = _int(row, "import_year")
        out.append(
            MarkingInput(
                text=_text(row, "import_mark_text") or " ".join(str(p) for p in (import_country, year) if p),
                kind=MarkingKind.IMPORT,
                component=_text(row, "mark_component") or "frame",
                method=_text(row, "mark_method") or "stamp",
                country=import_country,
                year=year,
            )
        )
    return out


def _check_types(obj: dict[str, Any], types: dict[str, str], prefix: str) -> None:
    """A nested JSON Lines object carries JSON values of any type: each must have the type of the input field
    it fills (found by fuzzing: a number as a marking's text reached `.strip()` as an AttributeError)."""
    for key, value in obj.items():
        declared = types[key]
        if value is None:
            if "None" in declared or declared.startswith(("datetime", "date", "uuid")):
                continue  # optional, or converted (and checked) after this
            raise ValidationError(f"{prefix}.{key} must not be null", field=f"{prefix}.{key}")
        for name, kind, spelt in _JSON_TYPES:
            if declared.startswith(name):
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise ValidationError(
                        f"{prefix}.{key} must be {spelt}", field=f"{prefix}.{key}", value=value
                    )
                break


def _event(row: dict[str, Any], *, orgs: dict[str, uuid.UUID], custody_org: uuid.UUID | None) -> EventInput:
    if isinstance(row.get("event"), dict):
        ev = dict(row["event"])
        unknown = set(ev) - _EVENT_FIELDS
        if unknown:
            raise ValidationError(f"unknown event fields: {', '.join(sorted(unknown))}", field="event")
        _check_types(ev, _EVENT_TYPES, "event")
        ev["occurred_at"] = parse_when(ev, "occurred_at")
        for key in ("from_org_id", "to_org_id", "from_person_id", "to_person_id", "corrects_event_id"):
            if ev.get(key):
                try:
                    ev[key] = uuid.UUID(str(ev[key]))
                except ValueError:
                    raise ValidationError(f"{key} is not an id", field=f"event.{key}") from None
        event = EventInput(**ev)
    else:
        data: dict[str, Any] = {}
        grounds = _text(row, "illicit_grounds")
        if grounds:
            data["illicit_grounds"] = [g.strip() for g in grounds.split("|") if g.strip()]
        offence = _bool(row, "criminal_offence")
        if offence is not None:
            data["criminal_offence"] = offence
        if _text(row, "mark_condition"):
            data["mark_condition"] = _text(row, "mark_condition")
        if _bool(row, "temporary"):
            data["temporary"] = True
            data["purpose"] = _text(row, "purpose")
        event = EventInput(
            type=_text(row, "event_type") or EventType.MANUFACTURED.value,
            occurred_at=parse_when(row, "occurred_at"),
            to_country=_text(row, "import_country") if _text(row, "event_type") == "imported" else None,
            location=_text(row, "location"),
            notes=_text(row, "notes") or "",
            data=data,
        )
        custodian = _text(row, "custodian")
        if custodian:
            if custodian not in orgs:
                raise ValidationError(
                    f"no organisation with registration number {custodian!r}",
                    field="custodian",
                    value=custodian,
                )
            event.to_org_id = orgs[custodian]
    if custody_org is not None:
        event.data.setdefault("provenance", "records_custody")
        if event.to_org_id is None:
            event.to_org_id = custody_org
    return event


def _fingerprint(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def org_index(session: Session) -> dict[str, uuid.UUID]:
    stmt = select(Organisation.registration_number, Organisation.id).where(
        Organisation.registration_number.is_not(None)
    )
    return {number: org_id for number, org_id in session.execute(stmt)}  # noqa: C416 - rows, not pairs, to dict()


def _existing_keys(session: Session, keys: Iterable[str]) -> dict[str, uuid.UUID | None]:
    """Uniqueness keys already registered, with the import job that registered each."""
    keys = list(keys)
    found: dict[str, uuid.UUID | None] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        stmt = select(Weapon.uniqueness_key, Weapon.import_job_id).where(Weapon.uniqueness_key.in_(chunk))
        found.update({k: j for k, j in session.execute(stmt) if k is not None})
    return found


def resolve_organisation(session: Session, ref: str) -> Organisation:
    """An organisation by id, registration number or exact name."""
    org = None
    with contextlib.suppress(ValueError):
        org = session.get(Organisation, uuid.UUID(ref))
    if org is None:
        org = (
            session.execute(select(Organisation).where(Organisation.registration_number == ref))
            .scalars()
            .first()
        )
    if org is None:
        org = session.execute(select(Organisation).where(Organisation.name == ref)).scalars().first()
    if org is None:
        raise NotFound(
            f"no organisation {ref!r} (give its id, registration number or exact name)",
            field="custody_of",
            value=ref,
        )
    return org


def import_file(
    session: Session,
    *,
    actor: str,
    path: Path,
    profile: Profile,
    fmt: str | None = None,
    home_country: str | None = None,
    skip_invalid: bool = False,
    custody_of: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH,
) -> ImportResult:
    fmt = detect_format(path, fmt)
    custody = resolve_organisation(session, custody_of) if custody_of else None
    job = ImportJob(
        source_name=path.name,
        source_sha256=file_sha256(path),
        format=fmt,
        custody_of_org_id=custody.id if custody else None,
        started_by=actor,
        started_at=utcnow(),
    )
    session.add(job)
    session.flush()
    catalogue = load_catalogue(session)
    orgs = org_index(session)
    result = ImportResult(job_id=job.id)
    seen: set[int] = set()
    pending: list[tuple[int, weapons.PreparedWeapon]] = []
    reader = Reader(path, fmt)
    writing = True

    def flush_batch() -> None:
        """Check a batch against the registry; write it while the import is still clean."""
        nonlocal writing
        if not pending:
            return
        keys = [p.weapon["uniqueness_key"] for _, p in pending if p.weapon["uniqueness_key"]]
        clashes = _existing_keys(session, keys)
        good = []
        for line, p in pending:
            key = p.weapon["uniqueness_key"]
            if key in clashes:
                # Registered by this very import: an earlier row of the file (in a batch already written).
                twice = clashes[key] == job.id
                reason = (
                    f"the file registers {p.weapon['make']} serial {p.weapon['serial']} twice"
                    if twice
                    else f"already registered: {p.weapon['make']} serial {p.weapon['serial']} (ITI 8(a): marks are "
                    "unique)"
                )
                result.rejects.append(Reject(line, "serial", reason))
            else:
                good.append(p)
        pending.clear()
        if writing:
            # Rows now in the database are found there by later batches: only unwritten rows need a fingerprint,
            # so memory stays flat while an import is clean.
            seen.clear()
        if result.rejects and not skip_invalid:
            writing = False
        if writing:
            _write(session, good, actor=actor, job_id=job.id, custody=custody)
            result.imported += len(good)
        if progress:
            progress(reader.position, reader.size)

    for line, record in readable(reader):
        result.rows += 1
        try:
            if isinstance(record, RegistryError):
                raise record
            p = _prepare(
                record,
                catalogue=catalogue,
                profile=profile,
                home_country=home_country,
                actor=actor,
                job_id=job.id,
                orgs=orgs,
                custody_org=custody.id if custody else None,
            )
        except RegistryError as exc:
            result.rejects.append(Reject(line, exc.field, exc.message))
            if not skip_invalid:
                writing = False
            continue
        key = p.weapon["uniqueness_key"]
        if key is not None:
            fp = _fingerprint(key)
            if fp in seen:
                result.rejects.append(
                    Reject(
                        line,
                        "serial",
                        f"the file registers {p.weapon['make']} serial {p.weapon['serial']} twice",
                    )
                )
                if not skip_invalid:
                    writing = False
                continue
            seen.add(fp)
        result.warnings += len(p.warnings)
        pending.append((line, p))
        if len(pending) >= batch_size:
            flush_batch()
    flush_batch()
    if progress:
        progress(reader.size, reader.size)
    # Clashes with the registry are found a batch later than the other rejects: report in file order.
    result.rejects.sort(key=lambda r: r.line)
    if result.rejects and not skip_invalid:
        raise ImportRejected(
            f"{len(result.rejects)} of {result.rows} records are invalid; nothing was imported",
            rejects=[r.as_dict() for r in result.rejects],
        )
    job.rows_total, job.rows_imported, job.rows_rejected = result.rows, result.imported, len(result.rejects)
    job.finished_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import.finished",
        subject=f"import_job:{job.id}",
        records=[audit.snapshot_obj(job)],
        info={
            "source_sha256": job.source_sha256,
            "rows": result.rows,
            "imported": result.imported,
            "rejected": len(result.rejects),
            "custody_of": str(custody.id) if custody else None,
        },
    )
    return result


def readable(reader: Reader) -> Iterator[tuple[int, dict[str, Any] | ValidationError]]:
    """The reader's records; a file that is not UTF-8 text or not CSV is refused by name (the API queue
    surveys files first, `jobs.survey_file`; the CLI imports straight away and must not show a traceback)."""
    try:
        yield from reader
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"the file is not UTF-8 text (byte {exc.start} of a block cannot be decoded)", field="file"
        ) from None
    except csv.Error as exc:
        raise ValidationError(f"the file is not readable CSV: {exc}", field="file") from None


def _prepare(
    record: dict[str, Any],
    *,
    catalogue: Catalogue,
    profile: Profile,
    home_country: str | None,
    actor: str,
    job_id: uuid.UUID,
    orgs: dict[str, uuid.UUID],
    custody_org: uuid.UUID | None,
) -> weapons.PreparedWeapon:
    try:
        weapon, markings, event = record_to_inputs(
            record, orgs=orgs, custody_org=custody_org, catalogue=catalogue
        )
    except TypeError as exc:  # unexpected keys in a nested JSON object
        raise ValidationError(str(exc), field="row") from None
    try:
        return weapons.prepare(
            actor=actor,
            weapon=weapon,
            markings=markings,
            event=event,
            catalogue=catalogue,
            profile=profile,
            home_country=home_country,
            import_job_id=job_id,
        )
    except RegistryError as exc:
        if not isinstance(record.get("markings"), list):
            exc.field = flat_column(exc.field, record, markings)
        raise


# A flat record's marks are built from its columns: a reject names the column the officer can fix, not the
# mark built from it ("serial", not "markings[0].serial").
_MARK_COLUMNS: dict[str, dict[str, str]] = {
    MarkingKind.MANUFACTURE: {
        "serial": "serial",
        "manufacturer": "make",
        "text": "mark_text",
        "component": "mark_component",
        "method": "mark_method",
        "condition": "mark_condition",
    },
    MarkingKind.IMPORT: {
        "country": "import_country",
        "year": "import_year",
        "text": "import_mark_text",
        "component": "mark_component",
        "method": "mark_method",
    },
}
_MARK_FIELD = re.compile(r"markings\[(\d+)\]\.(\w+)")


def flat_column(fld: str | None, row: dict[str, Any], markings: list[MarkingInput]) -> str | None:
    """The column of a flat (CSV) record that an error about the marks built from it is really about."""
    if fld == "markings":  # no unique mark, or no import mark
        if _text(row, "event_type") == EventType.IMPORTED and not _text(row, "import_country"):
            return "import_country"
        return fld if _text(row, "serial") else "serial"
    match = _MARK_FIELD.fullmatch(fld or "")
    if match is None or int(match[1]) >= len(markings):
        return fld
    kind, attr = markings[int(match[1])].kind, match[2]
    if kind == MarkingKind.MANUFACTURE and attr == "country":
        return (
            "mark_country"
            if _text(row, "mark_country") and not _text(row, "country_of_manufacture")
            else "country_of_manufacture"
        )
    if kind == MarkingKind.MANUFACTURE and attr == "year":
        return "mark_year" if _text(row, "mark_year") else "year_of_manufacture"
    return _MARK_COLUMNS.get(kind, {}).get(attr, fld)


def _write(
    session: Session,
    batch: list[weapons.PreparedWeapon],
    *,
    actor: str,
    job_id: uuid.UUID,
    custody: Organisation | None,
) -> None:
    if not batch:
        return
    info: dict[str, Any] = {"import_job": str(job_id)}
    if custody is not None:
        info["custody_of"] = str(custody.id)
    action = "weapon.custody_imported" if custody is not None else "weapon.imported"
    entries = [p.audit_entry(actor, action=action, info=info) for p in batch]
    if copy_writer.enabled(session):  # PostgreSQL: the same rows by COPY (registry/imports/copy_writer.py)
        copy_writer.write_batch(session, batch, entries)
        return
    weapons.write_prepared(session, batch)
    audit.record_many(session, entries)


def write_rejects(path: Path, rejects: list[Reject] | list[dict[str, Any]]) -> None:
    """Rejects as JSON Lines: line, field, reason — one per bad record."""
    with path.open("wb") as fh:
        for r in rejects:
            fh.write(orjson.dumps(r.as_dict() if isinstance(r, Reject) else r) + b"\n")
