"""The background runner of import jobs: one thread per process, one job at a time, each phase in its own
transaction (see `registry.imports.jobs` for the phases and why progress lives in process while a job runs).

Jobs are claimed from the database (`claim_next`: one UPDATE … WHERE status = 'queued'), so several server
processes may each run a runner without ever running a job twice; `submit` only wakes the thread, and the
thread also looks for queued jobs every `poll_seconds` in case the process that accepted an upload died
before running it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.config import Settings
from registry.db import WRITES
from registry.errors import ImportRejected, RegistryError
from registry.imports import jobs
from registry.imports.jobs import Live, ProgressBoard, Survey
from registry.imports.jobs_models import ImportJobRun, JobStatus
from registry.imports.service import BATCH, import_file
from registry.profiles import Profile

log = logging.getLogger("registry.imports.jobs")

ProgressHook = Callable[[uuid.UUID, Live], None]


class JobInterrupted(Exception):
    """The runner is stopping: the import in progress is rolled back."""


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    path: Path
    fmt: str
    actor: str
    custody_of: uuid.UUID | None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class ImportRunner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        settings: Settings,
        profile: Profile,
        batch_size: int = BATCH,
        poll_seconds: float = 30.0,
        on_progress: ProgressHook | None = None,
        inline: bool = False,
    ) -> None:
        self.sessions = sessions
        # Inline: `submit` runs the queued jobs in the caller's thread instead of the background thread —
        # for a session factory bound to one connection (the tests' transaction), which two threads cannot
        # share.
        self.inline = inline
        self.settings = settings
        self.profile = profile
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.on_progress = on_progress
        self.board = ProgressBoard()
        self.host = socket.gethostname()
        self.runner_id = f"{self.host}:{os.getpid()}"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> list[uuid.UUID]:
        """At server start: fail the jobs a dead process left running, delete expired uploads, and run any
        queued job. Returns the ids of the jobs marked failed."""
        with self.sessions(execution_options=WRITES) as s, s.begin():
            stale = jobs.recover_stale_jobs(s, host=self.host, is_alive=self._alive)
            jobs.purge_old_uploads(s, keep=timedelta(days=self.settings.import_keep_days))
            queued = jobs.has_queued(s)
        for job_id in stale:
            log.warning("import.job.recovered_as_failed job=%s", job_id)
        if queued:
            self.submit()
        return stale

    def _alive(self, pid: int) -> bool:
        # Our own pid at start-up is a previous process's (pids are reused): its job is not ours.
        return pid != os.getpid() and pid_alive(pid)

    def submit(self, job_id: uuid.UUID | None = None) -> None:
        """Wake the runner after a job was queued (and committed). The thread starts on first use."""
        if self.inline:
            try:
                self.run_pending()
            except Exception:
                log.exception("import.runner.error")
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._loop, name="iti-import-runner", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current batch: a running import is rolled back and its job marked failed."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_pending()
            except Exception:  # the thread must survive a database hiccup; the job stays queued
                log.exception("import.runner.error")
                time.sleep(1.0)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    # --- running jobs -----------------------------------------------------------------------------------

    def run_pending(self) -> int:
        """Run queued jobs until none is left (or the runner stops); returns how many ran."""
        ran = 0
        while not self._stopping.is_set():
            with self.sessions(execution_options=WRITES) as s, s.begin():
                run = jobs.claim_next(s, runner=self.runner_id)
                claimed = self._claimed(run) if run is not None else None
            if claimed is None:
                return ran
            self.run_claimed(claimed)
            ran += 1
        return ran

    @staticmethod
    def _claimed(run: ImportJobRun) -> _Claimed:
        return _Claimed(run.id, Path(run.upload_path), run.format, run.created_by, run.custody_of_org_id)

    def run_claimed(self, job: _Claimed) -> None:
        self.board.set(job.id, Live(JobStatus.VALIDATING))
        log.info("import.job.started job=%s format=%s", job.id, job.fmt)
        try:
            self._phases(job)
        except Exception as exc:  # a phase boundary's own write failed: never leave the job claimed forever
            log.exception("import.job.error job=%s", job.id)
            self._fail(job, f"the import failed on the server ({type(exc).__name__}); nothing was imported")
        finally:
            self.board.drop(job.id)

    def _phases(self, job: _Claimed) -> None:
        try:
            survey = jobs.survey_file(job.path, job.fmt)
        except (RegistryError, OSError) as exc:
            self._fail(job, str(getattr(exc, "message", exc)))
            return
        if survey.rows == 0:
            self._fail(job, "the file holds no records", rows_total=0)
            return
        with self.sessions(execution_options=WRITES) as s, s.begin():
            jobs.mark_importing(s, self._row(s, job), rows_total=survey.rows)
        self.board.update(job.id, status=JobStatus.IMPORTING, rows_total=survey.rows)
        try:
            self._import(job, survey)
        except ImportRejected as exc:
            rejects = jobs.with_values(exc.rejects, job.path, job.fmt)
            with self.sessions() as s:
                jobs.save_rejects(self._row(s, job), rejects)
            self._fail(job, exc.message, rows_total=survey.rows, rows_rejected=len(rejects), audited=True)
            log.info("import.job.refused job=%s rejected=%d", job.id, len(rejects))
            return
        except JobInterrupted:
            self._fail(job, jobs.INTERRUPTED)
            return
        except RegistryError as exc:  # e.g. the custody organisation or the audit key
            self._fail(job, exc.message)
            return
        except Exception as exc:
            log.exception("import.job.error job=%s", job.id)
            self._fail(job, f"the import failed on the server ({type(exc).__name__}); nothing was imported")
            return
        with self.sessions() as s:
            jobs.remove_upload(self._row(s, job), keep_rejects=False)
        log.info("import.job.done job=%s rows=%d", job.id, survey.rows)

    def _import(self, job: _Claimed, survey: Survey) -> None:
        """The whole file in one transaction; the job is marked done in that same transaction."""

        batches = 0

        def progress(done: int, _total: int) -> None:
            # Called after each batch of `batch_size` good records. The byte position alone is too coarse
            # (files are read in 8 KiB blocks) and the batch count alone ignores rejected rows: the smaller
            # of the two is a lower bound that only grows. The row says the exact count once the job ends.
            nonlocal batches
            if self._stopping.is_set():
                raise JobInterrupted
            batches += 1
            rows = min(batches * self.batch_size, survey.rows_at(done), survey.rows)
            live = self.board.update(job.id, rows_processed=rows)
            if self.on_progress is not None and live is not None:
                self.on_progress(job.id, live)

        # Begins with reads (duplicates against the registry) and then writes: take SQLite's write lock first
        # (registry.db.WRITES), or any officer's commit in between would fail the whole import.
        with self.sessions(execution_options=WRITES) as s, s.begin():
            result = import_file(
                s,
                actor=job.actor,
                path=job.path,
                profile=self.profile,
                fmt=job.fmt,
                home_country=self.settings.node_country,
                custody_of=str(job.custody_of) if job.custody_of else None,
                progress=progress,
                batch_size=self.batch_size,
            )
            audit.sign_head(s, load_or_create_signing_key(self.settings), actor=job.actor)
            jobs.mark_done(s, self._row(s, job), result)

    def _fail(
        self,
        job: _Claimed,
        error: str,
        *,
        rows_total: int | None = None,
        rows_rejected: int = 0,
        audited: bool = False,
    ) -> None:
        # Retried: on SQLite another writer (an `iti import` in a shell) may hold the lock for a while. If it
        # never frees, the job stays active and the next start marks it failed.
        for attempt in range(5):
            try:
                with self.sessions(execution_options=WRITES) as s, s.begin():
                    jobs.mark_failed(
                        s,
                        self._row(s, job),
                        error=error,
                        rows_total=rows_total,
                        rows_rejected=rows_rejected,
                        audit_refusal=audited,
                    )
                return
            except OperationalError:
                log.warning("import.job.fail_retry job=%s attempt=%d", job.id, attempt + 1)
                time.sleep(2.0 * (attempt + 1))
        log.error("import.job.fail_unrecorded job=%s", job.id)

    @staticmethod
    def _row(session: Session, job: _Claimed) -> ImportJobRun:
        run = session.get(ImportJobRun, job.id)
        assert run is not None, f"import job {job.id} vanished"
        return run
