"""Signed tree heads and the encrypted signing key file."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.audit.signing import (
    TreeHead,
    generate_signing_key,
    key_id,
    load_signing_key,
    public_key_bytes,
    save_signing_key,
    sign_tree_head,
    verify_tree_head,
)
from registry.errors import AuditKeyError

PASSPHRASE = b"correct horse battery staple"
# RFC 8032 §7.1, TEST 1: a published Ed25519 key pair, so the encodings below are checkable elsewhere.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
# MTH of the 8 RFC 6962 reference leaves (see test_merkle.py).
ROOT8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
WHEN = datetime(2024, 5, 1, 12, 30, 45, 678901, tzinfo=UTC)
# Signature of the head in test_canonical_bytes_are_frozen under the RFC 8032 key (Ed25519 is
# deterministic). If this changes, every head ever signed stops verifying.
KNOWN_SIGNATURE = (
    "4a9ad4147dd63bd0cc20b5c6407dc63897a445c2e92dea972ce027dfd29b55a0"
    "24b0eabccbcded6a020629be41affdf2592101fc07f42cbc63a9ce6da2a4c701"
)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return generate_signing_key()


def test_key_file_round_trip(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "keys" / "nested" / "audit-signing.pem"  # parents are created
    save_signing_key(key, path, PASSPHRASE)
    loaded = load_signing_key(path, PASSPHRASE)
    assert public_key_bytes(loaded) == public_key_bytes(key)
    head, signature = sign_tree_head(loaded, size=8, root=ROOT8, timestamp=WHEN)
    assert verify_tree_head(public_key_bytes(key), head, signature)


def test_key_file_is_encrypted_and_owner_only(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "k.pem"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        save_signing_key(key, path, PASSPHRASE)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSPHRASE not in data
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]  # no temporary file left behind


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "k.pem"
    save_signing_key(key, path, PASSPHRASE)
    other = generate_signing_key()
    with pytest.raises(AuditKeyError, match="already exists"):
        save_signing_key(other, path, PASSPHRASE)
    assert public_key_bytes(load_signing_key(path, PASSPHRASE)) == public_key_bytes(key)
    save_signing_key(other, path, PASSPHRASE, overwrite=True)
    assert public_key_bytes(load_signing_key(path, PASSPHRASE)) == public_key_bytes(other)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_rejects_empty_passphrase(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(AuditKeyError, match="must not be empty") as info:
        save_signing_key(key, tmp_path / "k.pem", b"")
    assert info.value.field == "passphrase"
    assert not (tmp_path / "k.pem").exists()


def test_wrong_passphrase(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "k.pem"
    save_signing_key(key, path, PASSPHRASE)
    wrong = b"Tr0ub4dor&3"
    with pytest.raises(AuditKeyError, match="wrong passphrase") as info:
        load_signing_key(path, wrong)
    err = info.value
    assert err.code == "audit_key"
    assert err.field == "passphrase"
    # Neither passphrase may surface anywhere: message, details, or a chained exception.
    shown = repr(err.as_dict()) + str(err) + repr(err.details)
    for secret in (wrong, PASSPHRASE):
        assert secret.decode() not in shown
    assert err.__cause__ is None
    assert err.__suppress_context__


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AuditKeyError, match="not found") as info:
        load_signing_key(tmp_path / "absent.pem", PASSPHRASE)
    assert info.value.details["path"] == str(tmp_path / "absent.pem")


def test_not_an_ed25519_key(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    path.write_bytes(pem)
    with pytest.raises(AuditKeyError, match="not an Ed25519 key"):
        load_signing_key(path, PASSPHRASE)


def test_unencrypted_and_garbage_files(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    plain = tmp_path / "plain.pem"
    plain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(AuditKeyError, match="not passphrase-encrypted"):
        load_signing_key(plain, PASSPHRASE)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a key\n")
    with pytest.raises(AuditKeyError, match="not a valid PEM private key"):
        load_signing_key(garbage, PASSPHRASE)
    with pytest.raises(AuditKeyError, match="passphrase is required"):
        load_signing_key(garbage, b"")


def test_public_key_and_key_id_of_rfc8032_key() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert public_key_bytes(key) == RFC8032_PUBLIC
    assert public_key_bytes(key.public_key()) == RFC8032_PUBLIC
    assert key_id(RFC8032_PUBLIC) == hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16] == "21fe31dfa154a261"
    with pytest.raises(ValueError, match="32 bytes"):
        key_id(RFC8032_PUBLIC[:31])


def test_canonical_bytes_are_frozen() -> None:
    head = TreeHead(size=8, root=ROOT8, timestamp=WHEN, key_id="21fe31dfa154a261")
    # 2024-05-01T12:30:45.678901Z = 1714566645.678901 s; encoded in whole milliseconds (truncated).
    assert head.canonical_bytes() == (
        b"iti-registry/tree-head/v1\n"
        b"8\n"
        b"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n"
        b"1714566645678\n"
        b"21fe31dfa154a261\n"
    )
    assert head.timestamp == datetime(2024, 5, 1, 12, 30, 45, 678000, tzinfo=UTC)
    # Ed25519 is deterministic: the signature under the RFC 8032 key pins format and signing together.
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    signed, signature = sign_tree_head(key, size=8, root=ROOT8, timestamp=WHEN)
    assert signed == head
    assert signature.hex() == KNOWN_SIGNATURE
    assert verify_tree_head(RFC8032_PUBLIC, head, bytes.fromhex(KNOWN_SIGNATURE))


def test_timestamps_normalise_to_utc_milliseconds() -> None:
    plus_two = WHEN.astimezone(timezone(timedelta(hours=2)))
    a = TreeHead(size=1, root=ROOT8, timestamp=WHEN, key_id="k")
    # .678901 + 98 µs = .678999: still millisecond 678 once truncated.
    b = TreeHead(size=1, root=ROOT8, timestamp=plus_two + timedelta(microseconds=98), key_id="k")
    assert a == b
    assert a.canonical_bytes() == b.canonical_bytes()
    assert b.timestamp.tzinfo is UTC
    before_epoch = TreeHead(
        size=0, root=ROOT8, timestamp=datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), key_id="k"
    )
    assert before_epoch.timestamp_ms == -1


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"size": -1}, "non-negative"),
        ({"size": True}, "non-negative"),
        ({"root": ROOT8[:31]}, "32 bytes"),
        ({"root": ROOT8.hex()}, "32 bytes"),
        ({"timestamp": WHEN.replace(tzinfo=None)}, "timezone-aware"),
        ({"key_id": ""}, "key_id"),
        ({"key_id": "abc\n8"}, "key_id"),  # a newline would make the encoding ambiguous
        ({"key_id": "a b"}, "key_id"),
        ({"key_id": "k" * 65}, "key_id"),
    ],
)
def test_tree_head_rejects_malformed_fields(changes: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"size": 8, "root": ROOT8, "timestamp": WHEN, "key_id": "k"} | changes
    with pytest.raises(ValueError, match=match):
        TreeHead(**fields)  # type: ignore[arg-type]


def test_signature_binds_every_field(key: Ed25519PrivateKey) -> None:
    public = public_key_bytes(key)
    head, signature = sign_tree_head(key, size=8, root=ROOT8, timestamp=WHEN)
    assert head.key_id == key_id(public)
    assert verify_tree_head(public, head, signature)

    other_root = hashlib.sha256(b"other").digest()
    for changed in (
        dataclasses.replace(head, size=9),
        dataclasses.replace(head, size=0),
        dataclasses.replace(head, root=other_root),
        dataclasses.replace(head, timestamp=WHEN + timedelta(milliseconds=1)),
        dataclasses.replace(head, key_id="0000000000000000"),
    ):
        assert not verify_tree_head(public, changed, signature), changed

    other_key = generate_signing_key()
    assert not verify_tree_head(public_key_bytes(other_key), head, signature)
    # Signed by another key but claiming this key's id: the signature check itself fails.
    forged = other_key.sign(head.canonical_bytes())
    assert not verify_tree_head(public, head, forged)
    # Another key's own head does not verify under this key either.
    other_head, other_sig = sign_tree_head(other_key, size=8, root=ROOT8, timestamp=WHEN)
    assert not verify_tree_head(public, other_head, other_sig)


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (b"", None),
        (b"\x00" * 31, None),
        ("not bytes", None),
        (None, b""),
        (None, b"\x00" * 63),
        (None, b"\xff" * 64),
        (None, "signature"),
    ],
)
def test_verify_tree_head_never_raises(key: Ed25519PrivateKey, public: object, signature: object) -> None:
    head, good = sign_tree_head(key, size=1, root=ROOT8, timestamp=WHEN)
    pub = public_key_bytes(key) if public is None else public
    sig = good if signature is None else signature
    assert verify_tree_head(pub, head, sig) is False  # type: ignore[arg-type]


def test_verify_tree_head_rejects_non_head(key: Ed25519PrivateKey) -> None:
    head, signature = sign_tree_head(key, size=1, root=ROOT8, timestamp=WHEN)
    assert verify_tree_head(public_key_bytes(key), head.canonical_bytes(), signature) is False  # type: ignore[arg-type]
