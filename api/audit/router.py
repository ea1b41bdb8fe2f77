"""`/api/v1/audit`: signed tree heads, inclusion and consistency proofs, and a full verification run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from api.audit.schemas import ConsistencyProofOut, InclusionProofOut, TreeHeadOut, TreeHeads, VerifyOut
from api.auth import require
from api.db import Context, DbSession, reads_only
from api.errors import problem_responses
from registry.audit import checker
from registry.audit import repository as audit_repo
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Reader = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Signer = Annotated[Principal, Depends(require(Permission.AUDIT_SIGN))]
HeadId = Annotated[int, Query(ge=1, le=2**31 - 1, description="A tree head id")]


@router.get("/heads", summary="Signed tree heads, oldest first", responses=problem_responses(401, 403))
def tree_heads(session: DbSession, who: Reader) -> TreeHeads:
    return TreeHeads(items=[TreeHeadOut.of(h) for h in audit_repo.tree_heads(session)])


@router.post(
    "/heads",
    status_code=status.HTTP_201_CREATED,
    summary="Sign the current tree now with the node's audit key",
    responses=problem_responses(401, 403),
)
def sign_head(session: DbSession, ctx: Context, who: Signer) -> TreeHeadOut:
    key = load_or_create_signing_key(ctx.settings)
    return TreeHeadOut.of(audit.sign_head(session, key, actor=who.username))


@router.get(
    "/entries/{seq}/proof",
    summary="Inclusion proof of an entry under a tree head (default: the latest)",
    responses=problem_responses(401, 403, 404, 422),
)
def inclusion_proof(
    seq: Annotated[int, Path(ge=0, le=2**63 - 1, description="The entry's sequence number")],
    session: DbSession,
    who: Reader,
    head: HeadId | None = None,
) -> InclusionProofOut:
    rec = audit.get_head(session, head) if head is not None else None
    return InclusionProofOut.of(audit.prove_inclusion(session, seq=seq, head=rec))


@router.get(
    "/consistency",
    summary="Consistency proof: the old tree head's log is a prefix of the new one's",
    responses=problem_responses(401, 403, 404, 422),
)
def consistency_proof(old: HeadId, new: HeadId, session: DbSession, who: Reader) -> ConsistencyProofOut:
    proof = audit.prove_consistency(
        session, old=audit.get_head(session, old), new=audit.get_head(session, new)
    )
    return ConsistencyProofOut.of(proof)


@router.post(
    "/verify",
    summary="Check the whole log, its tree heads and (with `records`) every audited row against it",
    responses=problem_responses(401, 403, 422),
)
@reads_only  # a POST because it is costly; it changes nothing, so it does not take SQLite's write lock
def verify(session: DbSession, who: Reader, records: bool = True) -> VerifyOut:
    return VerifyOut.of(checker.verify(session, check_records=records))
