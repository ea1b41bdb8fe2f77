"""The transactional outbox: messages to other states are written in the caller's transaction and sent by
the delivery worker after commit, so a trace request is never "sent" without being stored, nor stored
without being sent eventually.

Delivery of one message, in three steps so no database lock is held while a peer is slow:

1. claim (own transaction): compare-and-set on the attempt counter, re-sign the envelope with a fresh time
   and nonce (so a message queued during a long outage is not refused as stale), schedule the next attempt
   as if this one will fail, commit;
2. POST the envelope to the peer;
3. record (own transaction): on a verified receipt mark it delivered, else keep the error.

A crash between 2 and 3 leaves the message pending; the next attempt reaches a receiver that already holds
the message id, which answers 409 `duplicate_message` with its original signed receipt, and the message is
marked delivered: exactly-once at the receiver, at-least-once on the wire.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from sqlalchemy.orm import Session, sessionmaker

from registry.audit import service as audit
from registry.config import Settings
from registry.db import WRITES, new_id, utcnow
from registry.errors import ValidationError
from registry.reference.countries import normalise_country
from tracing.federation import envelope, keys
from tracing.federation import repository as repo
from tracing.federation.config import FederationConfig, federation_config
from tracing.federation.errors import InvalidFederationInput, MessageNotFound, NodeNotInitialised, NoPeer
from tracing.federation.models import OutboxMessage, OutboxStatus, Peer

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/v1/federation/messages"
# Room left in the size limit for the envelope around the body (ids, times, nonce, signature).
_ENVELOPE_OVERHEAD = 1024


DeliveredHook = Callable[[Session, OutboxMessage], None]
_DELIVERED_HOOKS: list[DeliveredHook] = []


def on_delivered(fn: DeliveredHook) -> DeliveredHook:
    """Register `fn(session, message)`, called in the transaction that marks an outbound message delivered
    (its signed receipt verified), e.g. to move a trace request from sent to delivered at once. A hook that
    raises is logged and rolled back on its own; the delivery stays recorded."""
    if fn not in _DELIVERED_HOOKS:
        _DELIVERED_HOOKS.append(fn)
    return fn


def enqueue(
    session: Session,
    *,
    to_country: str,
    kind: str,
    body: dict[str, Any],
    in_reply_to: uuid.UUID | None = None,
    confidentiality: str = "restricted",
    actor: str = "federation:outbox",
) -> uuid.UUID:
    """Queue a message for `to_country` (alpha-2 or alpha-3) and return its message id.

    Flushed, not committed: it leaves only if the caller's transaction commits. The envelope is signed by
    the delivery worker at each attempt. Raises `NodeNotInitialised` when this node has no identity,
    `NoPeer` when no PoC of `to_country` is in the directory, and `ValidationError` for a bad country,
    kind, confidentiality, or a body that is not plain JSON or too large.
    """
    node = repo.get_node(session)
    if node is None:
        raise NodeNotInitialised()
    country = normalise_country(to_country, field="to_country")
    if country == node.country:
        raise InvalidFederationInput("a message to this node's own state is not sent", field="to_country")
    if not repo.active_peers(session, country):
        raise NoPeer(
            f"no point of contact of {country} is in the directory: `iti peer add`", field="to_country"
        )
    try:
        envelope.check_kind(kind)
    except ValueError as exc:
        raise InvalidFederationInput(str(exc), field="kind") from None
    if confidentiality not in envelope.CONFIDENTIALITY:
        raise InvalidFederationInput(
            f"confidentiality must be one of {', '.join(envelope.CONFIDENTIALITY)}", field="confidentiality"
        )
    message_id = new_id()
    content = envelope.message_content(
        id=message_id,
        kind=kind,
        from_country=node.country,
        to_country=country,
        body=body,
        confidentiality=confidentiality,
        in_reply_to=in_reply_to,
    )
    try:
        size = len(envelope.canonical(content))
        digest = envelope.content_digest(content)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidFederationInput(f"the body is not plain JSON: {exc}", field="body") from None
    if size + _ENVELOPE_OVERHEAD > envelope.MAX_MESSAGE_BYTES:
        raise InvalidFederationInput(
            f"the message would be {size} bytes; the limit is {envelope.MAX_MESSAGE_BYTES - _ENVELOPE_OVERHEAD}",
            field="body",
        )
    now = utcnow()
    row = OutboxMessage(
        id=message_id,
        kind=kind,
        to_country=country,
        in_reply_to=in_reply_to,
        confidentiality=confidentiality,
        body=dict(body),
        content_digest=digest,
        envelope=None,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_by=actor,
        created_at=now,
        version=1,
    )
    session.add(row)
    session.flush()
    _audit(session, row, actor=actor, action="federation.message_queued")
    log.info("federation.outbox.queued id=%s kind=%s to=%s", message_id, kind, country)
    return message_id


def _audit(session: Session, row: OutboxMessage, *, actor: str, action: str, **info: Any) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject=f"federation_message:{row.id}",
        records=[audit.snapshot_obj(row)],
        info={"kind": row.kind, "to_country": row.to_country, "attempts": row.attempts, **info},
    )


def backoff(cfg: FederationConfig, attempts: int) -> timedelta:
    """Exponential with a cap and up to 20 % jitter, so peers coming back are not hit by every node at once."""
    delay = min(cfg.backoff_base * 2 ** max(attempts - 1, 0), cfg.backoff_max)
    return timedelta(seconds=delay * (1 + random.random() * 0.2))


# --- delivery ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """A claimed attempt: what to send where."""

    message_id: uuid.UUID
    attempts: int
    url: str
    peer_key: bytes
    peer_country: str
    data: bytes
    content_digest: str


@dataclass(frozen=True)
class Outcome:
    """What the peer said. `status` 0 = no HTTP answer (connection refused, timeout)."""

    status: int
    body: Any = None
    error: str | None = None


@dataclass
class DeliveryReport:
    delivered: list[uuid.UUID] = field(default_factory=list)
    retrying: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)  # claimed by another worker meanwhile

    def as_dict(self) -> dict[str, list[str]]:
        return {k: [str(i) for i in v] for k, v in self.__dict__.items()}


Send = Callable[[Attempt], Outcome]
WORKER = "federation:delivery"
# Refusals no retry can fix: the message itself is wrong for the receiver. Everything else (down, 5xx, our
# key not yet in their directory, clock skew) is retried with backoff until max_attempts. Only a node
# speaking the protocol (a problem+json naming its `code`) can refuse for good: the same status from
# something else on the path (a proxy's HTML 413, a broken peer's garbage) is retried, so a broken or
# hostile peer cannot make us drop a message.
_PERMANENT = {400, 413, 422}


def _permanent(outcome: Outcome) -> bool:
    body = outcome.body
    return outcome.status in _PERMANENT and isinstance(body, dict) and isinstance(body.get("code"), str)


def _peer_for(session: Session, country: str) -> Peer | None:
    peers = repo.active_peers(session, country)
    return peers[0] if peers else None


def claim(
    session: Session, settings: Settings, message_id: uuid.UUID, *, now: datetime | None = None
) -> Attempt | None:
    """Step 1. Returns None if the message is not pending, or another worker claimed it first."""
    cfg = federation_config(settings)
    row = repo.outbox_message(session, message_id)
    if row is None or row.status != OutboxStatus.PENDING.value:
        return None
    now = now or utcnow()
    node = repo.get_node(session)
    peer = _peer_for(session, row.to_country)
    attempts = row.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "next_attempt_at": now + backoff(cfg, attempts),
        "version": row.version + 1,
    }
    signed = None
    if node is None or peer is None:
        values["last_error"] = "no identity for this node" if node is None else f"no PoC of {row.to_country}"
        if attempts >= cfg.max_attempts:
            values["status"] = OutboxStatus.FAILED.value
    else:
        signed = envelope.sign(
            keys.load_node_key(settings),
            id=row.id,
            kind=row.kind,
            from_country=node.country,
            to_country=row.to_country,
            body=row.body,
            sent_at=now,
            confidentiality=row.confidentiality,
            in_reply_to=row.in_reply_to,
        )
        values["envelope"] = signed.to_json().decode()
    if not repo.claim(session, message_id, attempts=row.attempts, values=values):
        return None
    session.refresh(row)
    _audit(session, row, actor=WORKER, action="federation.delivery_attempt", error=values.get("last_error"))
    if signed is None or peer is None:
        return None
    return Attempt(
        message_id=row.id,
        attempts=attempts,
        url=peer.url + MESSAGES_PATH,
        peer_key=bytes(peer.public_key),
        peer_country=peer.country,
        data=signed.to_json(),
        content_digest=signed.content_digest,
    )


def record(
    session: Session, settings: Settings, attempt: Attempt, outcome: Outcome, *, now: datetime | None = None
) -> str:
    """Step 3. Returns the message's status afterwards ("skipped" if another attempt overtook this one)."""
    cfg = federation_config(settings)
    row = repo.outbox_message(session, attempt.message_id, lock=True)
    if row is None or row.status != OutboxStatus.PENDING.value or row.attempts != attempt.attempts:
        return "skipped"
    now = now or utcnow()
    receipt, error = _receipt(attempt, outcome)
    if receipt is not None:
        row.status = OutboxStatus.DELIVERED.value
        row.delivered_at = now
        row.delivered_to = attempt.url
        row.receipt = receipt.raw
        row.last_error = None
        action = "federation.message_delivered"
    else:
        row.last_error = (error or "unknown error")[:1000]
        if _permanent(outcome) or row.attempts >= cfg.max_attempts:
            row.status = OutboxStatus.FAILED.value
        action = "federation.delivery_failed"
    row.version += 1
    session.flush()
    _audit(session, row, actor=WORKER, action=action, http_status=outcome.status, error=row.last_error)
    if receipt is not None:
        _run_delivered_hooks(session, row)
    log.log(
        logging.INFO if receipt else logging.WARNING,
        "federation.outbox.%s id=%s to=%s attempt=%d status=%s error=%s",
        row.status,
        row.id,
        row.to_country,
        row.attempts,
        outcome.status,
        row.last_error,
    )
    return row.status


def _run_delivered_hooks(session: Session, row: OutboxMessage) -> None:
    for hook in list(_DELIVERED_HOOKS):
        try:
            with session.begin_nested():
                hook(session, row)
        except Exception:  # a consumer's bug must not undo a delivery the peer has confirmed
            log.exception("federation.outbox.delivered_hook_failed id=%s hook=%s", row.id, hook.__qualname__)


def _receipt(attempt: Attempt, outcome: Outcome) -> tuple[envelope.Receipt | None, str | None]:
    body = outcome.body if isinstance(outcome.body, dict) else {}
    duplicate = outcome.status == 409 and body.get("code") == envelope.DUPLICATE
    if (outcome.status != 202 and not duplicate) or (outcome.body is None and outcome.error):
        parts = [f"HTTP {outcome.status}" if outcome.status else "no HTTP answer"]
        if body.get("code"):
            parts.append(f" {body['code']}")
        if body.get("detail") or outcome.error:
            parts.append(f": {body.get('detail') or outcome.error}")
        if body.get("field"):
            parts.append(f" (field {body['field']})")
        return None, "".join(parts)
    try:
        receipt = envelope.verify_receipt(
            body.get("receipt"),
            public=attempt.peer_key,
            message_id=attempt.message_id,
            content_digest=attempt.content_digest,
        )
    except envelope.Rejected as exc:
        return None, f"the peer's receipt does not verify: {exc.message}"
    return receipt, None


def deliver_one(
    sessions: sessionmaker[Session], settings: Settings, message_id: uuid.UUID, send: Send
) -> str:
    return _deliver_one(sessions, settings, message_id, send)[0]


def _deliver_one(
    sessions: sessionmaker[Session], settings: Settings, message_id: uuid.UUID, send: Send
) -> tuple[str, Outcome | None]:
    # Both steps write (registry.db.WRITES: on SQLite the write lock is taken before the first read).
    with sessions(execution_options=WRITES) as session, session.begin():
        attempt = claim(session, settings, message_id)
    if attempt is None:  # not pending any more, claimed elsewhere, or no peer/identity (error recorded)
        with sessions() as session:
            row = repo.outbox_message(session, message_id)
            return (row.status if row is not None else "skipped"), None
    outcome = send(attempt)
    with sessions(execution_options=WRITES) as session, session.begin():
        return record(session, settings, attempt, outcome), outcome


def deliver_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    send: Send,
    *,
    now: datetime | None = None,
    limit: int = 50,
    message_ids: list[uuid.UUID] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Send every message whose next attempt is due (or the given ones, due or not, if still pending).

    Once a peer gave no HTTP answer at all (down, timed out, connection cut), its other messages wait for
    the next pass without an attempt: a dead or stalling peer costs one deadline per pass, not one per
    queued message, and cannot hold up the messages to the other states. `should_stop` is asked between
    messages (the server is shutting down)."""
    with sessions() as session:
        ids = (
            message_ids
            if message_ids is not None
            else repo.due_ids(session, now=now or utcnow(), limit=limit)
        )
        rows = [repo.outbox_message(session, message_id) for message_id in ids]
        countries = {row.id: row.to_country for row in rows if row is not None}
    report = DeliveryReport()
    unanswered: set[str] = set()
    for message_id in ids:
        if should_stop is not None and should_stop():
            break
        if countries.get(message_id) in unanswered:
            report.retrying.append(message_id)  # still pending, not attempted in this pass
            continue
        status, outcome = _deliver_one(sessions, settings, message_id, send)
        if outcome is not None and outcome.status == 0:
            unanswered.add(countries.get(message_id, ""))
        {
            OutboxStatus.DELIVERED.value: report.delivered,
            OutboxStatus.FAILED.value: report.failed,
            OutboxStatus.PENDING.value: report.retrying,
        }.get(status, report.skipped).append(message_id)
    return report


def retry(session: Session, *, actor: str, message_id: uuid.UUID) -> OutboxMessage:
    """An officer sends a failed message again (e.g. after the peer fixed its directory)."""
    row = repo.outbox_message(session, message_id, lock=True)
    if row is None:
        raise MessageNotFound(f"no outbound message {message_id}", field="message_id")
    if row.status != OutboxStatus.FAILED.value:
        raise ValidationError(
            f"message {message_id} is {row.status}, only failed messages are retried", field="status"
        )
    row.status = OutboxStatus.PENDING.value
    row.next_attempt_at = utcnow()
    row.attempts = 0
    row.version += 1
    session.flush()
    _audit(session, row, actor=actor, action="federation.message_retried")
    return row


def list_outbox(
    session: Session, *, status: str | None = None, to_country: str | None = None, limit: int = 100
) -> list[OutboxMessage]:
    if status is not None and status not in {s.value for s in OutboxStatus}:
        raise InvalidFederationInput(
            f"status must be one of {', '.join(s.value for s in OutboxStatus)}", field="status"
        )
    country = normalise_country(to_country, field="to_country") if to_country else None
    return list(repo.list_outbox(session, status=status, to_country=country, limit=limit))


def get_outbox(session: Session, message_id: uuid.UUID) -> OutboxMessage:
    row = repo.outbox_message(session, message_id)
    if row is None:
        raise MessageNotFound(f"no outbound message {message_id}", field="message_id")
    return row
