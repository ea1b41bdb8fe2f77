"""Import jobs: an uploaded file imported in the background, all or nothing, with progress and a rejects report.

A job moves queued → validating → importing → done | failed. *Validating* reads the file once (is it text in
the stated format, how many records); *importing* is `registry.imports.service.import_file` — the same code
as `iti import` — which checks every record against the rules and the registry and writes in ONE transaction,
so a job with any bad row commits nothing and keeps every reject (row, field, value, message).

Progress, on SQLite and PostgreSQL alike: the import transaction holds SQLite's single write lock (and, on
both backends, the audit log's lock) until it commits, so no other connection can write progress while it
runs. Live counters are therefore kept in process (`ProgressBoard`, fed by the import's progress callback)
and overlaid on the row by `job_status`; the row is written only at phase boundaries (claimed, importing,
done/failed) in short transactions of its own — and *done* in the import transaction itself, so a job is
never shown done for data that did not commit, nor left without a status for data that did. A process that
dies mid-import leaves its job `validating`/`importing` with nothing committed; `recover_stale_jobs` marks
it failed when the server starts again.

These are plain functions over a session (they flush, never commit); `registry.imports.jobs_runner` owns
the transactions and the background thread.
"""

from __future__ import annotations

import bisect
import csv
import io
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import new_id, utcnow
from registry.errors import NotFound, ValidationError
from registry.imports import jobs_repository as repo
from registry.imports.formats import FORMATS, Reader
from registry.imports.jobs_models import ACTIVE, ImportJobRun, JobStatus
from registry.imports.service import ImportResult, resolve_organisation

SNIFF_BYTES = 64 * 1024
REJECTS_NAME = "rejects.jsonl"
REJECTS_CSV_HEADER = ("row", "field", "value", "message")

_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.ms-excel": "csv",  # what some browsers send for .csv on Windows
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/json-lines": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
}


class ImportJobNotFound(NotFound):
    code = "import_job_not_found"


class UnsupportedFileType(ValidationError):
    """The upload is not a CSV or JSON Lines text file (HTTP 415)."""

    code = "unsupported_file_type"


class UploadTooLarge(ValidationError):
    """The upload is larger than the configured limit (HTTP 413)."""

    code = "upload_too_large"


class RejectsUnavailable(NotFound):
    code = "rejects_unavailable"


# --- live progress -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """What the running process knows and the database cannot show yet."""

    status: JobStatus
    rows_total: int | None = None
    rows_processed: int = 0


class ProgressBoard:
    """In-process live progress of running jobs, shared by the runner thread and request handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[uuid.UUID, Live] = {}

    def set(self, job_id: uuid.UUID, live: Live) -> None:
        with self._lock:
            self._live[job_id] = live

    def update(self, job_id: uuid.UUID, **changes: Any) -> Live | None:
        with self._lock:
            current = self._live.get(job_id)
            if current is None:
                return None
            self._live[job_id] = replace(current, **changes)
            return self._live[job_id]

    def get(self, job_id: uuid.UUID) -> Live | None:
        with self._lock:
            return self._live.get(job_id)

    def drop(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._live.pop(job_id, None)


# --- what callers see ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobView:
    id: uuid.UUID
    status: str
    source_name: str
    format: str
    size_bytes: int
    custody_of_org_id: uuid.UUID | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows_total: int | None
    rows_processed: int
    rows_imported: int
    rows_rejected: int
    import_job_id: uuid.UUID | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def has_rejects(self) -> bool:
        return self.status == JobStatus.FAILED and self.rows_rejected > 0


def _view(run: ImportJobRun, live: Live | None) -> JobView:
    view = JobView(
        id=run.id,
        status=run.status,
        source_name=run.source_name,
        format=run.format,
        size_bytes=run.size_bytes,
        custody_of_org_id=run.custody_of_org_id,
        created_by=run.created_by,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        rows_total=run.rows_total,
        rows_processed=run.rows_processed,
        rows_imported=run.rows_imported,
        rows_rejected=run.rows_rejected,
        import_job_id=run.import_job_id,
        error=run.error,
    )
    # The row may already say done/failed while the board still has the job for a moment: the row wins.
    if live is not None and run.status in (*ACTIVE, JobStatus.QUEUED):
        view = replace(
            view,
            status=live.status.value,
            rows_total=live.rows_total if live.rows_total is not None else view.rows_total,
            rows_processed=max(live.rows_processed, view.rows_processed),
        )
    return view


def job_status(session: Session, job_id: uuid.UUID, *, board: ProgressBoard | None = None) -> JobView:
    run = repo.get(session, job_id)
    if run is None:
        raise ImportJobNotFound(f"no import job {job_id}", field="id", value=str(job_id))
    return _view(run, board.get(job_id) if board else None)


def list_jobs(
    session: Session,
    *,
    actor: str | None,
    before: uuid.UUID | None = None,
    limit: int = 20,
    board: ProgressBoard | None = None,
) -> list[JobView]:
    """`actor`'s jobs (None: everyone's), newest first, older than the cursor `before`."""
    runs = repo.recent(session, created_by=actor, before=before, limit=limit)
    return [_view(r, board.get(r.id) if board else None) for r in runs]


# --- starting a job -----------------------------------------------------------------------------------------


def infer_format(filename: str, content_type: str | None, fmt: str | None) -> str:
    """The stated format, else the file name's suffix, else the content type; 415 if none says csv/jsonl."""
    if fmt:
        if fmt not in FORMATS:
            raise ValidationError(f"format must be one of {', '.join(FORMATS)}", field="format", value=fmt)
        return fmt
    suffix = Path(filename).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    raise UnsupportedFileType(
        f"{filename or 'the upload'} ({media or 'no content type'}) is not a CSV or JSON Lines file: "
        "upload a .csv or .jsonl file, or say which with format",
        field="file",
        value=filename,
    )


def check_text(path: Path, fmt: str) -> None:
    """Refuse a binary file (a spreadsheet, a PDF, an archive) before it is queued: NUL bytes or invalid
    UTF-8 in its first 64 KiB."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    problem = "contains binary data" if b"\x00" in head else None
    if problem is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the sniff boundary is not an error.
            if exc.start < len(head) - 4:
                problem = "is not UTF-8 text"
    if problem:
        raise UnsupportedFileType(
            f"the upload {problem}: an import is a {fmt.upper()} text file in UTF-8", field="file"
        )


def start_job(
    session: Session,
    *,
    upload_path: Path,
    filename: str,
    fmt: str | None,
    actor: str,
    custody_of: str | None = None,
    content_type: str | None = None,
    job_id: uuid.UUID | None = None,
) -> ImportJobRun:
    """Queue the file at `upload_path` (already saved under the var dir) for import by `actor`. Checks what
    can be checked at once — format, text, the custody organisation — so a client learns that now, not
    later. The caller commits, then tells the runner (`ImportRunner.submit`)."""
    fmt = infer_format(filename, content_type, fmt)
    check_text(upload_path, fmt)
    custody = resolve_organisation(session, custody_of) if custody_of else None
    run = ImportJobRun(
        id=job_id or new_id(),
        status=JobStatus.QUEUED.value,
        source_name=Path(filename).name[:500] or "upload",
        format=fmt,
        size_bytes=upload_path.stat().st_size,
        upload_path=str(upload_path),
        custody_of_org_id=custody.id if custody else None,
        created_by=actor,
        created_at=utcnow(),
        rows_processed=0,
        rows_imported=0,
        rows_rejected=0,
    )
    session.add(run)
    session.flush()
    return run


# --- phases (called by the runner, each in its own transaction) ---------------------------------------------


def claim_next(session: Session, *, runner: str) -> ImportJobRun | None:
    """The oldest queued job, now `validating` and owned by `runner`; None if there is none."""
    while (job_id := repo.oldest_queued(session)) is not None:
        if repo.claim(session, job_id, runner=runner, values={"started_at": utcnow()}):
            run = repo.get(session, job_id)
            if run is not None:
                session.refresh(run)
            return run
    return None


@dataclass
class Survey:
    """One read of the file: how many records, and the byte position reached after each, so the import's
    byte-based progress callback can be turned into rows."""

    rows: int = 0
    positions: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def rows_at(self, position: int) -> int:
        i = bisect.bisect_right(self.positions, position)
        return self.counts[i - 1] if i else 0


def survey_file(path: Path, fmt: str) -> Survey:
    """Raises UnsupportedFileType if the file is not readable text in its format."""
    survey = Survey()
    reader = Reader(path, fmt)
    try:
        for _line, _record in reader:
            survey.rows += 1
            pos = reader.position
            if survey.positions and survey.positions[-1] == pos:
                survey.counts[-1] = survey.rows
            else:
                survey.positions.append(pos)
                survey.counts.append(survey.rows)
    except UnicodeDecodeError as exc:
        raise UnsupportedFileType(
            f"the file is not UTF-8 text (byte {exc.start} of a block cannot be decoded)", field="file"
        ) from None
    except csv.Error as exc:
        raise UnsupportedFileType(f"the file is not readable CSV: {exc}", field="file") from None
    return survey


def mark_importing(session: Session, run: ImportJobRun, *, rows_total: int) -> None:
    run.status = JobStatus.IMPORTING.value
    run.rows_total = rows_total
    session.flush()


def mark_done(session: Session, run: ImportJobRun, result: ImportResult) -> None:
    """Inside the import transaction: the job is done exactly when its records commit."""
    run.status = JobStatus.DONE.value
    run.rows_total = result.rows
    run.rows_processed = result.rows
    run.rows_imported = result.imported
    run.rows_rejected = len(result.rejects)
    run.import_job_id = result.job_id
    run.finished_at = utcnow()
    run.error = None
    session.flush()


def mark_failed(
    session: Session,
    run: ImportJobRun,
    *,
    error: str,
    rows_total: int | None = None,
    rows_rejected: int = 0,
    audit_refusal: bool = False,
) -> None:
    """Nothing of the file was imported. A refusal for bad rows is audited (who tried to import which file
    and how many rows were bad); an interruption changed nothing in the registry and is not."""
    run.status = JobStatus.FAILED.value
    run.finished_at = utcnow()
    run.error = error[:2000]
    run.rows_imported = 0
    run.rows_rejected = rows_rejected
    if rows_total is not None:
        run.rows_total = rows_total
        run.rows_processed = rows_total
    session.flush()
    if audit_refusal:
        audit.record(
            session,
            actor=run.created_by,
            action="import.refused",
            subject=audit.new_subject("import_job_run", run.id),
            info={
                "source_name": run.source_name,
                "rows": run.rows_total,
                "rejected": rows_rejected,
                "custody_of": str(run.custody_of_org_id) if run.custody_of_org_id else None,
            },
        )


INTERRUPTED = (
    "interrupted: the server stopped while this job ran. Nothing was imported (an import is one "
    "transaction); upload the file again"
)


def recover_stale_jobs(session: Session, *, host: str, is_alive: Callable[[int], bool]) -> list[uuid.UUID]:
    """Mark failed the jobs left validating/importing by a process of this host that no longer runs (a crash,
    a kill, a power cut). Their import transaction never committed, so nothing partial is in the registry.
    Jobs of other hosts are theirs to recover."""
    stale = []
    for run in repo.active(session):
        run_host, _, pid_text = (run.runner or "").rpartition(":")
        if run.runner is not None and (run_host != host or not pid_text.isdigit()):
            continue
        if run.runner is not None and is_alive(int(pid_text)):
            continue
        mark_failed(session, run, error=INTERRUPTED)
        stale.append(run.id)
    return stale


def has_queued(session: Session) -> bool:
    return repo.any_queued(session)


# --- rejects ------------------------------------------------------------------------------------------------


def rejects_path(run: ImportJobRun) -> Path:
    return Path(run.upload_path).parent / REJECTS_NAME


def _value_at(record: Any, fld: str | None) -> Any:
    """The value a reject names, as it stands in the file: `serial`, `event.occurred_at`, `markings[0].text`."""
    if not fld or not isinstance(record, dict):
        return None
    value: Any = record
    for part in fld.replace("[", ".").replace("]", "").split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def with_values(rejects: Iterable[dict[str, Any]], path: Path, fmt: str) -> list[dict[str, Any]]:
    """`import_file`'s rejects (line, field, reason) with the offending value read back from the file."""
    out = [dict(r) for r in rejects]
    wanted: dict[int, list[dict[str, Any]]] = {}
    for r in out:
        wanted.setdefault(r["line"], []).append(r)
    for line, record in Reader(path, fmt):
        for r in wanted.get(line, ()):
            value = _value_at(record, r.get("field"))
            r["value"] = value if value is None or isinstance(value, str) else orjson.dumps(value).decode()
    return out


def save_rejects(run: ImportJobRun, rejects: list[dict[str, Any]]) -> Path:
    path = rejects_path(run)
    with path.open("wb") as fh:
        for r in rejects:
            row = {"line": r["line"], "field": r.get("field"), "value": r.get("value"), "reason": r["reason"]}
            fh.write(orjson.dumps(row) + b"\n")
    return path


def _cell(value: Any) -> str:
    """A spreadsheet must not run a value from the uploaded file as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def iter_rejects_csv(path: Path) -> Iterator[str]:
    """The rejects report as CSV text chunks: row (the file's line; a CSV header is line 1), field, value,
    message."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(REJECTS_CSV_HEADER)
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            r = orjson.loads(line)
            writer.writerow([r["line"], r.get("field") or "row", _cell(r.get("value")), _cell(r["reason"])])
            if n % 1000 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue()


def rejects_file(session: Session, job_id: uuid.UUID) -> tuple[ImportJobRun, Path]:
    """The job and its rejects file. Only a failed job with bad rows has one."""
    run = repo.get(session, job_id)
    if run is None:
        raise ImportJobNotFound(f"no import job {job_id}", field="id", value=str(job_id))
    path = rejects_path(run)
    if run.status != JobStatus.FAILED or run.rows_rejected == 0:
        raise RejectsUnavailable(
            f"import job {job_id} is {run.status} and has no rejects report", field="id", value=str(job_id)
        )
    if not path.exists():
        raise RejectsUnavailable(
            f"the rejects report of import job {job_id} was removed (uploads are kept for a limited time)",
            field="id",
            value=str(job_id),
        )
    return run, path


def rejects_csv(session: Session, job_id: uuid.UUID) -> str:
    _run, path = rejects_file(session, job_id)
    return "".join(iter_rejects_csv(path))


# --- housekeeping -------------------------------------------------------------------------------------------


def remove_upload(run: ImportJobRun, *, keep_rejects: bool) -> None:
    folder = Path(run.upload_path).parent
    for child in folder.glob("*") if folder.is_dir() else ():
        if keep_rejects and child.name == REJECTS_NAME:
            continue
        child.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def purge_old_uploads(session: Session, *, keep: timedelta, now: datetime | None = None) -> int:
    """Delete the kept files (upload and rejects report) of jobs finished longer than `keep` ago. The job
    rows stay: they are the history of who imported what."""
    removed = 0
    for run in repo.finished_before(session, (now or utcnow()) - keep):
        if Path(run.upload_path).parent.is_dir():
            remove_upload(run, keep_rejects=False)
            removed += 1
    return removed
