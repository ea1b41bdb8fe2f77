"""federation: node identity, peer directory, signed-message outbox and inbox (the replay guard) (issue 4)

`federation_inbox` is append-only like the registry's own history: the same triggers as revision 0002
refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL), so a message received from another state stays as it
was signed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import registry.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = registry.db.UTCDateTime(timezone=True)
APPEND_ONLY = "federation_inbox"
_MSG = f"append-only: {APPEND_ONLY} rows are never changed; a received message stays as it was signed"


def upgrade() -> None:
    op.create_table(
        "federation_node",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("singleton", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("poc_name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("singleton = 1", name=op.f("ck_federation_node_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_node")),
        sa.UniqueConstraint("singleton", name=op.f("uq_federation_node_singleton")),
    )
    op.create_table(
        "federation_peers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("poc_name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("added_at", UTC, nullable=False),
        sa.Column("removed_at", UTC, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("priority >= 0", name=op.f("ck_federation_peers_priority")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_peers")),
        sa.UniqueConstraint("country", "key_id", name=op.f("uq_federation_peers_country_key_id")),
    )
    op.create_index(op.f("ix_federation_peers_country"), "federation_peers", ["country"], unique=False)
    op.create_table(
        "federation_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("to_country", sa.String(length=2), nullable=False),
        sa.Column("in_reply_to", sa.Uuid(), nullable=True),
        sa.Column("confidentiality", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("delivered_to", sa.String(length=500), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f("ck_federation_outbox_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_federation_outbox_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_outbox")),
    )
    op.create_index(
        "ix_federation_outbox_due", "federation_outbox", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "federation_inbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("from_country", sa.String(length=2), nullable=False),
        sa.Column("to_country", sa.String(length=2), nullable=False),
        sa.Column("sent_at", UTC, nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("in_reply_to", sa.Uuid(), nullable=True),
        sa.Column("confidentiality", sa.String(length=16), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_inbox")),
        sa.UniqueConstraint("from_country", "nonce", name=op.f("uq_federation_inbox_from_country_nonce")),
    )
    op.create_index(op.f("ix_federation_inbox_kind"), "federation_inbox", ["kind"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # iti_append_only() is created by revision 0002.
        op.execute(
            f"CREATE TRIGGER trg_{APPEND_ONLY}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY} "
            "FOR EACH ROW EXECUTE FUNCTION iti_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER trg_{APPEND_ONLY}_no_truncate BEFORE TRUNCATE ON {APPEND_ONLY} "
            "FOR EACH STATEMENT EXECUTE FUNCTION iti_append_only()"
        )
    else:
        for event in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER trg_{APPEND_ONLY}_no_{event} BEFORE {event.upper()} ON {APPEND_ONLY} "
                f"BEGIN SELECT RAISE(ABORT, '{_MSG}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS trg_{APPEND_ONLY}_append_only ON {APPEND_ONLY}")
        op.execute(f"DROP TRIGGER IF EXISTS trg_{APPEND_ONLY}_no_truncate ON {APPEND_ONLY}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{APPEND_ONLY}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS trg_{APPEND_ONLY}_no_delete")
    op.drop_index(op.f("ix_federation_inbox_kind"), table_name="federation_inbox")
    op.drop_table("federation_inbox")
    op.drop_index("ix_federation_outbox_due", table_name="federation_outbox")
    op.drop_table("federation_outbox")
    op.drop_index(op.f("ix_federation_peers_country"), table_name="federation_peers")
    op.drop_table("federation_peers")
    op.drop_table("federation_node")
