"""The audit log: append entries in the caller's transaction, sign tree heads, prove and verify.

Every write in the registry calls `record()` in the same transaction as the write, so a record and its audit
entry commit or vanish together. Entries carry ids and digests of the rows written, never personal data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from registry.audit import canonical, merkle, record_form
from registry.audit import repository as repo
from registry.audit.models import AuditKey, TreeHeadRecord
from registry.audit.signing import TreeHead, key_id, public_key_bytes, sign_tree_head
from registry.db import Base, utcnow
from registry.errors import NotFound, ValidationError

RecordRef = tuple[str, str, str]  # (table, id, digest hex)


def columns_of(table: str) -> list[str]:
    return [key for key, _kind in record_form.columns(table)]


def snapshot(table: str, row: Mapping[str, Any]) -> RecordRef:
    """(table, id, digest) of a row as it is stored: call it with the complete values inserted/updated."""
    return (table, str(row["id"]), record_form.digest(table, record_form.from_python(table, row)).hex())


def snapshot_obj(obj: Base) -> RecordRef:
    table = obj.__table__.name  # type: ignore[attr-defined]
    return snapshot(table, {c: getattr(obj, _attr(obj, c)) for c in columns_of(table)})


def _attr(obj: Base, column: str) -> str:
    return obj.__mapper__.get_property_by_column(obj.__table__.c[column]).key  # type: ignore[attr-defined]


@dataclass
class PendingEntry:
    actor: str
    action: str
    subject: str | None
    records: list[RecordRef] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    records: Iterable[RecordRef] = (),
    info: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry; returns its sequence number."""
    entry = PendingEntry(
        actor=actor, action=action, subject=subject, records=list(records), info=dict(info or {})
    )
    return record_many(session, [entry])[0]


def record_many(
    session: Session,
    entries: Sequence[PendingEntry],
    *,
    at: datetime | None = None,
    write: Callable[[Session, list[dict[str, Any]]], None] | None = None,
) -> list[int]:
    """Append entries in order under the log lock. Used directly by bulk imports (one call per batch);
    `write` stores the rows another way (the PostgreSQL import copies them) with the same chain."""
    if not entries:
        return []
    state = repo.lock_state(session)
    acc = merkle.MerkleAccumulator.restore(state.next_seq, bytes(state.frontier))
    at = at or utcnow()
    rows = []
    seq = state.next_seq
    for e in entries:
        body = canonical.entry_body(
            seq=seq, at=at, actor=e.actor, action=e.action, subject=e.subject, records=e.records, info=e.info
        )
        leaf = merkle.leaf_hash(body)
        acc.append(leaf)
        rows.append(
            {
                "seq": seq,
                "recorded_at": at,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "body": body,
                "leaf_hash": leaf,
            }
        )
        seq += 1
    (write or repo.insert_entries)(session, rows)
    repo.save_state(session, next_seq=seq, frontier=acc.frontier_bytes())
    return [r["seq"] for r in rows]


# --- tree heads -------------------------------------------------------------------------------------------


def register_key(session: Session, key: Ed25519PrivateKey, *, actor: str) -> str:
    public = public_key_bytes(key)
    kid = key_id(public)
    if repo.get_key(session, kid) is None:
        repo.add_key(session, AuditKey(key_id=kid, public_key=public, created_at=utcnow()))
        record(
            session,
            actor=actor,
            action="audit.key_registered",
            subject=f"audit_key:{kid}",
            info={"public_key": public.hex()},
        )
    return kid


def sign_head(session: Session, key: Ed25519PrivateKey, *, actor: str) -> TreeHeadRecord:
    """Sign the current tree (O(log n): the frontier is kept with the log state)."""
    kid = register_key(session, key, actor=actor)
    state = repo.lock_state(session)
    acc = merkle.MerkleAccumulator.restore(state.next_seq, bytes(state.frontier))
    head, signature = sign_tree_head(key, size=acc.size, root=acc.root(), timestamp=utcnow())
    rec = TreeHeadRecord(
        tree_size=head.size, root_hash=head.root, signed_at=head.timestamp, key_id=kid, signature=signature
    )
    repo.add_tree_head(session, rec)
    return rec


def as_tree_head(rec: TreeHeadRecord) -> TreeHead:
    return TreeHead(size=rec.tree_size, root=bytes(rec.root_hash), timestamp=rec.signed_at, key_id=rec.key_id)


def get_head(session: Session, head_id: int) -> TreeHeadRecord:
    rec = repo.tree_head(session, head_id)
    if rec is None:
        raise NotFound(f"no tree head #{head_id}", field="tree_head", value=head_id)
    return rec


# --- proofs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    leaf_hash: bytes
    tree_size: int
    root: bytes
    path: list[bytes]
    head_id: int | None


def prove_inclusion(session: Session, *, seq: int, head: TreeHeadRecord | None = None) -> InclusionProof:
    head = head or repo.latest_tree_head(session)
    if head is None:
        raise NotFound("no signed tree head yet: run `iti audit sign` first", field="tree_head")
    if not 0 <= seq < head.tree_size:
        raise ValidationError(
            f"entry {seq} is not covered by tree head #{head.id} (size {head.tree_size})",
            field="seq",
            value=seq,
        )
    leaves = repo.leaf_hashes(session, head.tree_size)
    path = merkle.inclusion_proof(leaves, seq, head.tree_size)
    return InclusionProof(seq, leaves[seq], head.tree_size, bytes(head.root_hash), path, head.id)


def entries_for(session: Session, subject: str) -> list[int]:
    return [e.seq for e in repo.entries_for_subject(session, subject)]


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: list[bytes]


def prove_consistency(session: Session, *, old: TreeHeadRecord, new: TreeHeadRecord) -> ConsistencyProof:
    if old.tree_size > new.tree_size:
        raise ValidationError(
            f"tree head #{old.id} (size {old.tree_size}) is larger than #{new.id} (size {new.tree_size})",
            field="old",
        )
    leaves = repo.leaf_hashes(session, new.tree_size)
    path = merkle.consistency_proof(leaves, old.tree_size, new.tree_size)
    return ConsistencyProof(old.tree_size, new.tree_size, bytes(old.root_hash), bytes(new.root_hash), path)


def new_subject(kind: str, ident: uuid.UUID | str) -> str:
    return f"{kind}:{ident}"
