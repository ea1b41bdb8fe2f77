"""Fuzz the federation envelope parser and verifier (`tracing.federation.envelope.verify`).

Documented errors: `Rejected` with one of the stable reason codes, nothing else. Half the inputs are raw
bytes; the other half are envelopes around a fuzzed JSON body, correctly signed with a key the verifier
trusts, so the fuzzer reaches canonicalisation, signature checks and the recipient/time/nonce rules.
Round trip: a message we signed verifies, and its body and content digest come back unchanged.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fuzz._runner import fuzz, time_bound
from tracing.federation import envelope

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = envelope.public_bytes(KEY)
KID = envelope.key_id(PUBLIC)
NOW = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
REASONS = {
    envelope.MALFORMED, envelope.OVERSIZED, envelope.UNSUPPORTED_VERSION, envelope.UNKNOWN_SENDER,
    envelope.UNKNOWN_KEY, envelope.BAD_SIGNATURE, envelope.WRONG_RECIPIENT, envelope.CLOCK_SKEW,
    envelope.REPLAYED_NONCE,
}  # fmt: skip
SEEN = {"A" * 22}


def keys(country: str, kid: str) -> bytes | None:
    if country != "UG":
        raise envelope.Rejected(envelope.UNKNOWN_SENDER, f"no peer for {country}", field="from_country")
    return PUBLIC if kid == KID else None


def _signed(data: bytes) -> tuple[bytes, envelope.Envelope] | None:
    """A correctly signed envelope whose body is the fuzzed JSON (if it is a JSON object we can sign)."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        body = {"value": body}
    try:
        env = envelope.sign(
            KEY, id=uuid.UUID(int=len(data)), kind="trace.request", from_country="UG", to_country="KE",
            body=body, sent_at=NOW,
        )  # fmt: skip
    except ValueError:
        return None  # not plain JSON (e.g. an integer beyond I-JSON): we never send it, so skip
    return env.to_json(), env


def check(data: bytes) -> None:
    signed = _signed(data[1:]) if data[:1] == b"\x01" else None
    wire = signed[0] if signed else data
    with time_bound():
        try:
            got = envelope.verify(wire, me="KE", keys=keys, now=NOW, seen_nonce=SEEN)
        except envelope.Rejected as exc:
            assert exc.reason in REASONS, exc.reason
            assert signed is None or exc.reason == envelope.OVERSIZED, (exc.reason, exc.message)
            return
    assert got.content_digest  # canonicalises without raising
    assert type(got.raw["v"]) is int, got.raw["v"]  # `true` and `1.0` are not version 1
    if signed is not None:
        assert got.body == signed[1].body
        assert got.content_digest == signed[1].content_digest


if __name__ == "__main__":
    fuzz(check)
