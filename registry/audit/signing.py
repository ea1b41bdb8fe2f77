"""Signed tree heads: an Ed25519 signature over (size, root, timestamp, key id) of the audit log.

A signed tree head is the registry's commitment to the whole log at one size. Anyone holding the
public key can check it with `verify_tree_head` and nothing else from the project.

Wire format of the signed bytes (`TreeHead.canonical_bytes`), version 1, FROZEN: heads already
signed must verify forever, so any change needs a new version line, never an edit of this one::

    iti-registry/tree-head/v1\\n
    <size: decimal, no sign, no leading zeros>\\n
    <root: 64 lowercase hex digits>\\n
    <timestamp: integer milliseconds since 1970-01-01T00:00:00Z, decimal, may be negative>\\n
    <key id: 1..64 printable ASCII characters, no whitespace>\\n

All ASCII; every field is newline-terminated and none can contain a newline, so the encoding is
unambiguous. The signing key lives in a PKCS#8 PEM file encrypted with a passphrase.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.errors import AuditKeyError

__all__ = [
    "TREE_HEAD_FORMAT",
    "TreeHead",
    "generate_signing_key",
    "key_id",
    "load_signing_key",
    "public_key_bytes",
    "save_signing_key",
    "sign_tree_head",
    "verify_tree_head",
]

TREE_HEAD_FORMAT = b"iti-registry/tree-head/v1\n"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_KEY_ID = re.compile(r"[\x21-\x7e]{1,64}")
_ROOT_SIZE = 32
_PUBLIC_KEY_SIZE = 32
_SIGNATURE_SIZE = 64
_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


@dataclass(frozen=True)
class TreeHead:
    """The log's state at `size` entries.

    `timestamp` must be timezone-aware; it is converted to UTC and truncated to whole milliseconds
    on construction, so the fields always hold exactly what `canonical_bytes` encodes (a head read
    back from a database with microseconds verifies the same as the one that was signed).
    """

    size: int
    root: bytes
    timestamp: datetime
    key_id: str

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"tree size must be a non-negative int, got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != _ROOT_SIZE:
            raise ValueError(f"root must be {_ROOT_SIZE} bytes")
        if not isinstance(self.timestamp, datetime) or self.timestamp.utcoffset() is None:
            raise ValueError("timestamp must be a timezone-aware datetime")
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("key_id must be 1 to 64 printable ASCII characters without whitespace")
        ts = self.timestamp.astimezone(UTC)
        ts = ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000)
        object.__setattr__(self, "timestamp", ts)  # frozen: the documented normalisation only

    @property
    def timestamp_ms(self) -> int:
        """Milliseconds since the Unix epoch, computed exactly (no float rounding)."""
        return (self.timestamp - _EPOCH) // _ONE_MS

    def canonical_bytes(self) -> bytes:
        """The bytes that are signed; format v1, frozen (see the module docstring)."""
        body = f"{self.size}\n{self.root.hex()}\n{self.timestamp_ms}\n{self.key_id}\n"
        return TREE_HEAD_FORMAT + body.encode("ascii")


def generate_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 key from the operating system's CSPRNG."""
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key (RFC 8032 encoding), as stored and published."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_bytes: bytes) -> str:
    """First 16 hex digits of SHA-256 over the raw public key: a short, stable name for the key."""
    if len(public_bytes) != _PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {_PUBLIC_KEY_SIZE} bytes, got {len(public_bytes)}")
    return hashlib.sha256(public_bytes).hexdigest()[:16]


def save_signing_key(
    key: Ed25519PrivateKey, path: Path, passphrase: bytes, *, overwrite: bool = False
) -> None:
    """Write `key` as passphrase-encrypted PKCS#8 PEM, readable by the owner only (0600).

    Refuses to replace an existing file unless `overwrite`: losing the signing key means older tree
    heads can no longer be extended under it. The file is written under a temporary name and renamed,
    so a crash never leaves a half-written key in place.
    """
    if not isinstance(passphrase, bytes):
        raise TypeError("passphrase must be bytes")
    path = Path(path)
    if not passphrase:
        raise AuditKeyError("the signing key passphrase must not be empty", field="passphrase")
    if path.exists() and not overwrite:
        raise AuditKeyError(
            "a signing key file already exists there; refusing to overwrite it", path=str(path)
        )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL + 0600 at creation: the key is never readable by others, not even for an instant.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask can only remove bits; make the mode exact
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AuditKeyError(
            f"could not write the signing key file: {exc.strerror or exc}", path=str(path)
        ) from exc


def load_signing_key(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    """Read a key written by `save_signing_key`. Raises AuditKeyError saying what is wrong.

    Messages name the file, never the passphrase; the underlying exception is not chained where it
    concerns decryption, so nothing about the passphrase can surface in a traceback.
    """
    if not isinstance(passphrase, bytes):
        raise TypeError("passphrase must be bytes")
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError("signing key file not found", path=str(path)) from None
    except OSError as exc:
        raise AuditKeyError(
            f"could not read the signing key file: {exc.strerror or exc}", path=str(path)
        ) from exc
    if not passphrase:
        raise AuditKeyError("a passphrase is required to load the signing key", field="passphrase")
    encrypted = _ENCRYPTED_PEM in data
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        # With bytes given, cryptography's TypeError means the key is not encrypted; we write only
        # encrypted keys, so a plain one was put there by hand.
        raise AuditKeyError(
            "signing key file is not passphrase-encrypted; refusing to use it", path=str(path)
        ) from None
    except ValueError:
        if encrypted:
            raise AuditKeyError(
                "wrong passphrase for the signing key (or the key file is damaged)",
                field="passphrase",
                path=str(path),
            ) from None
        raise AuditKeyError("signing key file is not a valid PEM private key", path=str(path)) from None
    except UnsupportedAlgorithm:
        raise AuditKeyError("signing key file uses an unsupported algorithm", path=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(
            f"signing key file holds a {type(key).__name__}, not an Ed25519 key", path=str(path)
        )
    return key


def sign_tree_head(
    key: Ed25519PrivateKey, *, size: int, root: bytes, timestamp: datetime
) -> tuple[TreeHead, bytes]:
    """Build the head for (`size`, `root`, `timestamp`) under `key`'s id and sign its canonical bytes."""
    head = TreeHead(size=size, root=root, timestamp=timestamp, key_id=key_id(public_key_bytes(key)))
    return head, key.sign(head.canonical_bytes())


def verify_tree_head(public_bytes: bytes, head: TreeHead, signature: bytes) -> bool:
    """True iff `signature` is `public_bytes`' signature over `head` and the head names that key.

    Never raises for a bad key, head or signature: anything malformed is simply not valid.
    """
    if not isinstance(public_bytes, bytes) or len(public_bytes) != _PUBLIC_KEY_SIZE:
        return False
    if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
        return False
    if not isinstance(head, TreeHead) or head.key_id != key_id(public_bytes):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_bytes).verify(signature, head.canonical_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True
