"""Node identity and the directory of peer PoCs: the rules, with an audit entry for every change."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.config import Settings
from registry.db import utcnow
from registry.reference.countries import normalise_country
from tracing.federation import envelope, keys, outbox
from tracing.federation import repository as repo
from tracing.federation.errors import (
    InvalidFederationInput,
    KeyRotationRefused,
    NodeAlreadyInitialised,
    NodeNotInitialised,
    NoPeer,
    PeerConflict,
    UntrustedDirectory,
)
from tracing.federation.models import FederationNode, Peer

log = logging.getLogger(__name__)


def check_url(url: str, *, field: str = "url") -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidFederationInput(
            f"{field} must be the node's base URL like https://iti.example.gov (got {url!r})", field=field
        )
    return url.strip().rstrip("/")


def _text(value: str, *, field: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise InvalidFederationInput(f"{field} must be 1 to {limit} characters", field=field)
    return value


# --- this node --------------------------------------------------------------------------------------------


def get_node(session: Session) -> FederationNode:
    node = repo.get_node(session)
    if node is None:
        raise NodeNotInitialised()
    return node


def init_node(
    session: Session,
    settings: Settings,
    *,
    actor: str,
    country: str,
    poc_name: str,
    contact: str,
    url: str,
) -> FederationNode:
    """Create the node's identity and its signing key (the key file is written before the row; a failed
    transaction leaves a key file that a second `init` refuses to overwrite: move it aside first)."""
    if repo.get_node(session) is not None:
        raise NodeAlreadyInitialised("this node already has a federation identity", field="node")
    code = normalise_country(country, field="country")
    if settings.node_country and normalise_country(settings.node_country, field="ITI_NODE_COUNTRY") != code:
        raise InvalidFederationInput(
            f"ITI_NODE_COUNTRY is {settings.node_country}, but --country says {code}", field="country"
        )
    values = {
        "country": code,
        "poc_name": _text(poc_name, field="poc_name", limit=200),
        "contact": _text(contact, field="contact", limit=500),
        "url": check_url(url),
    }
    key = keys.create_node_key(settings)
    public = envelope.public_bytes(key)
    now = utcnow()
    node = FederationNode(
        singleton=1,
        key_id=envelope.key_id(public),
        public_key=public,
        created_at=now,
        updated_at=now,
        version=1,
        **values,
    )
    session.add(node)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="federation.node_initialised",
        subject=f"federation_node:{node.id}",
        records=[audit.snapshot_obj(node)],
        info={"country": code, "key_id": node.key_id},
    )
    log.info("federation.node.initialised country=%s key_id=%s", code, node.key_id)
    return node


def update_node(
    session: Session,
    *,
    actor: str,
    poc_name: str | None = None,
    contact: str | None = None,
    url: str | None = None,
) -> FederationNode:
    node = get_node(session)
    if poc_name is not None:
        node.poc_name = _text(poc_name, field="poc_name", limit=200)
    if contact is not None:
        node.contact = _text(contact, field="contact", limit=500)
    if url is not None:
        node.url = check_url(url)
    node.updated_at = utcnow()
    node.version += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="federation.node_updated",
        subject=f"federation_node:{node.id}",
        records=[audit.snapshot_obj(node)],
    )
    return node


def node_entry(session: Session, settings: Settings) -> dict[str, Any]:
    """This node's directory entry, signed with its key (what `GET /api/v1/federation/node` publishes)."""
    node = get_node(session)
    return envelope.sign_entry(
        keys.load_node_key(settings),
        country=node.country,
        poc_name=node.poc_name,
        contact=node.contact,
        url=node.url,
        issued_at=utcnow(),
    )


def export_directory(session: Session, settings: Settings) -> dict[str, Any]:
    """A directory document signed by this node holding its own self-signed entry (`iti node export-entry`).
    Peers' entries are not re-exported: their self-signatures are not kept, and each state publishes its own."""
    node = get_node(session)
    entries = [node_entry(session, settings)]
    return envelope.sign_directory(
        keys.load_node_key(settings), issuer=node.country, entries=entries, issued_at=utcnow()
    )


# How long a peer keeps accepting a key that a rotation announcement replaced: every process of the sender
# picks up the new key at its next signature and the outbox re-signs each attempt, so only messages signed
# just before the rotation are still under the old key, and they are stale after MAX_CLOCK_SKEW anyway. A
# day is a wide margin for another implementation that signs once and retries for hours.
KEY_ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class KeyRotation:
    old_key_id: str
    key_id: str
    effective_at: datetime
    handover: dict[str, Any]  # directory with the new self-signed entry, signed by the old key
    announced: dict[str, uuid.UUID] = field(default_factory=dict)  # peer state -> message id


def rotate_key(session: Session, settings: Settings, *, actor: str, announce: bool = True) -> KeyRotation:
    """Replace this node's key, from the next signature on, in every process (keys.py).

    With `announce`, queue to every peer state a `federation.key_rotation` message signed by the OLD key and
    carrying the new key with its proof of possession: a peer that trusts the old key accepts the new one
    when it arrives, and keeps accepting the old one for its grace period. The outbox retries it like any
    message, so a peer that is down gets it when it returns. Do not announce when the old key may be
    compromised: whoever holds it could announce a key of their own the same way (docs/federation.md).

    The returned hand-over document says the same for peers that take it by hand (`iti peer import`)."""
    node = get_node(session)
    old_kid = node.key_id
    old, new, _retired = keys.rotate_node_key(settings)
    now = utcnow()
    public = envelope.public_bytes(new)
    node.public_key = public
    node.key_id = envelope.key_id(public)
    node.updated_at = now
    node.version += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="federation.node_key_rotated",
        subject=f"federation_node:{node.id}",
        records=[audit.snapshot_obj(node)],
        info={"old_key_id": old_kid, "key_id": node.key_id, "announce": announce},
    )
    log.info("federation.node.key_rotated old=%s new=%s", old_kid, node.key_id)
    entry = envelope.sign_entry(
        new, country=node.country, poc_name=node.poc_name, contact=node.contact, url=node.url, issued_at=now
    )
    handover = envelope.sign_directory(old, issuer=node.country, entries=[entry], issued_at=now)
    announced: dict[str, uuid.UUID] = {}
    if announce:
        body = envelope.key_rotation_body(new, country=node.country, old_key_id=old_kid, effective_at=now)
        # One message per state, to its first PoC (as every message): the directory's unit is the state.
        for country in sorted({p.country for p in repo.active_peers(session)}):
            announced[country] = outbox.enqueue(
                session,
                to_country=country,
                kind=envelope.KEY_ROTATION,
                body=body,
                confidentiality="public",
                actor=actor,
            )
        log.info("federation.node.key_announced key_id=%s to=%s", node.key_id, ",".join(announced))
    return KeyRotation(old_kid, node.key_id, now, handover, announced)


def rotate_node_key(session: Session, settings: Settings, *, actor: str) -> dict[str, Any]:
    """Replace this node's key without announcing it; returns the hand-over document only. Until a peer has
    imported it, our messages to it are refused as `unknown_key` and stay queued; they go through once it
    has."""
    return rotate_key(session, settings, actor=actor, announce=False).handover


def apply_key_rotation(
    session: Session, *, message_id: uuid.UUID, from_country: str, signed_by: str, body: Any, now: datetime
) -> Peer:
    """A peer announced its new key (`federation.key_rotation`; the envelope's signature by `signed_by` is
    verified already). Add the new key to the PoC that `signed_by` belongs to, with the same contact, URL
    and priority, and schedule the old key's removal at the end of the grace period. Other PoCs of that
    state are not touched: each rotates its own key. Raises KeyRotationRefused."""
    if not isinstance(body, dict):
        raise KeyRotationRefused("the body of a key rotation must be a JSON object", field="body")
    try:
        rotation = envelope.verify_key_rotation(body, from_country=from_country, signed_by=signed_by)
    except envelope.Rejected as exc:
        raise KeyRotationRefused(exc.message, field=exc.field, reason=exc.reason) from None
    old = repo.peer_by_key(session, rotation.country, rotation.old_key_id)
    if old is None:  # cannot happen after `verify`: the key it checked is this row's
        raise KeyRotationRefused(f"key {rotation.old_key_id} is not in the directory", field="key_id")
    present = repo.peer_by_key(session, rotation.country, rotation.new_key_id)
    if old.removed_at is not None:
        # A replaced key, accepted only for its grace period, vouches for nothing more: were its holder an
        # attacker, they could otherwise redirect the state's messages to a key of theirs.
        raise KeyRotationRefused(
            f"key {old.key_id} of {old.country} was already replaced or removed; it cannot announce a key",
            field="key_id",
        )
    node = repo.get_node(session)
    if node is not None and node.key_id == rotation.new_key_id:
        raise KeyRotationRefused("the announced key is this node's own key", field="body.new_key_id")
    if present is not None and present.removed_at is not None:
        raise KeyRotationRefused(
            f"key {rotation.new_key_id} of {rotation.country} was removed from this directory; an officer "
            "restores it by hand if that was a mistake",
            field="body.new_key_id",
        )
    if present is None:
        present = Peer(
            country=old.country,
            key_id=rotation.new_key_id,
            public_key=rotation.new_public_key,
            poc_name=old.poc_name,
            contact=old.contact,
            url=old.url,
            priority=old.priority,
            source=f"key rotation of {old.key_id} (message {message_id})",
            added_at=now,
            version=1,
        )
        session.add(present)
    # Grace from the announced switch, but never beyond now + grace whatever the sender claims.
    old.removed_at = min(rotation.effective_at, now) + KEY_ROTATION_GRACE
    old.version += 1
    session.flush()
    audit.record(
        session,
        actor=f"federation:{from_country}",
        action="federation.peer_key_rotated",
        subject=f"federation_peer:{old.id}",
        records=[audit.snapshot_obj(old), audit.snapshot_obj(present)],
        info={
            "country": old.country,
            "old_key_id": old.key_id,
            "key_id": present.key_id,
            "old_key_accepted_until": envelope.format_time(old.removed_at),
            "message_id": str(message_id),
        },
    )
    log.info(
        "federation.peer.key_rotated country=%s old=%s new=%s old_accepted_until=%s message=%s",
        old.country,
        old.key_id,
        present.key_id,
        envelope.format_time(old.removed_at),
        message_id,
    )
    return present


# --- peers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerInput:
    country: str
    url: str
    public_key: str  # base64url (as published) or 64 hex digits
    poc_name: str
    contact: str
    priority: int = 0


def parse_public_key(text: str) -> bytes:
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else envelope.unb64url(text)
        envelope.load_public(raw)
    except ValueError:
        raise InvalidFederationInput(
            "public_key must be an Ed25519 public key: 43 base64url characters or 64 hex digits",
            field="public_key",
        ) from None
    return raw


def add_peer(session: Session, *, actor: str, data: PeerInput, source: str = "manual") -> Peer:
    country = normalise_country(data.country, field="country")
    public = parse_public_key(data.public_key)
    kid = envelope.key_id(public)
    node = repo.get_node(session)
    if node is not None and node.key_id == kid:
        raise PeerConflict("this is this node's own key, not a peer's", field="public_key")
    if data.priority < 0:
        raise InvalidFederationInput("priority must be 0 or more", field="priority")
    existing = repo.peer_by_key(session, country, kid)
    if existing is not None and existing.removed_at is None:
        raise PeerConflict(
            f"key {kid} is already in the directory for {country}",
            field="public_key",
            peer_id=str(existing.id),
        )
    values = {
        "poc_name": _text(data.poc_name, field="poc_name", limit=200),
        "contact": _text(data.contact, field="contact", limit=500),
        "url": check_url(data.url),
        "priority": data.priority,
        "source": source[:200],
    }
    if existing is not None:  # re-adding a removed PoC brings the same row back
        for k, v in values.items():
            setattr(existing, k, v)
        existing.removed_at = None
        existing.version += 1
        peer = existing
        action = "federation.peer_restored"
    else:
        peer = Peer(country=country, key_id=kid, public_key=public, added_at=utcnow(), version=1, **values)
        session.add(peer)
        action = "federation.peer_added"
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        subject=f"federation_peer:{peer.id}",
        records=[audit.snapshot_obj(peer)],
        info={"country": country, "key_id": kid, "source": peer.source},
    )
    log.info("%s country=%s key_id=%s", action.replace("_", ".", 1), country, kid)
    return peer


def list_peers(session: Session, *, include_removed: bool = False) -> Sequence[Peer]:
    """The directory: PoCs whose keys are accepted (with a key replaced by a rotation until its grace period
    ends, its `removed_at` then ahead), or every PoC ever listed."""
    return repo.all_peers(session) if include_removed else repo.trusted_peers(session, now=utcnow())


def find_peer(session: Session, ref: str) -> Peer:
    """A peer by id, or by key id (unique enough across states in practice; ambiguous ones are refused)."""
    try:
        found = repo.peer(session, uuid.UUID(ref))
    except ValueError:
        matches = [p for p in repo.all_peers(session) if p.key_id == ref.strip().lower()]
        if len(matches) > 1:
            raise PeerConflict(f"key id {ref} names several peers: use the peer id", field="peer") from None
        found = matches[0] if matches else None
    if found is None:
        raise NoPeer(f"no peer {ref}", field="peer")
    return found


def remove_peer(session: Session, *, actor: str, ref: str) -> Peer:
    peer = find_peer(session, ref)
    now = utcnow()
    # A key in its grace period after a rotation can be removed at once (e.g. it turns out compromised).
    if peer.removed_at is not None and peer.removed_at <= now:
        raise PeerConflict(f"peer {peer.id} was already removed", field="peer")
    peer.removed_at = now
    peer.version += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="federation.peer_removed",
        subject=f"federation_peer:{peer.id}",
        records=[audit.snapshot_obj(peer)],
        info={"country": peer.country, "key_id": peer.key_id},
    )
    return peer


@dataclass(frozen=True)
class ImportResult:
    issuer: str
    issuer_key_id: str
    added: list[Peer]
    unchanged: list[str]  # key ids already present
    skipped_own: bool


def import_directory(
    session: Session, *, actor: str, document: Any, fingerprint: str | None = None, source: str = "import"
) -> ImportResult:
    """Import a signed directory document. The issuer's signature must verify, and the issuer must be
    trusted: either a peer already in our directory, or the key whose fingerprint (key id) the operator
    checked with the issuing PoC by another channel and passes as `fingerprint`."""
    try:
        directory = envelope.verify_directory(document)
    except envelope.Rejected as exc:
        raise UntrustedDirectory(
            f"the directory does not verify: {exc.message}", field=exc.field or "document"
        ) from None
    known = repo.peer_by_key(session, directory.issuer, directory.key_id)
    trusted_peer = known is not None and known.removed_at is None
    if fingerprint is not None and fingerprint.strip().lower() != directory.key_id:
        raise UntrustedDirectory(
            f"the document is signed by key {directory.key_id}, not the fingerprint {fingerprint} you checked",
            field="fingerprint",
        )
    if not trusted_peer and fingerprint is None:
        raise UntrustedDirectory(
            f"the issuer {directory.issuer} (key {directory.key_id}) is not a known peer: compare this key id "
            "with the issuing PoC by phone or letter and pass it with --fingerprint",
            field="fingerprint",
            key_id=directory.key_id,
        )
    node = repo.get_node(session)
    added, unchanged, skipped_own = [], [], False
    for entry in directory.entries:
        if node is not None and entry.key_id == node.key_id:
            skipped_own = True
            continue
        present = repo.peer_by_key(session, entry.country, entry.key_id)
        if present is not None and present.removed_at is None:
            unchanged.append(entry.key_id)
            continue
        data = PeerInput(
            country=entry.country,
            url=entry.url,
            public_key=envelope.b64url(entry.public_key),
            poc_name=entry.poc_name,
            contact=entry.contact,
        )
        added.append(
            add_peer(
                session, actor=actor, data=data, source=f"{source} ({directory.issuer} {directory.key_id})"
            )
        )
    return ImportResult(directory.issuer, directory.key_id, added, unchanged, skipped_own)
