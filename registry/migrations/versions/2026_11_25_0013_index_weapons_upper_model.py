"""index weapons on upper(model), id: a search by model reads that model's weapons instead of every weapon

`registry.weapons.repository.search` filters `upper(model) = ?`. Without an index on the expression
PostgreSQL scanned the whole table (or the primary key in id order, estimating 0.5 % of rows match): 95 ms a
search among 200,000 weapons, 13 ms with it (docs/performance.md, "Query plans at scale"). `id` second so a
model's weapons come in the page order the search sorts by.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_weapons_upper_model", "weapons", [sa.text("upper(model)"), "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_weapons_upper_model", table_name="weapons")
