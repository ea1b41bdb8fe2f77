"""Idempotent writes: a client sends an `Idempotency-Key` with a write, and a retry of the same request
under the same key gets the first response back instead of writing twice.

How a write uses it, inside the one transaction that also records the write:
1. `begin` claims (principal, key) by inserting a row with no response yet, or finds the row a previous
   request stored and returns its response to replay. Two requests racing with one key meet at the unique
   constraint: on PostgreSQL the second insert waits until the first transaction ends, then fails, and the
   second request replays what the first committed (on SQLite, writers are serialised anyway).
2. The write happens.
3. `finish` stores the status and body. Key and write commit together, so a crash leaves neither: a retry
   after a crash simply performs the write. A write that fails rolls back its claim too, so errors are not
   remembered and a corrected retry may reuse the key.

Keys are per principal (two users may choose the same key) and bind one request: the same key with another
method, path or body is refused with `IdempotencyKeyReused`, naming the field `Idempotency-Key`.

Expiry: a key is remembered for `KEY_LIFETIME` (24 hours) from its first use. After that it may be reused
for any request, which is then performed as new; `purge` deletes expired keys in bulk.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.errors import Conflict
from registry.idempotency import repository as repo
from registry.idempotency.errors import FIELD, IdempotencyKeyReused
from registry.idempotency.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def request_hash(body: Any) -> str:
    """SHA-256 hex of a JSON-able body in canonical form (sorted keys, no whitespace)."""
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # Integers beyond 64 bits or nesting orjson refuses (found by API fuzzing: a 500 before the body was
        # even checked). The same body always takes this path, so the hash stays stable for its key; the
        # service then refuses the body by name.
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def begin(
    session: Session,
    *,
    principal: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    now: datetime | None = None,
) -> StoredResponse | None:
    """Claim `key` for this request (None: go ahead and write) or return the stored response to replay."""
    now = now or utcnow()
    row = repo.get(session, principal=principal, key=key)
    if row is not None and row.created_at < now - KEY_LIFETIME:
        repo.remove_if_older(session, row, now - KEY_LIFETIME)
        row = None
    if row is None:
        claim = IdempotencyKey(
            key=key,
            principal=principal,
            method=method,
            path=path,
            request_hash=request_hash,
            created_at=now,
        )
        if repo.claim(session, claim):
            return None
        row = repo.get(session, principal=principal, key=key)
        if row is None:  # the holder rolled back between our insert and our read: rare, and safe to retry
            raise Conflict("a request with this key was in progress; retry it", field=FIELD)
    return _replay(row, method=method, path=path, request_hash=request_hash)


def _replay(row: IdempotencyKey, *, method: str, path: str, request_hash: str) -> StoredResponse:
    if (row.method, row.path) != (method, path):
        raise IdempotencyKeyReused(
            f"this key was used for {row.method} {row.path}; choose a new key for another request"
        )
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused("this key was used with a different body; choose a new key")
    if row.response_status is None:  # only visible inside the claiming transaction itself
        raise Conflict("a request with this key is still in progress", field=FIELD)
    return StoredResponse(status=row.response_status, body=row.response_body)


def finish(session: Session, *, principal: str, key: str, status: int, body: Any) -> None:
    """Store the response of the request that claimed `key` in this transaction."""
    row = repo.get(session, principal=principal, key=key)
    if row is None or row.response_status is not None:
        raise RuntimeError(f"finish() without a pending begin() for key {key!r}")
    row.response_status = status
    row.response_body = body
    session.flush()


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete keys past their lifetime; returns how many."""
    return repo.purge_before(session, (now or utcnow()) - KEY_LIFETIME)
