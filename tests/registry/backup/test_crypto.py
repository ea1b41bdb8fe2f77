"""The archive encryption: round trip, and every way an archive can be damaged is refused by name."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from registry.backup import crypto
from registry.backup.errors import BackupKeyError, TamperedArchive, WrongBackupKey

CHUNK = 64  # small chunks: many chunks from little data, so reordering and truncation can be tested


def encrypt(key: crypto.BackupKey, data: bytes) -> bytes:
    out = io.BytesIO()
    w = crypto.EncryptingWriter(out, key, chunk_size=CHUNK)
    for i in range(0, len(data), 50):  # writes that straddle chunk boundaries
        w.write(data[i : i + 50])
    w.close()
    return out.getvalue()


def decrypt(key: crypto.BackupKey, blob: bytes) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(blob), key, out)
    return out.getvalue()


@pytest.fixture
def key() -> crypto.BackupKey:
    return crypto.BackupKey(os.urandom(32))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK, 10 * CHUNK + 7])
def test_round_trip_at_every_chunk_boundary(key: crypto.BackupKey, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(key, data)
    assert decrypt(key, blob) == data
    assert data[:16] not in blob[crypto.HEADER_BYTES :] or size < 16


def test_each_archive_uses_a_fresh_file_key(key: crypto.BackupKey) -> None:
    data = b"the same registry twice" * 10
    assert encrypt(key, data)[crypto.HEADER_BYTES :] != encrypt(key, data)[crypto.HEADER_BYTES :]


def test_a_wrong_key_is_named_before_anything_is_decrypted(key: crypto.BackupKey) -> None:
    blob = encrypt(key, b"x" * 500)
    other = crypto.BackupKey(os.urandom(32))
    with pytest.raises(WrongBackupKey, match=key.key_id.hex()) as err:
        decrypt(other, blob)
    assert err.value.details["given_key_id"] == other.key_id.hex()


@pytest.mark.parametrize(
    "damage",
    [
        "flip_body",
        "flip_header_salt",
        "truncate_chunk",
        "drop_last_chunk",
        "swap_chunks",
        "append_chunk",
        "magic",
    ],
)
def test_a_damaged_archive_is_refused(key: crypto.BackupKey, damage: str) -> None:
    blob = bytearray(encrypt(key, os.urandom(10 * CHUNK + 7)))
    h, c = crypto.HEADER_BYTES, CHUNK + crypto.TAG_BYTES
    if damage == "flip_body":
        blob[h + 3 * c + 5] ^= 1
    elif damage == "flip_header_salt":
        blob[30] ^= 1
    elif damage == "truncate_chunk":
        del blob[-3:]
    elif damage == "drop_last_chunk":
        del blob[h + 10 * c :]
    elif damage == "swap_chunks":
        blob[h + c : h + 2 * c], blob[h + 2 * c : h + 3 * c] = (
            blob[h + 2 * c : h + 3 * c],
            blob[h + c : h + 2 * c],
        )
    elif damage == "append_chunk":
        blob += blob[h : h + c]
    elif damage == "magic":
        blob[0:6] = b"NOTBAK"
    with pytest.raises(TamperedArchive):
        decrypt(key, bytes(blob))


def test_key_file_is_private_never_overwritten_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "backup.key"
    made = crypto.generate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert crypto.load_key_file(path) == made
    with pytest.raises(BackupKeyError, match="never overwritten"):
        crypto.generate_key_file(path)
    assert crypto.load_key_file(path) == made


@pytest.mark.parametrize("content", ["", "hello", "iti-backup-key-v1:not base64!", "iti-backup-key-v1:AAAA"])
def test_a_malformed_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(BackupKeyError):
        crypto.load_key_file(path)
