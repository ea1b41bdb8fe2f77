"""The transactional outbox: messages to other states are written in the caller's transaction and sent by
the delivery worker after commit, so a trace request is never "sent" without being stored, nor stored
without being sent eventually.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session


def enqueue(
    session: Session,
    *,
    to_country: str,
    kind: str,
    body: dict[str, Any],
    in_reply_to: uuid.UUID | None = None,
) -> uuid.UUID:
    """Queue a signed message for `to_country` (alpha-2 or alpha-3) and return its message id.

    The envelope is built and signed now with this node's key; the row is flushed, not committed.
    Raises `NotFound` when no peer is known for `to_country` and `ValidationError` for a bad country,
    kind or a body that is not JSON.
    """
    raise NotImplementedError("federation outbox: being implemented (issue 4)")
