"""The pure envelope module: signing and every reason a message is refused, without a database or network."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.db import new_id
from tracing.federation import envelope as env

NOW = datetime(2026, 11, 24, 23, 0, 0, 123000, tzinfo=UTC)
KE = Ed25519PrivateKey.generate()
UG = Ed25519PrivateKey.generate()
MALLORY = Ed25519PrivateKey.generate()
DIRECTORY = {("KE", env.key_id(env.public_bytes(KE))): env.public_bytes(KE)}


def keys(country: str, kid: str) -> bytes | None:
    if country not in {c for c, _ in DIRECTORY}:
        raise env.Rejected(env.UNKNOWN_SENDER, f"no PoC of {country}")
    return DIRECTORY.get((country, kid))


def signed(key: Ed25519PrivateKey = KE, **overrides: Any) -> env.Envelope:
    fields: dict[str, Any] = {
        "id": new_id(),
        "kind": "trace.request",
        "from_country": "KE",
        "to_country": "UG",
        "body": {"serial": "AB12?45", "markings": [{"text": "IMP KE 2021", "position": "frame left"}]},
        "sent_at": NOW,
    }
    fields.update(overrides)
    return env.sign(key, **fields)


def verify(data: bytes, *, now: datetime = NOW, seen: set[str] | None = None, me: str = "UG") -> env.Envelope:
    return env.verify(data, me=me, keys=keys, now=now, seen_nonce=seen or set())


def reason(data: bytes, **kw: Any) -> str:
    with pytest.raises(env.Rejected) as caught:
        verify(data, **kw)
    return caught.value.reason


def test_a_signed_message_verifies_and_round_trips() -> None:
    message = signed(in_reply_to=uuid.UUID(int=7), confidentiality="confidential")
    got = verify(message.to_json())
    assert got.id == message.id
    assert got.kind == "trace.request"
    assert (got.from_country, got.to_country) == ("KE", "UG")
    assert got.body == message.body
    assert got.in_reply_to == uuid.UUID(int=7)
    assert got.confidentiality == "confidential"
    assert got.sent_at == NOW
    assert got.id.version == 7


def test_the_signature_covers_the_jcs_canonical_form() -> None:
    """Key order and whitespace on the wire do not matter; the signed bytes are RFC 8785 JCS."""
    message = signed()
    reordered = orjson.dumps(dict(reversed(list(message.raw.items()))), option=orjson.OPT_INDENT_2)
    assert verify(reordered).id == message.id
    unsigned = {k: v for k, v in message.raw.items() if k != "signature"}
    env.load_public(env.public_bytes(KE)).verify(
        env.unb64url(message.signature), env.ENVELOPE_PREFIX + rfc8785.dumps(unsigned)
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", {"serial": "AB12345"}),
        ("to_country", "TZ"),
        ("kind", "trace.answer"),
        ("sent_at", "2026-11-24T23:00:01.123Z"),
        ("nonce", "A" * 22),
        ("in_reply_to", str(uuid.UUID(int=1))),
        ("confidentiality", "public"),
    ],
)
def test_changing_any_signed_field_breaks_the_signature(field: str, value: Any) -> None:
    raw = dict(signed().raw)
    raw[field] = value
    assert reason(orjson.dumps(raw), me=raw["to_country"]) == env.BAD_SIGNATURE


def test_forged_signature_by_another_key_claiming_the_senders_key_id() -> None:
    forged = dict(signed(MALLORY).raw)
    forged["key_id"] = env.key_id(env.public_bytes(KE))
    assert reason(orjson.dumps(forged)) == env.BAD_SIGNATURE


def test_unsigned_message_is_malformed() -> None:
    raw = dict(signed().raw)
    del raw["signature"]
    assert reason(orjson.dumps(raw)) == env.MALFORMED


def test_unknown_key_of_a_known_sender() -> None:
    assert reason(signed(MALLORY).to_json()) == env.UNKNOWN_KEY


def test_unknown_sender_country() -> None:
    assert reason(signed(MALLORY, from_country="TZ").to_json()) == env.UNKNOWN_SENDER


def test_addressed_to_another_state() -> None:
    assert reason(signed(to_country="TZ").to_json()) == env.WRONG_RECIPIENT


@pytest.mark.parametrize("offset", [timedelta(minutes=5), timedelta(minutes=-5), timedelta(seconds=1)])
def test_clock_skew_within_tolerance_is_accepted(offset: timedelta) -> None:
    assert verify(signed().to_json(), now=NOW + offset).sent_at == NOW


@pytest.mark.parametrize("offset", [timedelta(minutes=5, seconds=1), timedelta(minutes=-5, seconds=-1)])
def test_clock_skew_beyond_tolerance_is_refused(offset: timedelta) -> None:
    assert reason(signed().to_json(), now=NOW + offset) == env.CLOCK_SKEW


def test_replayed_nonce() -> None:
    message = signed()
    assert reason(message.to_json(), seen={message.nonce}) == env.REPLAYED_NONCE


def test_oversized_message_is_refused_before_parsing() -> None:
    big = signed(body={"text": "x" * env.MAX_MESSAGE_BYTES})
    assert reason(big.to_json()) == env.OVERSIZED


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"[]",
        b'"a string"',
        b"",
    ],
)
def test_malformed_json(data: bytes) -> None:
    assert reason(data) == env.MALFORMED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),
        ("from_country", "KEN"),
        ("sent_at", "2026-11-24 23:00:00"),
        ("nonce", "short"),
        ("key_id", "XYZ"),
        ("confidentiality", "top secret"),
        ("body", ["not", "an", "object"]),
        ("kind", "Trace Request"),
        ("extra", 1),
    ],
)
def test_malformed_fields_are_named(field: str, value: Any) -> None:
    raw = dict(signed().raw)
    raw[field] = value
    with pytest.raises(env.Rejected) as caught:
        verify(orjson.dumps(raw))
    assert caught.value.reason == env.MALFORMED
    assert field in (caught.value.field or "")


def test_unsupported_version() -> None:
    raw = dict(signed().raw)
    raw["v"] = 2
    assert reason(orjson.dumps(raw)) == env.UNSUPPORTED_VERSION


def test_sign_refuses_a_body_that_is_not_plain_json() -> None:
    with pytest.raises(ValueError, match="plain JSON"):
        signed(body={"x": float("nan")})
    with pytest.raises(ValueError, match="alpha-2"):
        signed(to_country="UGA")


def test_content_digest_ignores_what_changes_between_attempts() -> None:
    first = signed()
    again = signed(id=first.id, sent_at=NOW + timedelta(hours=3))
    assert first.nonce != again.nonce
    assert first.signature != again.signature
    assert first.content_digest == again.content_digest
    assert signed(id=first.id, body={"other": 1}).content_digest != first.content_digest


def test_receipt_verifies_and_binds_message_and_content() -> None:
    message = signed()
    receipt = env.sign_receipt(UG, message=message, receiver="UG", received_at=NOW)
    got = env.verify_receipt(
        receipt, public=env.public_bytes(UG), message_id=message.id, content_digest=message.content_digest
    )
    assert (got.message_id, got.from_country, got.to_country) == (message.id, "UG", "KE")
    with pytest.raises(env.Rejected):
        env.verify_receipt(receipt, public=env.public_bytes(UG), message_id=new_id(), content_digest="0" * 64)
    with pytest.raises(env.Rejected) as caught:
        env.verify_receipt(
            receipt,
            public=env.public_bytes(MALLORY),
            message_id=message.id,
            content_digest=message.content_digest,
        )
    assert caught.value.reason == env.UNKNOWN_KEY
    tampered = {**receipt, "received_at": "2026-01-01T00:00:00.000Z"}
    with pytest.raises(env.Rejected) as caught:
        env.verify_receipt(
            tampered,
            public=env.public_bytes(UG),
            message_id=message.id,
            content_digest=message.content_digest,
        )
    assert caught.value.reason == env.BAD_SIGNATURE


def test_a_receipt_signature_is_not_an_envelope_signature() -> None:
    """Domain separation: bytes signed as a receipt never verify as a message, and vice versa."""
    message = signed()
    with pytest.raises(env.Rejected):
        env.check_signature(message.raw, env.public_bytes(KE), prefix=env.RECEIPT_PREFIX)


def test_directory_document_and_entries_verify_and_detect_tampering() -> None:
    entry = env.sign_entry(
        KE,
        country="KE",
        poc_name="PoC Kenya",
        contact="poc@ke.example",
        url="https://ke.example",
        issued_at=NOW,
    )
    doc = env.sign_directory(KE, issuer="KE", entries=[entry], issued_at=NOW)
    got = env.verify_directory(doc)
    assert got.key_id == env.key_id(env.public_bytes(KE))
    assert got.entries[0].url == "https://ke.example"
    swapped = {**entry, "url": "https://evil.example"}
    with pytest.raises(env.Rejected):
        env.verify_entry(swapped)
    with pytest.raises(env.Rejected):
        env.verify_directory({**doc, "entries": [swapped]})


def test_documented_test_vector() -> None:
    """docs/federation.md's example: another implementation must reproduce these exact bytes."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    assert env.b64url(env.public_bytes(key)) == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    message = env.sign(
        key,
        id=uuid.UUID("01a20fd1-b8d4-739c-ac71-ab124c6df939"),
        kind="federation.ping",
        from_country="KE",
        to_country="UG",
        body={"note": "connectivity check"},
        sent_at=NOW,
        nonce="xI84_HKXQttR8nFYfvungQ",
    )
    assert message.key_id == "56475aa75463474c"
    assert message.signature == (
        "-FIQBH8MQHZql1qvAOnJdNWSOZdh7-PT_NpDKdFe3w0kgl_MCRWMkeGEwZnfD6K4qKqN0gjuguutx6SFDsx0BA"
    )
    doc = (Path(__file__).resolve().parents[3] / "docs" / "federation.md").read_text()
    assert message.signature in doc
    assert env.canonical({k: v for k, v in message.raw.items() if k != "signature"}).decode() in doc
