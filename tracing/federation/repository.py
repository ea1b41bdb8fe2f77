"""All SQL of the federation layer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tracing.federation.models import FederationNode, InboxMessage, OutboxMessage, OutboxStatus, Peer


def get_node(session: Session) -> FederationNode | None:
    return session.scalars(select(FederationNode).where(FederationNode.singleton == 1)).one_or_none()


def active_peers(session: Session, country: str | None = None) -> Sequence[Peer]:
    """The PoCs messages go to: not removed, and not replaced by a key rotation."""
    stmt = select(Peer).where(Peer.removed_at.is_(None))
    if country:
        stmt = stmt.where(Peer.country == country)
    return session.scalars(stmt.order_by(Peer.country, Peer.priority, Peer.added_at)).all()


def trusted_peers(session: Session, country: str | None = None, *, now: datetime) -> Sequence[Peer]:
    """The PoCs whose keys messages are accepted from: the active ones, and keys replaced by a rotation whose
    removal (the end of the grace period) is still ahead."""
    stmt = select(Peer).where(or_(Peer.removed_at.is_(None), Peer.removed_at > now))
    if country:
        stmt = stmt.where(Peer.country == country)
    return session.scalars(stmt.order_by(Peer.country, Peer.priority, Peer.added_at)).all()


def all_peers(session: Session) -> Sequence[Peer]:
    return session.scalars(select(Peer).order_by(Peer.country, Peer.priority, Peer.added_at)).all()


def peer_by_key(session: Session, country: str, key_id: str) -> Peer | None:
    return session.scalars(select(Peer).where(Peer.country == country, Peer.key_id == key_id)).one_or_none()


def peer(session: Session, peer_id: uuid.UUID) -> Peer | None:
    return session.get(Peer, peer_id)


def outbox_message(session: Session, message_id: uuid.UUID, *, lock: bool = False) -> OutboxMessage | None:
    stmt = select(OutboxMessage).where(OutboxMessage.id == message_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def due_ids(session: Session, *, now: datetime, limit: int) -> list[uuid.UUID]:
    stmt = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(stmt).all())


def claim(session: Session, message_id: uuid.UUID, *, attempts: int, values: dict[str, Any]) -> bool:
    """Compare-and-set on the attempt counter: of two workers racing for a message, exactly one wins the
    attempt (on SQLite and PostgreSQL alike, without holding a lock while the HTTP request runs)."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.attempts == attempts,
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def list_outbox(
    session: Session, *, status: str | None = None, to_country: str | None = None, limit: int = 100
) -> Sequence[OutboxMessage]:
    stmt = select(OutboxMessage)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if to_country:
        stmt = stmt.where(OutboxMessage.to_country == to_country)
    return session.scalars(
        stmt.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ).all()


def inbox_message(session: Session, message_id: uuid.UUID) -> InboxMessage | None:
    return session.get(InboxMessage, message_id)


def nonce_seen(session: Session, from_country: str, nonce: str) -> bool:
    stmt = select(InboxMessage.id).where(
        InboxMessage.from_country == from_country, InboxMessage.nonce == nonce
    )
    return session.scalars(stmt).first() is not None


def list_inbox(
    session: Session, *, kind: str | None = None, from_country: str | None = None, limit: int = 100
) -> Sequence[InboxMessage]:
    stmt = select(InboxMessage)
    if kind:
        stmt = stmt.where(InboxMessage.kind == kind)
    if from_country:
        stmt = stmt.where(InboxMessage.from_country == from_country)
    return session.scalars(
        stmt.order_by(InboxMessage.received_at.desc(), InboxMessage.id.desc()).limit(limit)
    ).all()
