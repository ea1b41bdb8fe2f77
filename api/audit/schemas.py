"""What clients receive from the audit log: tree heads and proofs with hashes as lowercase hex, so an
auditor can check them offline with `registry.audit.verify` (RFC 9162)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from registry.audit.checker import Problem, VerifyReport
from registry.audit.models import TreeHeadRecord
from registry.audit.service import ConsistencyProof, InclusionProof


class TreeHeadOut(BaseModel):
    id: int
    tree_size: int
    root_hash: str = Field(description="hex")
    signed_at: datetime
    key_id: str
    signature: str = Field(description="Ed25519 signature, hex")

    @classmethod
    def of(cls, rec: TreeHeadRecord) -> TreeHeadOut:
        return cls(
            id=rec.id,
            tree_size=rec.tree_size,
            root_hash=bytes(rec.root_hash).hex(),
            signed_at=rec.signed_at,
            key_id=rec.key_id,
            signature=bytes(rec.signature).hex(),
        )


class TreeHeads(BaseModel):
    items: list[TreeHeadOut] = Field(description="Oldest first")


class InclusionProofOut(BaseModel):
    seq: int = Field(description="The entry's index in the log")
    leaf_hash: str
    tree_size: int
    root_hash: str
    path: list[str]
    head_id: int | None

    @classmethod
    def of(cls, p: InclusionProof) -> InclusionProofOut:
        return cls(
            seq=p.seq,
            leaf_hash=p.leaf_hash.hex(),
            tree_size=p.tree_size,
            root_hash=p.root.hex(),
            path=[h.hex() for h in p.path],
            head_id=p.head_id,
        )


class ConsistencyProofOut(BaseModel):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]

    @classmethod
    def of(cls, p: ConsistencyProof) -> ConsistencyProofOut:
        return cls(
            old_size=p.old_size,
            new_size=p.new_size,
            old_root=p.old_root.hex(),
            new_root=p.new_root.hex(),
            path=[h.hex() for h in p.path],
        )


class ProblemOut(BaseModel):
    kind: str
    message: str
    seq: int | None

    @classmethod
    def of(cls, p: Problem) -> ProblemOut:
        return cls(kind=p.kind, message=p.message, seq=p.seq)


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    tree_heads: int
    records: int
    problems: list[ProblemOut]

    @classmethod
    def of(cls, r: VerifyReport) -> VerifyOut:
        return cls(
            ok=r.ok,
            entries=r.entries,
            tree_heads=r.tree_heads,
            records=r.records,
            problems=[ProblemOut.of(p) for p in r.problems],
        )
