"""Inbound messages: the handler registry and the accept-store-dispatch step.

Contract for the trace workflow: decorate a function with `@handler("trace.request")`; it is called as
`fn(session, message)` inside the transaction that stores the message, so a handler error rolls back the
storage too and the sender's retry delivers the message again. A message id is stored once: a retried
delivery of the same message is acknowledged without calling the handler a second time.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.config import Settings
from registry.db import utcnow
from registry.errors import RegistryError
from tracing.federation import envelope, keys, service
from tracing.federation import repository as repo
from tracing.federation.errors import MessageNotFound
from tracing.federation.models import InboxMessage


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
    received_at: datetime | None = None  # this node's clock when it accepted the message


log = logging.getLogger(__name__)

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


# --- receiving --------------------------------------------------------------------------------------------

UNSUPPORTED_KIND = "unsupported_kind"
NOT_INITIALISED = "node_not_initialised"
REFUSED_BY_HANDLER = "refused_by_handler"


@dataclass(frozen=True, slots=True)
class Received:
    """The outcome of an accepted or duplicate delivery: the receipt to return."""

    message_id: uuid.UUID
    receipt: dict[str, Any]
    duplicate: bool


class _SeenNonces:
    """The persistent replay guard, as the container `envelope.verify` asks."""

    def __init__(self, session: Session, from_country: str) -> None:
        self.session = session
        self.from_country = from_country

    def __contains__(self, nonce: object) -> bool:
        return isinstance(nonce, str) and repo.nonce_seen(self.session, self.from_country, nonce)


CLOCK_OFFSET = "ITI_FEDERATION_CLOCK_OFFSET"


def node_clock(settings: Settings) -> datetime:
    """This node's clock for judging inbound messages (`sent_at`, key grace periods): UTC now, shifted by
    ITI_FEDERATION_CLOCK_OFFSET seconds. The offset is a drill knob (docs/reliability.md, "Clock skew"): it
    lets a test node run a wrong clock without touching the machine's; leave it unset in production."""
    raw = settings.extra.get(CLOCK_OFFSET) or os.environ.get(CLOCK_OFFSET)
    return utcnow() + timedelta(seconds=float(raw)) if raw else utcnow()


def _keys(session: Session, now: datetime) -> envelope.KeyLookup:
    def lookup(country: str, kid: str) -> bytes | None:
        # Keys replaced by a rotation still verify until their grace period ends; then `unknown_key`.
        peers = repo.trusted_peers(session, country, now=now)
        if not peers:
            raise envelope.Rejected(
                envelope.UNKNOWN_SENDER,
                f"no point of contact of {country} is in this node's directory",
                field="from_country",
            )
        return next((bytes(p.public_key) for p in peers if p.key_id == kid), None)

    return lookup


def receive(session: Session, settings: Settings, data: bytes, *, now: datetime | None = None) -> Received:
    """Verify, store once and dispatch an inbound message, in the caller's transaction.

    Raises `envelope.Rejected` (nothing stored, nothing dispatched), also for a handler's domain error
    (`refused_by_handler`); any other handler exception propagates and the caller rolls back (nothing
    stored, the sender retries). A second delivery of an accepted message returns its original receipt
    with `duplicate=True` and dispatches nothing.
    """
    now = now or node_clock(settings)
    try:
        envelope.parse(data)  # garbage is refused as such, whatever the state of this node
        node = repo.get_node(session)
        if node is None:
            raise envelope.Rejected(
                NOT_INITIALISED, "this node takes no part in federation yet (no identity)"
            )
        # The nonce is checked after the message id: a verbatim second delivery of an accepted message
        # (a sender whose acknowledgement got lost) must get its receipt back, not a replay error.
        message = envelope.verify(data, me=node.country, keys=_keys(session, now), now=now)
    except envelope.Rejected as exc:
        _log_rejection(exc, data)
        raise
    stored = repo.inbox_message(session, message.id)
    if stored is not None:
        if stored.from_country == message.from_country and stored.content_digest == message.content_digest:
            log.info("federation.inbox.duplicate id=%s from=%s", message.id, message.from_country)
            return Received(message.id, dict(stored.receipt), duplicate=True)
        exc = envelope.Rejected(
            envelope.ID_REUSED, "this message id was already used for another message", field="id"
        )
        _log_rejection(exc, data)
        raise exc
    if message.nonce in _SeenNonces(session, message.from_country):
        exc = envelope.Rejected(
            envelope.REPLAYED_NONCE, "this nonce was already used: the message is a replay", field="nonce"
        )
        _log_rejection(exc, data)
        raise exc
    fn = get_handler(message.kind)
    if fn is None:
        exc = envelope.Rejected(
            UNSUPPORTED_KIND, f"this node does not handle messages of kind {message.kind!r}", field="kind"
        )
        _log_rejection(exc, data)
        raise exc
    receipt = envelope.sign_receipt(
        keys.load_node_key(settings), message=message, receiver=node.country, received_at=now
    )
    row = InboxMessage(
        id=message.id,
        kind=message.kind,
        from_country=message.from_country,
        to_country=message.to_country,
        sent_at=message.sent_at,
        nonce=message.nonce,
        key_id=message.key_id,
        in_reply_to=message.in_reply_to,
        confidentiality=message.confidentiality,
        content_digest=message.content_digest,
        envelope=message.to_json().decode(),
        receipt=receipt,
        received_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=f"federation:{message.from_country}",
        action="federation.message_received",
        subject=f"federation_message:{message.id}",
        records=[audit.snapshot_obj(row)],
        info={"kind": message.kind, "from_country": message.from_country, "key_id": message.key_id},
    )
    try:
        fn(session, as_inbound(row, message.body))
    except RegistryError as exc:
        # The content is wrong for this node's records (e.g. an answer to an unknown request): a refusal no
        # retry can fix. Raising rolls back the stored message with whatever the handler wrote.
        refused = envelope.Rejected(REFUSED_BY_HANDLER, f"{exc.code}: {exc.message}", field=exc.field)
        _log_rejection(refused, data)
        raise refused from None
    log.info(
        "federation.inbox.accepted id=%s kind=%s from=%s", message.id, message.kind, message.from_country
    )
    return Received(message.id, receipt, duplicate=False)


def as_inbound(row: InboxMessage, body: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        id=row.id,
        kind=row.kind,
        from_country=row.from_country,
        to_country=row.to_country,
        sent_at=row.sent_at,
        body=body,
        confidentiality=row.confidentiality,
        in_reply_to=row.in_reply_to,
        key_id=row.key_id,
        received_at=row.received_at,
    )


def _log_rejection(exc: envelope.Rejected, data: bytes) -> None:
    # Only what identifies the message, never its body (it may hold case details).
    try:
        raw = orjson.loads(data)
        ident = (
            {k: raw.get(k) for k in ("id", "kind", "from_country", "to_country", "key_id")}
            if isinstance(raw, dict)
            else {}
        )
    except orjson.JSONDecodeError:
        ident = {}
    log.warning("federation.inbox.rejected reason=%s detail=%s message=%s", exc.reason, exc.message, ident)


def list_inbox(
    session: Session, *, kind: str | None = None, from_country: str | None = None, limit: int = 100
) -> list[InboxMessage]:
    return list(repo.list_inbox(session, kind=kind, from_country=from_country, limit=limit))


def get_inbox(session: Session, message_id: uuid.UUID) -> InboxMessage:
    row = repo.inbox_message(session, message_id)
    if row is None:
        raise MessageNotFound(f"no inbound message {message_id}", field="message_id")
    return row


@handler("federation.ping")
def _ping(session: Session, message: InboundMessage) -> None:
    """`iti peer ping`: a connectivity check between PoCs. Storing it and returning the signed receipt is
    the whole answer, so there is nothing more to do here."""


@handler(envelope.KEY_ROTATION)
def _key_rotation(session: Session, message: InboundMessage) -> None:
    """A peer's new key, announced in a message signed by its old key (docs/federation.md, "Key rotation").
    A refusal (bad proof of possession, another state's key, ...) rolls back and answers 422."""
    service.apply_key_rotation(
        session,
        message_id=message.id,
        from_country=message.from_country,
        signed_by=message.key_id,
        body=message.body,
        now=message.received_at or utcnow(),
    )
