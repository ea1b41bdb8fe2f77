"""federation: node identity, peer directory, signed-message outbox and replay guard (issue 4)

Reserved revision: filled in by the work that needs it; until then it changes nothing, so the chain
0001 → head stays linear while that work is under way.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 23:00:00
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
