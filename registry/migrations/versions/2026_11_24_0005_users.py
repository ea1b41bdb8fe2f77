"""users, API keys and login tokens: accounts with roles (Argon2id passwords; keys and tokens as SHA-256)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 22:15:12.663575
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import registry.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('record_officer', 'poc_officer', 'marking_operator', 'auditor', 'admin')",
            name=op.f("ck_api_keys_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("disabled_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("password_changed_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IN ('record_officer', 'poc_officer', 'marking_operator', 'auditor', 'admin')",
            name=op.f("ck_users_role"),
        ),
        sa.CheckConstraint("failed_logins >= 0", name=op.f("ck_users_failed_logins")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("csrf_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint("kind IN ('bearer', 'session')", name=op.f("ck_auth_tokens_kind")),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_auth_tokens_lifetime")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_auth_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_tokens_token_hash")),
    )
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_tokens_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_tokens_user_id"))

    op.drop_table("auth_tokens")
    op.drop_table("users")
    op.drop_table("api_keys")
