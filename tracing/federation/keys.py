"""Where the node's signing key lives: an encrypted PKCS#8 file outside the database, as the audit key
(registry/audit/keys.py), but a separate key: a node key signs messages to other states and is published in
their directories; the audit key signs our own log. Losing one must not compromise the other.

The passphrase comes from ITI_FEDERATION_KEY_PASSPHRASE or the file named by
ITI_FEDERATION_KEY_PASSPHRASE_FILE. With neither set (a laptop demo), a random passphrase is written next to
the key with mode 0600 and a warning is logged: acceptable for a demo, not for a national node.

A rotated key is kept beside the current one as `<stem>.retired-<key id><suffix>`: it signs the
announcements of its own retirement (`envelope.KeyRing`) and may be needed to prove old messages.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shutil
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.audit.signing import generate_signing_key, load_signing_key, save_signing_key
from registry.config import Settings
from registry.errors import AuditKeyError
from tracing.federation import envelope
from tracing.federation.config import FederationConfig, federation_config
from tracing.federation.errors import FederationKeyError

log = logging.getLogger(__name__)

# Decrypted keys by file, with the file's identity when it was read: a key rotated by another process (the
# CLI while `iti serve` runs) is picked up at the next signature, not at the next restart.
_CACHE: dict[str, tuple[tuple[int, int, int], Ed25519PrivateKey]] = {}
_LOCK = threading.Lock()


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _cached(path: Path) -> Ed25519PrivateKey | None:
    identity = _identity(path)
    with _LOCK:
        entry = _CACHE.get(str(path))
    return entry[1] if entry is not None and entry[0] == identity else None


def _remember(path: Path, key: Ed25519PrivateKey) -> None:
    identity = _identity(path)
    if identity is not None:
        with _LOCK:
            _CACHE[str(path)] = (identity, key)


def _passphrase(cfg: FederationConfig, *, create: bool) -> bytes:
    if cfg.key_passphrase:
        return cfg.key_passphrase.encode()
    if cfg.passphrase_file.exists():
        return cfg.passphrase_file.read_bytes().strip()
    if not create:
        return b""
    log.warning(
        "federation.key.passphrase_generated path=%s (demo only: keep passphrases off the key's disk)",
        cfg.passphrase_file,
    )
    cfg.passphrase_file.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32).encode()
    fd = os.open(cfg.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


def create_node_key(settings: Settings) -> Ed25519PrivateKey:
    """A new key for `iti node init`; refuses to overwrite an existing key file."""
    cfg = federation_config(settings)
    if cfg.key_file.exists():
        raise FederationKeyError(
            "a node key file already exists: this node was initialised before", field="key_file"
        )
    key = generate_signing_key()
    try:
        save_signing_key(key, cfg.key_file, _passphrase(cfg, create=True))
    except AuditKeyError as exc:
        raise FederationKeyError(exc.message, field="key_file") from None
    log.info("federation.key.created path=%s", cfg.key_file)
    _remember(cfg.key_file, key)
    return key


def _load(cfg: FederationConfig, path: Path) -> Ed25519PrivateKey:
    key = _cached(path)
    if key is not None:
        return key
    try:
        key = load_signing_key(path, _passphrase(cfg, create=False))
    except AuditKeyError as exc:
        raise FederationKeyError(
            f"the node signing key cannot be loaded ({exc.message}); check ITI_FEDERATION_KEY_FILE and "
            "ITI_FEDERATION_KEY_PASSPHRASE",
            field="key_file",
        ) from None
    _remember(path, key)
    return key


def load_node_key(settings: Settings) -> envelope.KeyRing:
    """The node's signing key (decrypted once per process and key file version), with access to the keys it
    replaced: a key rotation announcement is signed by the key it retires (`envelope.sign`)."""
    cfg = federation_config(settings)
    return envelope.KeyRing(_load(cfg, cfg.key_file), functools.partial(retired_key, settings))


def retired_path(cfg: FederationConfig, kid: str) -> Path:
    return cfg.key_file.with_name(f"{cfg.key_file.stem}.retired-{kid}{cfg.key_file.suffix}")


def retired_key(settings: Settings, kid: str) -> Ed25519PrivateKey | None:
    """A key this node used before a rotation, by key id; None if it is not kept here."""
    cfg = federation_config(settings)
    if not envelope.KEY_ID_PATTERN.fullmatch(kid):
        return None
    path = retired_path(cfg, kid)
    if not path.exists():
        return None
    key = _load(cfg, path)
    return key if envelope.key_id(envelope.public_bytes(key)) == kid else None


def rotate_node_key(settings: Settings) -> tuple[Ed25519PrivateKey, Ed25519PrivateKey, Path]:
    """Keep the current key aside (it signs the hand-over document and the rotation announcements, and may
    be needed to prove old messages) and put a new one in its place under the same passphrase. The key file
    is replaced atomically, so a process signing meanwhile reads the old key or the new, never no key.
    Returns (old key, new key, retired path)."""
    cfg = federation_config(settings)
    old = load_node_key(settings).current
    retired = retired_path(cfg, envelope.key_id(envelope.public_bytes(old)))
    if not retired.exists():  # else: an earlier attempt kept it already and then failed
        try:
            os.link(cfg.key_file, retired)
        except OSError:  # a file system without hard links
            shutil.copy2(cfg.key_file, retired)
    log.info("federation.key.retired path=%s", retired)
    new = generate_signing_key()
    try:
        save_signing_key(new, cfg.key_file, _passphrase(cfg, create=False), overwrite=True)
    except AuditKeyError as exc:
        raise FederationKeyError(exc.message, field="key_file") from None
    _remember(cfg.key_file, new)
    log.info("federation.key.created path=%s", cfg.key_file)
    return old, new, retired


def forget_loaded_keys() -> None:
    """Drop the decrypted keys held by this process (as a restart does); the next use decrypts again."""
    with _LOCK:
        _CACHE.clear()
