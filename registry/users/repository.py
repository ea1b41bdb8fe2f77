"""All SQL for accounts, API keys and login tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.users.models import ApiKey, AuthToken, User
from registry.users.roles import Role


def add(session: Session, obj: User | ApiKey | AuthToken) -> None:
    session.add(obj)
    session.flush()


def user_by_username(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def lock_user(session: Session, username: str) -> User | None:
    """Lock the account's row and re-read it: concurrent failed logins must each see the last count."""
    stmt = (
        select(User)
        .where(User.username == username)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.username)).scalars())


def count_active_admins(session: Session) -> int:
    stmt = select(func.count()).where(User.role == Role.ADMIN.value, User.disabled_at.is_(None))
    return session.execute(stmt).scalar_one()


def token_by_hash(session: Session, token_hash: str) -> AuthToken | None:
    return session.execute(select(AuthToken).where(AuthToken.token_hash == token_hash)).scalar_one_or_none()


def revoke_tokens_of(session: Session, user_id: uuid.UUID, at: datetime) -> int:
    """Revoke every token of a user still in force; returns how many."""
    stmt = (
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None), AuthToken.expires_at > at)
        .values(revoked_at=at)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash)).scalar_one_or_none()


def lock_api_key(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    stmt = (
        select(ApiKey).where(ApiKey.id == key_id).with_for_update().execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars())
