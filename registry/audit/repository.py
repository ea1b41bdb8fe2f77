"""All SQL of the audit log. Read-write operations take the state-row lock; reads never do."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry, AuditKey, AuditLogState, TreeHeadRecord
from registry.rows import bulk_insert


def lock_state(session: Session) -> AuditLogState:
    """Lock the single state row: writers queue here, so sequence numbers are gapless in commit order."""
    return session.execute(select(AuditLogState).where(AuditLogState.id == 1).with_for_update()).scalar_one()


def save_state(session: Session, *, next_seq: int, frontier: bytes) -> None:
    session.execute(
        update(AuditLogState).where(AuditLogState.id == 1).values(next_seq=next_seq, frontier=frontier)
    )


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    bulk_insert(session, "audit_entries", rows)


def entry_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def next_seq(session: Session) -> int:
    return session.execute(select(AuditLogState.next_seq).where(AuditLogState.id == 1)).scalar_one()


def stream_entries(
    session: Session, batch: int = 20_000
) -> Iterator[tuple[int, str, str, str | None, bytes, bytes]]:
    """Every entry in sequence order, straight from the driver (no ORM row objects: a million of them would
    cost more than all the hashing). A server-side cursor on PostgreSQL, so memory stays flat."""
    sql = "SELECT seq, actor, action, subject, body, leaf_hash FROM audit_entries ORDER BY seq"
    # Per statement: Connection.execution_options() would switch every later statement of the session to a
    # server-side cursor. Closed when the reader stops early too (the checker stops at the first problem).
    with session.connection().exec_driver_sql(sql, execution_options={"stream_results": True}) as result:
        for rows in result.partitions(batch):
            yield from rows


def leaf_hashes(session: Session, upto: int) -> list[bytes]:
    stmt = select(AuditEntry.leaf_hash).where(AuditEntry.seq < upto).order_by(AuditEntry.seq)
    return [bytes(h) for h in session.execute(stmt.execution_options(yield_per=50_000)).scalars()]


def get_entry(session: Session, seq: int) -> AuditEntry | None:
    return session.get(AuditEntry, seq)


def entries_for_subject(session: Session, subject: str) -> list[AuditEntry]:
    return list(
        session.execute(
            select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.seq)
        ).scalars()
    )


def add_key(session: Session, key: AuditKey) -> None:
    session.add(key)
    session.flush()


def get_key(session: Session, key_id: str) -> AuditKey | None:
    return session.get(AuditKey, key_id)


def all_keys(session: Session) -> dict[str, bytes]:
    return {k.key_id: bytes(k.public_key) for k in session.execute(select(AuditKey)).scalars()}


def add_tree_head(session: Session, head: TreeHeadRecord) -> None:
    session.add(head)
    session.flush()


def tree_heads(session: Session) -> list[TreeHeadRecord]:
    return list(
        session.execute(
            select(TreeHeadRecord).order_by(TreeHeadRecord.tree_size, TreeHeadRecord.id)
        ).scalars()
    )


def tree_head(session: Session, head_id: int) -> TreeHeadRecord | None:
    return session.get(TreeHeadRecord, head_id)


def latest_tree_head(session: Session) -> TreeHeadRecord | None:
    stmt = select(TreeHeadRecord).order_by(TreeHeadRecord.tree_size.desc(), TreeHeadRecord.id.desc()).limit(1)
    return session.execute(stmt).scalar_one_or_none()
