"""index the foreign keys a retention purge checks; drop events' index on weapon_id alone

A retention purge (`registry.retention`) deletes a weapon's events and markings. For every deleted row the
database checks the rows that reference it: `events.corrects_event_id` and `weapon_states.
pending_transfer_event_id` and `component_moves.event_id` (→ events), `events.marking_id` (→ markings).
None was indexed, so each check read the whole referencing table: one purged weapon with five events meant
about ten scans of `events`. Few rows hold these references, so the indexes on the nullable ones are
partial and stay small. `ix_events_weapon_id` goes: the unique (weapon_id, seq) index has the same leading
column and answers every look-up by weapon (docs/performance.md, "Size with realistic histories").

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = (
    ("ix_events_corrects_event_id", "events", "corrects_event_id"),
    ("ix_events_marking_id", "events", "marking_id"),
    ("ix_weapon_states_pending_transfer_event_id", "weapon_states", "pending_transfer_event_id"),
)


def upgrade() -> None:
    # IF NOT EXISTS: a large registry may build them beforehand with CREATE INDEX CONCURRENTLY, so that
    # writers do not wait for the build (docs/operations.md, "Retention").
    for name, table, column in PARTIAL:
        present = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name,
            table,
            [column],
            unique=False,
            if_not_exists=True,
            postgresql_where=present,
            sqlite_where=present,
        )
    op.create_index(
        "ix_component_moves_event_id", "component_moves", ["event_id"], unique=False, if_not_exists=True
    )
    op.drop_index("ix_events_weapon_id", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_weapon_id", "events", ["weapon_id"], unique=False)
    op.drop_index("ix_component_moves_event_id", table_name="component_moves")
    for name, table, _column in reversed(PARTIAL):
        op.drop_index(name, table_name=table)
