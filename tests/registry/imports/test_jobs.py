"""Import jobs (issue 3): queued → validating → importing → done | failed, all or nothing, live progress, a
rejects report naming row, field, value and message, and crash recovery.

The runner runs its phases in the test thread here (`run_pending`), each phase's transaction a SAVEPOINT on
the test's connection; tests/api/test_imports.py runs the real background thread on committed databases.
"""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.audit.checker import verify
from registry.audit.models import AuditEntry
from registry.config import get_settings
from registry.db import new_id, utcnow
from registry.errors import NotFound, ValidationError
from registry.imports import jobs
from registry.imports.jobs import Live, UnsupportedFileType
from registry.imports.jobs_models import ImportJobRun, JobStatus
from registry.imports.jobs_runner import ImportRunner
from registry.organisations import service as organisations
from registry.profiles import ITI
from registry.weapons.models import Weapon
from tests.factories import ACTOR, unique_serial
from tests.registry.imports.test_import import row, write_csv


@pytest.fixture
def sessions(session: Session) -> sessionmaker[Session]:
    conn = session.bind
    assert isinstance(conn, Connection)
    return sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def runner(sessions: sessionmaker[Session]) -> ImportRunner:
    return ImportRunner(sessions, settings=get_settings(), profile=ITI, batch_size=5)


def upload(tmp_path: Path, rows: list[dict[str, str] | str]) -> Path:
    folder = tmp_path / str(uuid.uuid4())
    folder.mkdir()
    return write_csv(folder / "upload", rows)


def queue(session: Session, path: Path, *, filename: str = "armoury.csv", **kw: str) -> uuid.UUID:
    run = jobs.start_job(session, upload_path=path, filename=filename, fmt=None, actor=ACTOR, **kw)
    return run.id


def serial_count(session: Session, serials: list[str]) -> int:
    stmt = select(func.count()).select_from(Weapon).where(Weapon.serial.in_(serials))
    return session.execute(stmt).scalar_one()


def test_a_good_file_imports_every_row_and_the_job_reports_done(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    serials = [unique_serial() for _ in range(12)]
    path = upload(tmp_path, [row(s) for s in serials])
    job_id = queue(session, path)
    assert jobs.job_status(session, job_id).status == JobStatus.QUEUED

    assert runner.run_pending() == 1

    job = jobs.job_status(session, job_id, board=runner.board)
    assert (job.status, job.rows_total, job.rows_processed, job.rows_imported, job.rows_rejected) == (
        "done",
        12,
        12,
        12,
        0,
    )
    assert job.created_by == ACTOR
    assert job.started_at
    assert job.finished_at
    assert job.error is None
    assert serial_count(session, serials) == 12
    imported = session.execute(select(Weapon.import_job_id).where(Weapon.serial.in_(serials))).scalars()
    assert set(imported) == {job.import_job_id}
    assert not path.exists(), "the upload of a done job is removed: its records are in the registry"
    with pytest.raises(NotFound):
        jobs.rejects_csv(session, job_id)


def test_a_file_with_bad_rows_commits_nothing_and_the_rejects_list_every_bad_row(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    good = [unique_serial() for _ in range(8)]
    dup = unique_serial()
    rows: list[dict[str, str] | str] = [row(s) for s in good]
    rows.insert(2, row(unique_serial(), year_of_manufacture="twenty"))  # line 4
    rows.insert(5, row(unique_serial(), category=""))  # line 7
    rows += [row(dup), row(dup)]  # lines 12 and 13: the second registers the same serial again
    job_id = queue(session, upload(tmp_path, rows))

    runner.run_pending()

    job = jobs.job_status(session, job_id)
    assert (job.status, job.rows_total, job.rows_imported, job.rows_rejected) == ("failed", 12, 0, 3)
    assert "nothing was imported" in (job.error or "")
    assert serial_count(session, [*good, dup]) == 0, "all or nothing: not even the good rows"
    report = list(csv.reader(io.StringIO(jobs.rejects_csv(session, job_id))))
    assert report[0] == ["row", "field", "value", "message"]
    by_row = {int(r[0]): r for r in report[1:]}
    assert sorted(by_row) == [4, 7, 13]
    assert by_row[4][1:3] == ["year_of_manufacture", "twenty"]
    assert "whole number" in by_row[4][3]
    assert by_row[7][1] == "category"
    assert "required" in by_row[7][3]
    assert by_row[13][1:3] == ["serial", dup]
    assert "twice" in by_row[13][3]
    refused = session.execute(
        select(AuditEntry.action).where(AuditEntry.subject == f"import_job_run:{job_id}")
    ).scalars()
    assert list(refused) == ["import.refused"]


def test_progress_is_visible_while_the_import_runs(
    session: Session, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seen: list[jobs.JobView] = []

    def watch(job_id: uuid.UUID, _live: Live) -> None:
        seen.append(jobs.job_status(session, job_id, board=runner.board))

    runner = ImportRunner(sessions, settings=get_settings(), profile=ITI, batch_size=10, on_progress=watch)
    job_id = queue(session, upload(tmp_path, [row(unique_serial()) for _ in range(60)]))
    runner.run_pending()

    assert len(seen) >= 5
    assert {j.status for j in seen[:-1]} == {"importing"}
    assert all(j.rows_total == 60 for j in seen)
    processed = [j.rows_processed for j in seen]
    assert processed == sorted(processed), processed
    assert 0 < processed[0] < 60, processed
    assert jobs.job_status(session, job_id).status == "done"


def test_a_stopping_runner_rolls_the_import_back_and_fails_the_job(
    session: Session, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    runner = ImportRunner(
        sessions, settings=get_settings(), profile=ITI, batch_size=5, on_progress=lambda *_: runner.stop(0)
    )
    serials = [unique_serial() for _ in range(20)]
    job_id = queue(session, upload(tmp_path, [row(s) for s in serials]))
    runner.run_claimed(runner._claimed(jobs.claim_next(session, runner=runner.runner_id)))  # type: ignore[arg-type]

    job = jobs.job_status(session, job_id)
    assert job.status == "failed"
    assert job.error == jobs.INTERRUPTED
    assert serial_count(session, serials) == 0


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def stale_job(session: Session, tmp_path: Path, runner_id: str, status: str = "importing") -> uuid.UUID:
    job_id = queue(session, upload(tmp_path, [row(unique_serial())]))
    run = session.get(ImportJobRun, job_id)
    assert run is not None
    run.status, run.runner, run.started_at = status, runner_id, utcnow()
    session.flush()
    return job_id


def test_start_marks_jobs_left_running_by_a_dead_process_failed(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    host = socket.gethostname()
    crashed = stale_job(session, tmp_path, f"{host}:{dead_pid()}")
    crashed_validating = stale_job(session, tmp_path, f"{host}:{dead_pid()}", status="validating")
    alive_elsewhere = stale_job(session, tmp_path, "another-host:1")
    alive_here = stale_job(session, tmp_path, f"{host}:1")  # pid 1 always runs

    assert set(runner.start()) == {crashed, crashed_validating}

    for job_id in (crashed, crashed_validating):
        job = jobs.job_status(session, job_id)
        assert job.status == "failed"
        assert job.finished_at is not None
        assert "interrupted" in (job.error or "")
        assert job.rows_imported == 0
    assert jobs.job_status(session, alive_elsewhere).status == "importing"
    assert jobs.job_status(session, alive_here).status == "importing"
    runner.stop(5)


def test_a_job_is_claimed_once(session: Session, tmp_path: Path) -> None:
    job_id = queue(session, upload(tmp_path, [row(unique_serial())]))
    first = jobs.claim_next(session, runner="a:1")
    assert first is not None
    assert first.id == job_id
    assert first.status == "validating"
    assert jobs.claim_next(session, runner="b:2") is None


@pytest.mark.parametrize(
    ("filename", "content_type", "fmt"),
    [
        ("records.csv", None, "csv"),
        ("records.JSONL", None, "jsonl"),
        ("records.ndjson", None, "jsonl"),
        ("records", "text/csv; charset=utf-8", "csv"),
        ("blob", "application/x-ndjson", "jsonl"),
    ],
)
def test_format_from_the_name_or_content_type(filename: str, content_type: str | None, fmt: str) -> None:
    assert jobs.infer_format(filename, content_type, None) == fmt


def test_wrong_types_are_refused_before_queueing(session: Session, tmp_path: Path) -> None:
    path = upload(tmp_path, [row(unique_serial())])
    with pytest.raises(UnsupportedFileType) as caught:
        queue(session, path, filename="records.xlsx")
    assert caught.value.field == "file"
    with pytest.raises(ValidationError) as bad_format:
        jobs.start_job(session, upload_path=path, filename="r.csv", fmt="xml", actor=ACTOR)
    assert bad_format.value.field == "format"
    path.write_bytes(b"PK\x03\x04\x00\x00binary spreadsheet")
    with pytest.raises(UnsupportedFileType, match="binary"):
        queue(session, path)
    path.write_bytes(b"category,make\n\xff\xfe\xfa,x\n")
    with pytest.raises(UnsupportedFileType, match="UTF-8"):
        queue(session, path)
    assert session.execute(select(func.count()).select_from(ImportJobRun)).scalar_one() >= 0


def test_custody_of_names_an_organisation(session: Session, runner: ImportRunner, tmp_path: Path) -> None:
    org = organisations.create_organisation(
        session,
        actor=ACTOR,
        name=f"Closed Arms {uuid.uuid4().hex[:6]}",
        kind="dealer",
        country="KE",
        registration_number=f"REG-{uuid.uuid4().hex[:8]}",
    )
    serial = unique_serial()
    job_id = queue(session, upload(tmp_path, [row(serial)]), custody_of=org.registration_number or "")
    runner.run_pending()
    job = jobs.job_status(session, job_id)
    assert job.status == "done"
    assert job.custody_of_org_id == org.id
    with pytest.raises(NotFound) as unknown:
        queue(session, upload(tmp_path, [row(unique_serial())]), custody_of="NO-SUCH-ORG")
    assert unknown.value.field == "custody_of"


def test_an_empty_or_unreadable_file_fails_with_a_reason(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    empty = queue(session, upload(tmp_path, []))
    runner.run_pending()
    assert jobs.job_status(session, empty).error == "the file holds no records"


def test_rejects_report_cannot_run_formulas(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    path.write_text('{"line": 2, "field": "make", "value": "=HYPERLINK(1)", "reason": "unknown make"}\n')
    report = list(csv.reader(io.StringIO("".join(jobs.iter_rejects_csv(path)))))
    assert report[1] == ["2", "make", "'=HYPERLINK(1)", "unknown make"]


def test_old_uploads_are_purged_but_the_job_rows_stay(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    rows: list[dict[str, str] | str] = [row(unique_serial(), category="")]
    job_id = queue(session, upload(tmp_path, rows))
    runner.run_pending()
    run = session.get(ImportJobRun, job_id)
    assert run is not None
    assert jobs.rejects_path(run).exists()
    assert jobs.purge_old_uploads(session, keep=timedelta(days=1)) == 0
    assert jobs.purge_old_uploads(session, keep=timedelta(days=1), now=utcnow() + timedelta(days=2)) >= 1
    assert not Path(run.upload_path).parent.exists()
    with pytest.raises(NotFound, match="removed"):
        jobs.rejects_csv(session, job_id)
    assert jobs.job_status(session, job_id).status == "failed"


def test_unknown_job_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        jobs.job_status(session, new_id())


def test_live_progress_never_hides_a_finished_row(session: Session, tmp_path: Path) -> None:
    board = jobs.ProgressBoard()
    job_id = queue(session, upload(tmp_path, [row(unique_serial())]))
    board.set(job_id, Live(JobStatus.IMPORTING, rows_total=1, rows_processed=0))
    assert jobs.job_status(session, job_id, board=board).status == "importing"
    run = session.get(ImportJobRun, job_id)
    assert run is not None
    run.status = "done"
    session.flush()
    assert jobs.job_status(session, job_id, board=board).status == "done"
    assert replace(Live(JobStatus.QUEUED), rows_processed=3).rows_processed == 3


def test_the_audit_log_verifies_after_done_and_refused_jobs(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    queue(session, upload(tmp_path, [row(unique_serial()) for _ in range(3)]))
    queue(session, upload(tmp_path, [row(unique_serial(), category="")]))
    assert runner.run_pending() == 2
    assert verify(session).ok


def test_a_job_whose_upload_vanished_fails_with_a_reason(
    session: Session, runner: ImportRunner, tmp_path: Path
) -> None:
    path = upload(tmp_path, [row(unique_serial())])
    job_id = queue(session, path)
    path.unlink()
    runner.run_pending()
    job = jobs.job_status(session, job_id)
    assert job.status == "failed"
    assert "No such file" in (job.error or "")
