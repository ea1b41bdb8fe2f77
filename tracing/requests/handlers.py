"""Inbound trace messages, dispatched by the federation inbox in the transaction that stores them.

Registered on import (`tracing.federation.inbox.handler`); the API and the delivery worker import this
module so the handlers exist before the first message arrives. A message about a request the sender is not
party to is answered as not found, exactly like one that does not exist.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tracing.federation.inbox import InboundMessage, handler
from tracing.requests import disclosure, service


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
