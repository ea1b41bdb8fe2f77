"""import jobs over HTTP: status, progress and rejects report (issue 3)

Reserved revision: filled in by the work that needs it; until then it changes nothing, so the chain
0001 → head stays linear while that work is under way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 23:00:00
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
