"""Inbound trace messages, dispatched by the federation inbox in the transaction that stores them, and the
delivery of our own requests, as the outbox records each receipt.

Registered on import (`tracing.federation.inbox.handler`, `tracing.federation.outbox.on_delivered`); the
API and the CLI's delivery command import this module so the handlers exist before the first message moves.
A message about a request the sender is not party to is answered as not found, exactly like one that does
not exist.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from tracing.federation import outbox
from tracing.federation.inbox import InboundMessage, handler
from tracing.federation.models import OutboxMessage
from tracing.requests import disclosure, service
from tracing.requests import repository as repo


@handler("trace.request")
def on_trace_request(session: Session, message: InboundMessage) -> None:
    service.receive(session, message=message)


@handler("trace.acknowledgement")
def on_trace_acknowledgement(session: Session, message: InboundMessage) -> None:
    service.on_acknowledgement(session, message)


@handler("trace.response")
def on_trace_response(session: Session, message: InboundMessage) -> None:
    service.on_response(session, message)


@handler("trace.close")
def on_trace_close(session: Session, message: InboundMessage) -> None:
    service.on_close(session, message)


@handler("trace.disclosure_notice")
def on_trace_disclosure_notice(session: Session, message: InboundMessage) -> None:
    disclosure.on_disclosure_notice(session, message)


@outbox.on_delivered
def on_request_delivered(session: Session, message: OutboxMessage) -> None:
    """Our request reached the requested state (its signed receipt verified): sent → delivered at once, in
    the transaction that records the receipt, so deadlines and the dashboard never wait for a reader."""
    if message.kind != "trace.request" or message.delivered_at is None:
        return
    request_id = uuid.UUID(str(message.body["request_id"]))
    if repo.get(session, request_id) is not None:
        service.mark_delivered(session, request_id=request_id, at=message.delivered_at)
