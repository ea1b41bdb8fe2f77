"""The state of an import job started over HTTP: queued → validating → importing → done | failed.

Operational state, like `idempotency_keys` and `auth_tokens`, and therefore not an audited table: its status
and counters change while the job runs, and an audit entry per change would need the audit log's lock, which
a running import holds for its whole transaction — every upload would wait behind the import in progress.
What the registry audits is the import itself: the `import_jobs` provenance row, every weapon written and the
`import.finished` entry, all in the one import transaction (`registry.imports.service.import_file`), and
the `import.refused` entry of a job that failed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class JobStatus(StrEnum):
    QUEUED = "queued"
    VALIDATING = "validating"
    IMPORTING = "importing"
    DONE = "done"
    FAILED = "failed"


ACTIVE = (JobStatus.VALIDATING, JobStatus.IMPORTING)
FINISHED = (JobStatus.DONE, JobStatus.FAILED)


class ImportJobRun(Base):
    __tablename__ = "import_job_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'validating', 'importing', 'done', 'failed')", name="status_known"
        ),
        CheckConstraint("format IN ('csv', 'jsonl')", name="format_known"),
        Index("ix_import_job_runs_created_by_created_at", "created_by", "created_at"),
        Index("ix_import_job_runs_status", "status"),
    )

    id: Mapped[UUIDPk]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    source_name: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Where the upload is kept (under the settings' var dir); removed once the job is done.
    upload_path: Mapped[str] = mapped_column(String(1000))
    # Set when the file is the records of a company that went out of business (REQ-21).
    custody_of_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[Timestamp]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "host:pid" of the process running the job: crash recovery fails only jobs whose process is gone.
    runner: Mapped[str | None] = mapped_column(String(200))
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    # The provenance record every imported weapon points to (weapons.import_job_id); set when done.
    import_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("import_jobs.id"))
    error: Mapped[str | None] = mapped_column(String(2000))
