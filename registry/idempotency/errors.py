"""Errors of idempotent requests (no HTTP: the API maps `Conflict` to 409)."""

from __future__ import annotations

from registry.errors import Conflict

FIELD = "Idempotency-Key"


class IdempotencyKeyReused(Conflict):
    """The key was already used, within its lifetime, for a different request (another body or path)."""

    code = "idempotency_key_reused"

    def __init__(self, message: str) -> None:
        super().__init__(message, field=FIELD)
