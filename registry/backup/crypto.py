"""Encryption of backup archives: AES-256-GCM in fixed-size chunks, the STREAM construction.

Why our own small format and not age/pyrage: `cryptography` (already a dependency, Apache-2.0/BSD) has
everything needed, the format is about 100 lines that an auditor can read in full, and a restore must not
depend on a second native library being installable on the recovery machine in ten years.

Archive layout:

    header   = magic "ITIBAK" 0x00 0x01 (8) | key id (16) | salt (32) | nonce prefix (7) | chunk size (u32 BE)
               | key check (32)
    chunks   = AES-256-GCM(file key, nonce, plaintext chunk, associated data = header), each chunk-size bytes
               of plaintext (+16 tag) except the last, which is shorter (possibly empty)

- file key  = HKDF-SHA256(backup key, salt, info "iti-registry backup v1"): a fresh key per archive, so
  nonces never repeat across archives made with the same backup key.
- nonce     = nonce prefix (7) | chunk counter (u32 BE) | last-chunk flag (1): a chunk cannot be moved,
  dropped, duplicated or swapped with another archive's, and a truncated archive is detected because its
  new last chunk was not sealed with the flag (Hoang, Reyhanitabar, Rogaway, Vizár 2015; as in age and Tink).
- key id    = first 16 bytes of SHA-256("iti-registry backup key id" | backup key), in clear: tells the
  operator which key an archive needs without revealing anything about the key.
- key check = HMAC-SHA256(file key, header up to here): a wrong key (or an altered header) is named as such
  before any chunk is read.

The backup key is 32 random bytes the operator holds (`iti backup keygen`), stored as one line of base64.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from registry.backup.errors import BackupKeyError, TamperedArchive, WrongBackupKey

log = logging.getLogger(__name__)

MAGIC = b"ITIBAK\x00\x01"
KEY_BYTES = 32
SALT_BYTES = 32
PREFIX_BYTES = 7
TAG_BYTES = 16
DEFAULT_CHUNK = 64 * 1024
_HEADER = struct.Struct(f">8s16s{SALT_BYTES}s{PREFIX_BYTES}sI")
HEADER_BYTES = _HEADER.size + 32
_KEY_ID_LABEL = b"iti-registry backup key id\x00"
_HKDF_INFO = b"iti-registry backup v1"
_KEY_FILE_PREFIX = "iti-backup-key-v1:"


@dataclass(frozen=True)
class BackupKey:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise BackupKeyError(f"a backup key is {KEY_BYTES} bytes")

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(_KEY_ID_LABEL + self.secret).digest()[:16]


def generate_key_file(path: Path) -> BackupKey:
    """Write a new key to `path` (mode 0600, refused if the file exists) and return it."""
    import base64

    key = BackupKey(secrets.token_bytes(KEY_BYTES))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupKeyError(f"{path} exists: a backup key is never overwritten", field="key_file") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(_KEY_FILE_PREFIX + base64.b64encode(key.secret).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def load_key_file(path: Path) -> BackupKey:
    import base64
    import binascii

    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupKeyError(f"cannot read the backup key file {path}: {exc}", field="key_file") from None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("backup.key.permissive_mode path=%s (should be 0600)", path)
    if not text.startswith(_KEY_FILE_PREFIX):
        raise BackupKeyError(
            f"{path} is not a backup key file (make one with `iti backup keygen`)", field="key_file"
        )
    try:
        secret = base64.b64decode(text.removeprefix(_KEY_FILE_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise BackupKeyError(f"{path}: the key is not valid base64", field="key_file") from None
    if len(secret) != KEY_BYTES:
        raise BackupKeyError(f"{path}: a backup key is {KEY_BYTES} bytes", field="key_file")
    return BackupKey(secret)


def _file_key(key: BackupKey, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_HKDF_INFO).derive(key.secret)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 2**32:
        raise TamperedArchive("archive too large: more than 2^32 chunks")
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


class EncryptingWriter:
    """A write-only binary file object: what is written comes out encrypted in `out`. `close()` seals the
    last chunk (without it the archive is detected as truncated)."""

    def __init__(self, out: BinaryIO, key: BackupKey, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        salt, prefix = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(PREFIX_BYTES)
        self._out, self._chunk = out, chunk_size
        file_key = _file_key(key, salt)
        head = _HEADER.pack(MAGIC, key.key_id, salt, prefix, chunk_size)
        self._header = head + hmac.digest(file_key, head, hashlib.sha256)
        self._aead, self._prefix = AESGCM(file_key), prefix
        self._buf = bytearray()
        self._counter = 0
        self._closed = False
        out.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data
        # Hold back at least one byte: the last chunk must be sealed with the last flag at close().
        while len(self._buf) > self._chunk:
            self._seal(bytes(self._buf[: self._chunk]), last=False)
            del self._buf[: self._chunk]
        return len(data)

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._header))
        self._counter += 1

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buf), last=True)
            self._buf.clear()
            self._closed = True
            self._out.flush()


def read_header_key_id(src: BinaryIO) -> bytes:
    head = src.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        raise TamperedArchive("not an iti-registry backup archive (bad magic or truncated header)")
    return _HEADER.unpack(head[: _HEADER.size])[1]


def decrypt_stream(src: BinaryIO, key: BackupKey, out: BinaryIO) -> int:
    """Decrypt the whole archive `src` into `out`; returns the plaintext size.

    Raises WrongBackupKey before reading any chunk if the archive was made with another key, and
    TamperedArchive at the first chunk that does not authenticate (altered, reordered, truncated).
    `out` may have received the chunks before a failing one: callers write to a temporary file and use it
    only when this returns.
    """
    head = src.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        raise TamperedArchive("not an iti-registry backup archive (bad magic or truncated header)")
    _magic, key_id, salt, prefix, chunk_size = _HEADER.unpack(head[: _HEADER.size])
    if key_id != key.key_id:
        raise WrongBackupKey(
            f"this archive was encrypted with backup key {key_id.hex()}, not with the key given "
            f"({key.key_id.hex()}): use the key file that made it",
            archive_key_id=key_id.hex(),
            given_key_id=key.key_id.hex(),
        )
    file_key = _file_key(key, salt)
    if not hmac.compare_digest(
        hmac.digest(file_key, head[: _HEADER.size], hashlib.sha256), head[_HEADER.size :]
    ):
        raise TamperedArchive("the archive header was altered (its key check does not match)")
    if not 16 <= chunk_size <= 64 * 1024 * 1024:
        raise TamperedArchive("the archive header names an impossible chunk size")
    aead = AESGCM(file_key)
    size, counter = 0, 0
    block = src.read(chunk_size + TAG_BYTES)
    while True:
        following = src.read(chunk_size + TAG_BYTES)
        last = not following
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), block, head)
        except InvalidTag:
            where = "truncated or its last chunk altered" if last else "altered"
            raise TamperedArchive(
                f"the archive does not authenticate at chunk {counter} (byte {HEADER_BYTES + counter * (chunk_size + TAG_BYTES)}): "
                f"it was {where}; nothing was restored",
                chunk=counter,
            ) from None
        out.write(plain)
        size += len(plain)
        counter += 1
        if last:
            return size
        block = following
