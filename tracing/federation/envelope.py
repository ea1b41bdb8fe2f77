"""Signed message envelopes between national nodes: build, sign and verify. Sans-I/O and pure.

Nothing here touches a database, a file or the network: the caller hands in the keys it trusts, the message
ids and nonces it has already seen, and the current time, and gets back a verified `Envelope` or a `Rejected`
error naming one reason. An auditor or another implementation can check a message with this module alone.

Wire format, version 1 (`"v": 1`), a JSON object::

    {"v": 1, "id": "<UUIDv7>", "kind": "trace.request", "from_country": "KE", "to_country": "UG",
     "sent_at": "2026-11-24T23:00:00.123Z", "nonce": "<22 base64url chars: 16 random bytes>",
     "confidentiality": "restricted", "in_reply_to": null | "<UUID>", "body": {...},
     "key_id": "<16 hex: SHA-256 of the sender's raw public key, first 8 bytes>",
     "signature": "<base64url, no padding: Ed25519 over the signing input>"}

Signing input: the ASCII line ``iti-federation/envelope/v1`` and a newline, then the RFC 8785 (JCS)
canonical JSON of the envelope object without its ``signature`` member. The prefix separates envelope
signatures from receipt and directory signatures made with the same key.

Versioned and frozen: a change needs `"v": 2` and a new prefix; version 1 stays verifiable.

A key rotation announcement (kind `federation.key_rotation`) is an ordinary envelope signed by the key it
retires; its body carries the new key and the new key's proof of possession (`key_rotation_body`,
`verify_key_rotation`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = 1
ENVELOPE_PREFIX = b"iti-federation/envelope/v1\n"
RECEIPT_PREFIX = b"iti-federation/receipt/v1\n"
ENTRY_PREFIX = b"iti-federation/directory-entry/v1\n"
DIRECTORY_PREFIX = b"iti-federation/directory/v1\n"
KEY_ROTATION_PREFIX = b"iti-federation/key-rotation/v1\n"

KEY_ROTATION = "federation.key_rotation"

# Accepted difference between the sender's `sent_at` and the receiver's clock, both ways. Five minutes covers
# NTP-synchronised servers with a generous margin; replays older than this are refused without looking them
# up, and the outbox re-signs a message on every attempt so a long outage never makes it stale.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# A trace request with its markings and text fits in a few kilobytes; photos travel as attachments elsewhere.
MAX_MESSAGE_BYTES = 256 * 1024

CONFIDENTIALITY = ("public", "restricted", "confidential")
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")
ENVELOPE_FIELDS = frozenset(
    {
        "v",
        "id",
        "kind",
        "from_country",
        "to_country",
        "sent_at",
        "nonce",
        "confidentiality",
        "in_reply_to",
        "body",
        "key_id",
        "signature",
    }
)


class Rejected(Exception):
    """An inbound message (or receipt, or directory) failed verification. `reason` is a stable code."""

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


# Stable reason codes (logged, returned as the problem `code`, documented in docs/federation.md).
MALFORMED = "malformed"
OVERSIZED = "oversized"
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_SENDER = "unknown_sender"
UNKNOWN_KEY = "unknown_key"
BAD_SIGNATURE = "bad_signature"
WRONG_RECIPIENT = "wrong_recipient"
CLOCK_SKEW = "clock_skew"
REPLAYED_NONCE = "replayed_nonce"
DUPLICATE = "duplicate_message"
ID_REUSED = "message_id_reused"
# Key rotation announcements (refused by the receiving node's handler, `refused_by_handler` on the wire).
BAD_PROOF = "bad_proof_of_possession"
WRONG_COUNTRY = "wrong_country"
NOT_RETIRING_KEY = "not_signed_by_retiring_key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(obj: Any) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme: the exact bytes both sides sign and check."""
    return rfc8785.dumps(obj)


def format_time(at: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: one spelling per instant so signatures are reproducible."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_time(text: Any, *, field: str) -> datetime:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text):
        raise Rejected(MALFORMED, f"{field} must be a UTC time like 2026-11-24T23:00:00.000Z", field=field)
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise Rejected(MALFORMED, f"{field} is not a valid time", field=field) from None


def key_id(public: bytes) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key (the same rule as audit keys)."""
    return hashlib.sha256(public).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class KeyRing:
    """A node's signing key with a lookup of the keys it replaced (by key id).

    Everything is signed with `current`, except a key rotation announcement: `sign` signs it with the key it
    retires, the one its receivers still trust. So whoever re-signs queued messages (the outbox, at every
    attempt) holds one signer and needs no notion of rotation."""

    current: Ed25519PrivateKey
    retired: Callable[[str], Ed25519PrivateKey | None] = field(default=lambda _kid: None, compare=False)

    def sign(self, data: bytes) -> bytes:
        return self.current.sign(data)

    def public_key(self) -> Ed25519PublicKey:
        return self.current.public_key()


Signer = Ed25519PrivateKey | KeyRing


def public_bytes(key: Signer | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey | KeyRing) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def new_nonce() -> str:
    return b64url(os.urandom(16))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message as signed. `raw` is the JSON object as sent (with its signature)."""

    id: uuid.UUID
    kind: str
    from_country: str
    to_country: str
    sent_at: datetime
    nonce: str
    confidentiality: str
    in_reply_to: uuid.UUID | None
    body: dict[str, Any]
    key_id: str
    signature: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    def to_json(self) -> bytes:
        return orjson.dumps(self.raw)

    @property
    def content_digest(self) -> str:
        return content_digest(self.raw)


def message_content(
    *,
    id: uuid.UUID,
    kind: str,
    from_country: str,
    to_country: str,
    body: Mapping[str, Any],
    confidentiality: str,
    in_reply_to: uuid.UUID | None,
) -> dict[str, Any]:
    """The members of an envelope that do not change between delivery attempts."""
    return {
        "v": VERSION,
        "id": str(id),
        "kind": kind,
        "from_country": from_country,
        "to_country": to_country,
        "confidentiality": confidentiality,
        "in_reply_to": str(in_reply_to) if in_reply_to else None,
        "body": dict(body),
    }


def content_digest(raw: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of what a message says, leaving out what changes between delivery attempts (time,
    nonce, key, signature). Two deliveries of the same message have the same content digest; a receipt
    names it, so the sender can tell the receiver stored exactly what it sent."""
    stable = {k: v for k, v in raw.items() if k not in ("sent_at", "nonce", "key_id", "signature")}
    return hashlib.sha256(canonical(stable)).hexdigest()


def _unsigned(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "signature"}


def sign(
    key: Signer,
    *,
    id: uuid.UUID,
    kind: str,
    from_country: str,
    to_country: str,
    body: Mapping[str, Any],
    sent_at: datetime,
    confidentiality: str = "restricted",
    in_reply_to: uuid.UUID | None = None,
    nonce: str | None = None,
) -> Envelope:
    """Build and sign an envelope. Raises ValueError for content no receiver would accept."""
    key = _signing_key(key, kind, body)
    check_kind(kind)
    if confidentiality not in CONFIDENTIALITY:
        raise ValueError(f"confidentiality must be one of {', '.join(CONFIDENTIALITY)}")
    for name, value in (("from_country", from_country), ("to_country", to_country)):
        if not COUNTRY_PATTERN.fullmatch(value):
            raise ValueError(f"{name} must be an ISO 3166-1 alpha-2 code, got {value!r}")
    raw = message_content(
        id=id,
        kind=kind,
        from_country=from_country,
        to_country=to_country,
        body=body,
        confidentiality=confidentiality,
        in_reply_to=in_reply_to,
    )
    raw.update(sent_at=format_time(sent_at), nonce=nonce or new_nonce(), key_id=key_id(public_bytes(key)))
    try:
        signing_input = ENVELOPE_PREFIX + canonical(raw)
        orjson.dumps(raw)  # what the outbox stores and sends: orjson refuses nesting deeper than 254
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValueError(f"the body is not plain JSON: {exc}") from None
    raw["signature"] = b64url(key.sign(signing_input))
    return _envelope(raw)


def _signing_key(key: Signer, kind: str, body: Mapping[str, Any]) -> Ed25519PrivateKey:
    if not isinstance(key, KeyRing):
        return key
    old_kid = body.get("old_key_id") if kind == KEY_ROTATION else None
    retired = key.retired(old_kid) if isinstance(old_kid, str) else None
    # Without the retired key the announcement goes out under the current one and the receiver refuses it
    # for good (it must come from the key it retires): visible in the outbox, never a stuck delivery pass.
    return retired if retired is not None else key.current


def check_kind(kind: str) -> None:
    if not isinstance(kind, str) or len(kind) > 64 or not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"kind must be dotted lower-case words like 'trace.request', got {kind!r}")


def _envelope(raw: dict[str, Any]) -> Envelope:
    return Envelope(
        id=uuid.UUID(raw["id"]),
        kind=raw["kind"],
        from_country=raw["from_country"],
        to_country=raw["to_country"],
        sent_at=parse_time(raw["sent_at"], field="sent_at"),
        nonce=raw["nonce"],
        confidentiality=raw["confidentiality"],
        in_reply_to=uuid.UUID(raw["in_reply_to"]) if raw.get("in_reply_to") else None,
        body=raw["body"],
        key_id=raw["key_id"],
        signature=raw["signature"],
        raw=raw,
    )


# --- verification -----------------------------------------------------------------------------------------

KeyLookup = Callable[[str, str], bytes | None]
"""(from_country, key_id) -> raw public key of a trusted peer, or None. Raises Rejected(UNKNOWN_SENDER) when
no peer at all is known for the country (the caller knows which of the two it is)."""


def parse(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Bytes off the wire -> a JSON object with every envelope field well-formed. Checks nothing about trust."""
    if len(data) > max_bytes:
        raise Rejected(OVERSIZED, f"the message is {len(data)} bytes; the limit is {max_bytes}")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Rejected(MALFORMED, f"the message is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Rejected(MALFORMED, "the message must be a JSON object")
    try:
        # orjson reads nesting up to 1024 deep but writes only 254: a message the inbox could not store
        # (found by fuzzing) is refused here, not as a 500 the sender would retry for ever.
        orjson.dumps(raw)
    except orjson.JSONEncodeError:
        raise Rejected(MALFORMED, "the message is nested too deeply") from None
    check_shape(raw)
    return raw


def _require(cond: bool, field: str, why: str) -> None:
    if not cond:
        raise Rejected(MALFORMED, f"{field} {why}", field=field)


def check_shape(raw: dict[str, Any]) -> None:
    missing = sorted(ENVELOPE_FIELDS - raw.keys())
    _require(not missing, ", ".join(missing), "missing: a signed envelope has every field")
    unknown = sorted(raw.keys() - ENVELOPE_FIELDS)
    _require(not unknown, ", ".join(unknown), "not part of envelope version 1")
    # `type(...) is int`: JSON `true` and `1.0` equal 1 in Python but are not version 1 (seen writing fuzz/).
    if type(raw["v"]) is not int or raw["v"] != VERSION:
        raise Rejected(UNSUPPORTED_VERSION, f"envelope version {raw['v']!r} is not supported (1)", field="v")
    for name in ("id", "kind", "from_country", "to_country", "sent_at", "nonce", "key_id", "signature"):
        _require(isinstance(raw[name], str), name, "must be a string")
    _require(_is_uuid(raw["id"]), "id", "must be a UUID")
    _require(raw["in_reply_to"] is None or _is_uuid(raw["in_reply_to"]), "in_reply_to", "must be a UUID")
    _require(bool(KIND_PATTERN.fullmatch(raw["kind"])) and len(raw["kind"]) <= 64, "kind", "is not a kind")
    for name in ("from_country", "to_country"):
        _require(bool(COUNTRY_PATTERN.fullmatch(raw[name])), name, "must be an ISO 3166-1 alpha-2 code")
    _require(bool(NONCE_PATTERN.fullmatch(raw["nonce"])), "nonce", "must be 16 bytes in base64url")
    _require(bool(KEY_ID_PATTERN.fullmatch(raw["key_id"])), "key_id", "must be 16 hex digits")
    _require(
        raw["confidentiality"] in CONFIDENTIALITY, "confidentiality", f"must be one of {CONFIDENTIALITY}"
    )
    _require(isinstance(raw["body"], dict), "body", "must be a JSON object")
    parse_time(raw["sent_at"], field="sent_at")


def _is_uuid(text: Any) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def check_signature(raw: Mapping[str, Any], public: bytes, *, prefix: bytes = ENVELOPE_PREFIX) -> None:
    try:
        signature = unb64url(raw["signature"])
        load_public(public).verify(signature, prefix + canonical(_unsigned(raw)))
    except (InvalidSignature, ValueError, binascii.Error):
        raise Rejected(BAD_SIGNATURE, "the signature does not verify with the sender's key") from None
    except rfc8785.CanonicalizationError as exc:
        raise Rejected(MALFORMED, f"the message cannot be canonicalised: {exc}") from None


def verify(
    data: bytes,
    *,
    me: str,
    keys: KeyLookup,
    now: datetime,
    seen_nonce: Container[str] = (),
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_skew: timedelta = MAX_CLOCK_SKEW,
) -> Envelope:
    """Check an inbound message in a fixed order, cheapest and least trusting first: size, JSON shape,
    sender and key, signature, then (only for authentic messages) recipient, time and nonce. Message-id
    duplicates are the store's business (`inbox.receive`), because a duplicate of an accepted message gets
    its original receipt back."""
    raw = parse(data, max_bytes=max_bytes)
    public = keys(raw["from_country"], raw["key_id"])
    if public is None:
        raise Rejected(
            UNKNOWN_KEY,
            f"key {raw['key_id']} is not in the directory for {raw['from_country']}",
            field="key_id",
        )
    check_signature(raw, public)
    if raw["to_country"] != me:
        raise Rejected(
            WRONG_RECIPIENT,
            f"the message is addressed to {raw['to_country']}, this node is {me}",
            field="to_country",
        )
    sent_at = parse_time(raw["sent_at"], field="sent_at")
    if abs(now - sent_at) > max_skew:
        raise Rejected(CLOCK_SKEW, skew_message(raw["sent_at"], sent_at - now, max_skew), field="sent_at")
    if raw["nonce"] in seen_nonce:
        raise Rejected(REPLAYED_NONCE, "this nonce was already used: the message is a replay", field="nonce")
    return _envelope(raw)


def skew_message(sent_at: str, skew: timedelta, tolerance: timedelta) -> str:
    """What the sender's outbox and the receiver's log say: the skew, its direction and the tolerance."""
    side = "ahead of" if skew > timedelta(0) else "behind"
    return (
        f"clock skew: sent_at {sent_at} is {abs(skew).total_seconds():.1f} s {side} this node's clock; the "
        f"tolerance is {tolerance.total_seconds():.0f} s either way. Check NTP on both nodes"
    )


# --- receipts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: uuid.UUID
    content_digest: str
    from_country: str  # the receiver, who signs
    to_country: str  # the sender of the message
    received_at: datetime
    key_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)


def sign_receipt(key: Signer, *, message: Envelope, receiver: str, received_at: datetime) -> dict[str, Any]:
    """The receiver's signed statement "I stored message X with content digest D at time T"."""
    raw: dict[str, Any] = {
        "v": VERSION,
        "type": "receipt",
        "message_id": str(message.id),
        "content_digest": message.content_digest,
        "from_country": receiver,
        "to_country": message.from_country,
        "received_at": format_time(received_at),
        "key_id": key_id(public_bytes(key)),
    }
    raw["signature"] = b64url(key.sign(RECEIPT_PREFIX + canonical(raw)))
    return raw


def verify_receipt(raw: Any, *, public: bytes, message_id: uuid.UUID, content_digest: str) -> Receipt:
    """Check a receipt the peer returned for a message we sent."""
    if not isinstance(raw, dict) or raw.get("type") != "receipt" or raw.get("v") != VERSION:
        raise Rejected(MALFORMED, "the response carries no version 1 receipt", field="receipt")
    for name in ("message_id", "content_digest", "from_country", "to_country", "received_at", "key_id"):
        _require(isinstance(raw.get(name), str), f"receipt.{name}", "must be a string")
    _require(isinstance(raw.get("signature"), str), "receipt.signature", "must be a string")
    if raw["key_id"] != key_id(public):
        raise Rejected(UNKNOWN_KEY, "the receipt is signed with a key the directory does not hold")
    check_signature(raw, public, prefix=RECEIPT_PREFIX)
    if raw["message_id"] != str(message_id) or raw["content_digest"] != content_digest:
        raise Rejected(MALFORMED, "the receipt is for another message or other content", field="receipt")
    return Receipt(
        message_id=message_id,
        content_digest=content_digest,
        from_country=raw["from_country"],
        to_country=raw["to_country"],
        received_at=parse_time(raw["received_at"], field="receipt.received_at"),
        key_id=raw["key_id"],
        raw=raw,
    )


# --- directory entries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    country: str
    poc_name: str
    contact: str
    url: str
    public_key: bytes
    key_id: str
    issued_at: datetime


ENTRY_FIELDS = ("country", "poc_name", "contact", "url", "public_key", "key_id", "issued_at")


def sign_entry(
    key: Signer, *, country: str, poc_name: str, contact: str, url: str, issued_at: datetime
) -> dict[str, Any]:
    """A node's own directory entry, signed with its key: proves that whoever published it holds the key."""
    public = public_bytes(key)
    raw: dict[str, Any] = {
        "v": VERSION,
        "type": "directory-entry",
        "country": country,
        "poc_name": poc_name,
        "contact": contact,
        "url": url,
        "public_key": b64url(public),
        "key_id": key_id(public),
        "issued_at": format_time(issued_at),
    }
    raw["signature"] = b64url(key.sign(ENTRY_PREFIX + canonical(raw)))
    return raw


def verify_entry(raw: Any) -> DirectoryEntry:
    """Check a directory entry's self-signature and shape. Whether to trust the key is the caller's call."""
    if not isinstance(raw, dict) or raw.get("type") != "directory-entry" or raw.get("v") != VERSION:
        raise Rejected(MALFORMED, "not a version 1 directory entry", field="entry")
    for name in (*ENTRY_FIELDS, "signature"):
        _require(isinstance(raw.get(name), str), f"entry.{name}", "must be a string")
    _require(bool(COUNTRY_PATTERN.fullmatch(raw["country"])), "entry.country", "must be alpha-2")
    try:
        public = unb64url(raw["public_key"])
        load_public(public)
    except (ValueError, binascii.Error):
        raise Rejected(
            MALFORMED, "entry.public_key is not an Ed25519 key", field="entry.public_key"
        ) from None
    if raw["key_id"] != key_id(public):
        raise Rejected(MALFORMED, "entry.key_id does not match its public key", field="entry.key_id")
    check_signature(raw, public, prefix=ENTRY_PREFIX)
    return DirectoryEntry(
        country=raw["country"],
        poc_name=raw["poc_name"],
        contact=raw["contact"],
        url=raw["url"],
        public_key=public,
        key_id=raw["key_id"],
        issued_at=parse_time(raw["issued_at"], field="entry.issued_at"),
    )


def sign_directory(
    key: Signer, *, issuer: str, entries: list[dict[str, Any]], issued_at: datetime
) -> dict[str, Any]:
    """A directory document: signed entries, signed again as a whole by the issuing node."""
    raw: dict[str, Any] = {
        "v": VERSION,
        "type": "directory",
        "issuer": issuer,
        "issued_at": format_time(issued_at),
        "key_id": key_id(public_bytes(key)),
        "public_key": b64url(public_bytes(key)),
        "entries": entries,
    }
    raw["signature"] = b64url(key.sign(DIRECTORY_PREFIX + canonical(raw)))
    return raw


@dataclass(frozen=True, slots=True)
class Directory:
    issuer: str
    key_id: str
    public_key: bytes
    issued_at: datetime
    entries: list[DirectoryEntry]


def verify_directory(raw: Any) -> Directory:
    """Check a directory document's signature with the key it names, and every entry's own signature. The
    caller then decides whether it trusts the issuer's key (a known peer, or a fingerprint checked by phone)."""
    if not isinstance(raw, dict) or raw.get("type") != "directory" or raw.get("v") != VERSION:
        raise Rejected(MALFORMED, "not a version 1 directory document", field="document")
    for name in ("issuer", "issued_at", "key_id", "public_key", "signature"):
        _require(isinstance(raw.get(name), str), name, "must be a string")
    _require(isinstance(raw.get("entries"), list), "entries", "must be a list")
    try:
        public = unb64url(raw["public_key"])
        load_public(public)
    except (ValueError, binascii.Error):
        raise Rejected(MALFORMED, "public_key is not an Ed25519 key", field="public_key") from None
    if raw["key_id"] != key_id(public):
        raise Rejected(MALFORMED, "key_id does not match the public key", field="key_id")
    check_signature(raw, public, prefix=DIRECTORY_PREFIX)
    return Directory(
        issuer=raw["issuer"],
        key_id=raw["key_id"],
        public_key=public,
        issued_at=parse_time(raw["issued_at"], field="issued_at"),
        entries=[verify_entry(e) for e in raw["entries"]],
    )


# --- key rotation announcements ---------------------------------------------------------------------------

KEY_ROTATION_FIELDS = frozenset(
    {"country", "old_key_id", "new_key_id", "new_public_key", "effective_at", "proof"}
)


@dataclass(frozen=True, slots=True)
class KeyRotation:
    country: str
    old_key_id: str
    new_key_id: str
    new_public_key: bytes
    effective_at: datetime


def rotation_statement(*, country: str, old_key_id: str, new_key_id: str) -> bytes:
    """What the new key signs as its proof of possession: it consents to replace `old_key_id` for `country`.
    Without it, the holder of an old key could announce someone else's public key as its own."""
    statement = {
        "v": VERSION,
        "type": "key-rotation",
        "country": country,
        "old_key_id": old_key_id,
        "new_key_id": new_key_id,
    }
    return KEY_ROTATION_PREFIX + canonical(statement)


def key_rotation_body(
    new_key: Ed25519PrivateKey, *, country: str, old_key_id: str, effective_at: datetime
) -> dict[str, Any]:
    """The body of a `federation.key_rotation` message. The envelope around it is signed by the old key."""
    public = public_bytes(new_key)
    new_kid = key_id(public)
    proof = new_key.sign(rotation_statement(country=country, old_key_id=old_key_id, new_key_id=new_kid))
    return {
        "country": country,
        "old_key_id": old_key_id,
        "new_key_id": new_kid,
        "new_public_key": b64url(public),
        "effective_at": format_time(effective_at),
        "proof": b64url(proof),
    }


def verify_key_rotation(body: Mapping[str, Any], *, from_country: str, signed_by: str) -> KeyRotation:
    """Check the body of a `federation.key_rotation` envelope that `verify` accepted: its shape, that it
    speaks for the sender's own country and comes from the key it retires (`signed_by`, the envelope's
    key_id), and the new key's proof of possession. Raises Rejected."""
    missing = sorted(KEY_ROTATION_FIELDS - body.keys())
    _require(not missing, ", ".join(f"body.{m}" for m in missing), "missing from a key rotation")
    unknown = sorted(body.keys() - KEY_ROTATION_FIELDS)
    _require(not unknown, ", ".join(f"body.{u}" for u in unknown), "not part of a key rotation")
    for name in KEY_ROTATION_FIELDS:
        _require(isinstance(body[name], str), f"body.{name}", "must be a string")
    _require(bool(COUNTRY_PATTERN.fullmatch(body["country"])), "body.country", "must be alpha-2")
    for name in ("old_key_id", "new_key_id"):
        _require(bool(KEY_ID_PATTERN.fullmatch(body[name])), f"body.{name}", "must be 16 hex digits")
    effective_at = parse_time(body["effective_at"], field="body.effective_at")
    try:
        public = unb64url(body["new_public_key"])
        load_public(public)
    except (ValueError, binascii.Error):
        raise Rejected(
            MALFORMED, "body.new_public_key is not an Ed25519 key", field="body.new_public_key"
        ) from None
    _require(body["new_key_id"] == key_id(public), "body.new_key_id", "does not match body.new_public_key")
    _require(body["new_key_id"] != body["old_key_id"], "body.new_key_id", "must differ from the old key")
    if body["country"] != from_country:
        raise Rejected(
            WRONG_COUNTRY,
            f"a node announces keys for its own state only: {from_country} sent a key for {body['country']}",
            field="body.country",
        )
    if body["old_key_id"] != signed_by:
        raise Rejected(
            NOT_RETIRING_KEY,
            f"the rotation of key {body['old_key_id']} must be signed by that key, not by {signed_by}",
            field="key_id",
        )
    statement = rotation_statement(
        country=body["country"], old_key_id=body["old_key_id"], new_key_id=body["new_key_id"]
    )
    try:
        load_public(public).verify(unb64url(body["proof"]), statement)
    except (InvalidSignature, ValueError, binascii.Error):
        raise Rejected(
            BAD_PROOF,
            "the proof of possession does not verify with the new key: the announcement is not the new key "
            "holder's",
            field="body.proof",
        ) from None
    return KeyRotation(
        country=body["country"],
        old_key_id=body["old_key_id"],
        new_key_id=body["new_key_id"],
        new_public_key=public,
        effective_at=effective_at,
    )
