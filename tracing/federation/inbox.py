"""Inbound messages: the handler registry and the accept-store-dispatch step.

Contract for the trace workflow: decorate a function with `@handler("trace.request")`; it is called as
`fn(session, message)` inside the transaction that stores the message, so a handler error rolls back the
storage too and the sender's retry delivers the message again. A message id is stored once: a retried
delivery of the same message is acknowledged without calling the handler a second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A verified message as handlers see it. Countries are ISO 3166-1 alpha-2."""

    id: uuid.UUID
    kind: str
    from_country: str
    to_country: str
    sent_at: datetime
    body: dict[str, Any]
    confidentiality: str = "restricted"
    in_reply_to: uuid.UUID | None = None
    key_id: str = field(default="")


Handler = Callable[[Session, InboundMessage], None]

_HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register `fn` as the handler of inbound messages of `kind` (e.g. "trace.request")."""

    def register(fn: Handler) -> Handler:
        existing = _HANDLERS.get(kind)
        if existing is not None and existing is not fn:
            qualname = f"{existing.__module__}.{existing.__qualname__}"
            if qualname != f"{fn.__module__}.{fn.__qualname__}":
                raise ValueError(f"a handler for message kind {kind!r} is already registered: {qualname}")
        _HANDLERS[kind] = fn
        return fn

    return register


def get_handler(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def registered_kinds() -> tuple[str, ...]:
    return tuple(sorted(_HANDLERS))
