"""Idempotency keys: claim, store, replay, refuse reuse, expire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.errors import Conflict
from registry.idempotency import service as idempotency
from registry.idempotency.errors import IdempotencyKeyReused
from registry.idempotency.models import IdempotencyKey
from registry.idempotency.service import KEY_LIFETIME, StoredResponse

PATH = "/api/v1/weapons/1/events"
BODY = {"type": "stolen", "documents": [], "data": {"b": 1, "a": [1, 2]}}


def begin(session: Session, key: str = "k1", **overrides: Any) -> StoredResponse | None:
    args: dict[str, Any] = {
        "principal": "officer",
        "key": key,
        "method": "POST",
        "path": PATH,
        "request_hash": idempotency.request_hash(BODY),
    }
    args.update(overrides)
    return idempotency.begin(session, **args)


def answered(session: Session, key: str = "k1", **overrides: Any) -> None:
    assert begin(session, key, **overrides) is None
    idempotency.finish(session, principal="officer", key=key, status=201, body={"id": key})


def test_request_hash_is_canonical() -> None:
    reordered = {"data": {"a": [1, 2], "b": 1}, "documents": [], "type": "stolen"}
    assert idempotency.request_hash(reordered) == idempotency.request_hash(BODY)
    assert idempotency.request_hash(BODY | {"type": "found"}) != idempotency.request_hash(BODY)
    assert len(idempotency.request_hash(BODY)) == 64


def test_first_use_claims_then_replays_what_was_stored(session: Session) -> None:
    answered(session)
    assert begin(session) == StoredResponse(status=201, body={"id": "k1"})


def test_other_body_or_path_is_refused_naming_the_header(session: Session) -> None:
    answered(session)
    with pytest.raises(IdempotencyKeyReused) as other_body:
        begin(session, request_hash=idempotency.request_hash({"type": "found"}))
    assert other_body.value.field == "Idempotency-Key"
    assert isinstance(other_body.value, Conflict)
    with pytest.raises(IdempotencyKeyReused, match="used for POST /api/v1/weapons/1/events"):
        begin(session, path="/api/v1/weapons/2/events")
    with pytest.raises(IdempotencyKeyReused):
        begin(session, method="PUT")


def test_keys_belong_to_one_principal(session: Session) -> None:
    answered(session)
    assert begin(session, principal="colleague") is None


def test_a_pending_claim_is_not_replayed(session: Session) -> None:
    assert begin(session) is None
    with pytest.raises(Conflict, match="in progress"):
        begin(session)


def test_finish_needs_a_claim(session: Session) -> None:
    with pytest.raises(RuntimeError, match="without a pending begin"):
        idempotency.finish(session, principal="officer", key="never-claimed", status=201, body={})
    answered(session, "k2")
    with pytest.raises(RuntimeError):
        idempotency.finish(session, principal="officer", key="k2", status=201, body={})


def test_an_expired_key_may_be_reused_for_anything(session: Session) -> None:
    answered(session)
    later = utcnow() + KEY_LIFETIME + timedelta(minutes=1)
    assert begin(session, request_hash=idempotency.request_hash({"type": "found"}), now=later) is None
    rows = session.execute(select(IdempotencyKey).where(IdempotencyKey.key == "k1")).scalars().all()
    assert [r.request_hash for r in rows] == [idempotency.request_hash({"type": "found"})]


def test_within_its_lifetime_a_key_is_kept(session: Session) -> None:
    answered(session)
    almost = utcnow() + KEY_LIFETIME - timedelta(minutes=1)
    assert begin(session, now=almost) == StoredResponse(status=201, body={"id": "k1"})


def test_purge_removes_only_expired_keys(session: Session) -> None:
    answered(session, "old")
    answered(session, "new")
    old = session.execute(select(IdempotencyKey).where(IdempotencyKey.key == "old")).scalar_one()
    old.created_at = utcnow() - KEY_LIFETIME - timedelta(hours=1)
    session.flush()
    assert idempotency.purge(session) == 1
    left = session.execute(
        select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key.in_(["old", "new"]))
    )
    assert left.scalar_one() == 1
