"""What clients receive for import jobs. Separate from the ORM model; built from `registry.imports.jobs.JobView`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from registry.imports.jobs import JobView

Status = Literal["queued", "validating", "importing", "done", "failed"]


class ImportJobLinks(BaseModel):
    self: str
    rejects: str | None = Field(description="The rejects report (CSV), when the job failed on bad rows")


class ImportJobOut(BaseModel):
    id: uuid.UUID
    status: Status = Field(description="queued → validating → importing → done | failed")
    source_name: str = Field(description="The uploaded file's name")
    format: Literal["csv", "jsonl"]
    size_bytes: int
    custody_of: uuid.UUID | None = Field(description="The closed company whose records these are (REQ-21)")
    created_by: str = Field(description="Who uploaded the file (the actor of every record imported)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows_total: int | None = Field(description="Records in the file, known once it has been read")
    rows_processed: int = Field(description="Records checked so far (live while the job runs)")
    rows_imported: int = Field(description="Records committed: all of them when done, none when failed")
    rows_rejected: int
    import_job_id: uuid.UUID | None = Field(
        description="The provenance record (weapons.import_job_id) of the imported weapons, when done"
    )
    error: str | None = Field(description="Why the job failed")
    links: ImportJobLinks

    @classmethod
    def of(cls, job: JobView, base: str) -> ImportJobOut:
        url = f"{base}/{job.id}"
        return cls(
            id=job.id,
            status=job.status,  # type: ignore[arg-type]
            source_name=job.source_name,
            format=job.format,  # type: ignore[arg-type]
            size_bytes=job.size_bytes,
            custody_of=job.custody_of_org_id,
            created_by=job.created_by,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            rows_total=job.rows_total,
            rows_processed=job.rows_processed,
            rows_imported=job.rows_imported,
            rows_rejected=job.rows_rejected,
            import_job_id=job.import_job_id,
            error=job.error,
            links=ImportJobLinks(self=url, rejects=f"{url}/rejects" if job.has_rejects else None),
        )


class ImportJobPage(BaseModel):
    items: list[ImportJobOut]
    next: str | None = Field(description="URL of the next (older) page, or null on the last one")
