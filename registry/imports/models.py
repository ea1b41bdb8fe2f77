"""Import jobs: where a batch of records came from (file hash, who, when; custody of a closed company)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[UUIDPk]
    source_name: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    # Set when the file is the records of a company that went out of business (REQ-21).
    custody_of_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    started_at: Mapped[Timestamp]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(120))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
