"""index weapons on (manufacturer_code, id) and (upper(make), id): a search by make reads that make's weapons

`registry.weapons.repository.search(make=)` matches the manufacturer code or the make as written. It now asks
each index for its first page in id order and merges the two. Without them PostgreSQL walked the primary key
and filtered every row: for a rarely written make it read most of the table (336 ms among 200,000 weapons;
docs/performance.md, "Query plans at scale", finding 2). `id` second so each make's rows come in page order.
The spelling's index is partial: it leaves out the weapons whose make as written is their code ("Glock" is
GLOCK), which the code's index finds, so a common make is not read twice (71,598 of 200,000 weapons in it).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_weapons_manufacturer_code", "weapons", ["manufacturer_code", "id"], unique=False)
    # Only the weapons whose make as written is not their code: the code's index finds the others.
    spelled_otherwise = sa.text("manufacturer_code IS NULL OR upper(make) <> manufacturer_code")
    op.create_index(
        "ix_weapons_upper_make",
        "weapons",
        [sa.text("upper(make)"), "id"],
        unique=False,
        postgresql_where=spelled_otherwise,
        sqlite_where=spelled_otherwise,
    )


def downgrade() -> None:
    op.drop_index("ix_weapons_upper_make", table_name="weapons")
    op.drop_index("ix_weapons_manufacturer_code", table_name="weapons")
