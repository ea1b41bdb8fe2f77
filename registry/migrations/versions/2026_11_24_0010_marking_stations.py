"""marking stations: stocktake records, serial reservations, offline checkouts and synchronised events (issue 5)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import registry.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, registry.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "serial_counters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serial_counters")),
        sa.UniqueConstraint("scope", name=op.f("uq_serial_counters_scope")),
    )
    op.create_table(
        "serial_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("station", sa.String(length=120), nullable=True),
        sa.Column("reserved_by", sa.String(length=120), nullable=False),
        _ts("reserved_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serial_reservations")),
        sa.UniqueConstraint("scope", "seq", name=op.f("uq_serial_reservations_scope_seq")),
        sa.UniqueConstraint("serial", name=op.f("uq_serial_reservations_serial")),
    )
    op.create_table(
        "station_checkouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("station", sa.String(length=120), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        _ts("created_at"),
        sa.Column("weapons", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_checkouts")),
    )
    with op.batch_alter_table("station_checkouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_station_checkouts_station"), ["station"], unique=False)
    op.create_table(
        "stocktakes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("counted_by", sa.String(length=120), nullable=False),
        _ts("counted_at"),
        sa.Column("station", sa.String(length=120), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("elsewhere", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.CheckConstraint("method IN ('scan', 'rfid', 'mixed')", name=op.f("ck_stocktakes_method")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stocktakes")),
    )
    with op.batch_alter_table("stocktakes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stocktakes_location"), ["location"], unique=False)
    op.create_table(
        "station_sync_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("offline_event_id", sa.Uuid(), nullable=False),
        sa.Column("checkout_id", sa.Uuid(), nullable=False),
        sa.Column("station", sa.String(length=120), nullable=False),
        sa.Column("weapon_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        _ts("offline_at"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("central_event_id", sa.Uuid(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_by", sa.String(length=120), nullable=False),
        _ts("received_at"),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        _ts("decided_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('applied', 'conflict', 'rejected')", name=op.f("ck_station_sync_events_status")
        ),
        sa.ForeignKeyConstraint(
            ["checkout_id"],
            ["station_checkouts.id"],
            name=op.f("fk_station_sync_events_checkout_id_station_checkouts"),
        ),
        sa.ForeignKeyConstraint(
            ["weapon_id"], ["weapons.id"], name=op.f("fk_station_sync_events_weapon_id_weapons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_sync_events")),
        sa.UniqueConstraint("offline_event_id", name=op.f("uq_station_sync_events_offline_event_id")),
    )
    with op.batch_alter_table("station_sync_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_station_sync_events_checkout_id"), ["checkout_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_sync_events_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_sync_events_weapon_id"), ["weapon_id"], unique=False)


def downgrade() -> None:
    op.drop_table("station_sync_events")
    op.drop_table("stocktakes")
    op.drop_table("station_checkouts")
    op.drop_table("serial_reservations")
    op.drop_table("serial_counters")
