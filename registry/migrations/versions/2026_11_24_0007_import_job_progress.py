"""import jobs over HTTP: status, progress and rejects report (issue 3)

`import_job_runs` holds the state of an import started over HTTP (queued → validating → importing → done |
failed) with its counters. It is operational state, not an audited table (see
registry/imports/jobs_models.py): the import it runs is audited as every import is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import registry.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_job_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_name", sa.String(length=500), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("upload_path", sa.String(length=1000), nullable=False),
        sa.Column("custody_of_org_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runner", sa.String(length=200), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_processed", sa.Integer(), nullable=False),
        sa.Column("rows_imported", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("import_job_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.CheckConstraint("format IN ('csv', 'jsonl')", name=op.f("ck_import_job_runs_format_known")),
        sa.CheckConstraint(
            "status IN ('queued', 'validating', 'importing', 'done', 'failed')",
            name=op.f("ck_import_job_runs_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["custody_of_org_id"],
            ["organisations.id"],
            name=op.f("fk_import_job_runs_custody_of_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["import_job_id"], ["import_jobs.id"], name=op.f("fk_import_job_runs_import_job_id_import_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job_runs")),
    )
    with op.batch_alter_table("import_job_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_job_runs_created_by_created_at", ["created_by", "created_at"], unique=False
        )
        batch_op.create_index("ix_import_job_runs_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("import_job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_job_runs_status")
        batch_op.drop_index("ix_import_job_runs_created_by_created_at")
    op.drop_table("import_job_runs")
