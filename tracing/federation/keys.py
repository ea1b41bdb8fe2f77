"""Where the node's signing key lives: an encrypted PKCS#8 file outside the database, as the audit key
(registry/audit/keys.py), but a separate key: a node key signs messages to other states and is published in
their directories; the audit key signs our own log. Losing one must not compromise the other.

The passphrase comes from ITI_FEDERATION_KEY_PASSPHRASE or the file named by
ITI_FEDERATION_KEY_PASSPHRASE_FILE. With neither set (a laptop demo), a random passphrase is written next to
the key with mode 0600 and a warning is logged: acceptable for a demo, not for a national node.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.audit.signing import generate_signing_key, load_signing_key, save_signing_key
from registry.config import Settings
from registry.errors import AuditKeyError
from tracing.federation.config import FederationConfig, federation_config
from tracing.federation.errors import FederationKeyError

log = logging.getLogger(__name__)

_CACHE: dict[str, Ed25519PrivateKey] = {}
_LOCK = threading.Lock()


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
    with _LOCK:
        _CACHE[str(cfg.key_file)] = key
    return key


def load_node_key(settings: Settings) -> Ed25519PrivateKey:
    """The node's private key (decrypted once per process and key file)."""
    cfg = federation_config(settings)
    with _LOCK:
        cached = _CACHE.get(str(cfg.key_file))
    if cached is not None:
        return cached
    try:
        key = load_signing_key(cfg.key_file, _passphrase(cfg, create=False))
    except AuditKeyError as exc:
        raise FederationKeyError(
            f"the node signing key cannot be loaded ({exc.message}); check ITI_FEDERATION_KEY_FILE and "
            "ITI_FEDERATION_KEY_PASSPHRASE",
            field="key_file",
        ) from None
    with _LOCK:
        _CACHE[str(cfg.key_file)] = key
    return key


def rotate_node_key(settings: Settings) -> tuple[Ed25519PrivateKey, Ed25519PrivateKey, Path]:
    """Move the current key aside (kept: it signs the hand-over document and may be needed to prove old
    messages) and create a new one under the same passphrase. Returns (old key, new key, retired path)."""
    cfg = federation_config(settings)
    old = load_node_key(settings)
    retired = cfg.key_file.with_name(
        f"{cfg.key_file.stem}.retired-{secrets.token_hex(4)}{cfg.key_file.suffix}"
    )
    cfg.key_file.rename(retired)
    with _LOCK:
        _CACHE.pop(str(cfg.key_file), None)
    log.info("federation.key.retired path=%s", retired)
    return old, create_node_key(settings), retired


def forget_loaded_keys() -> None:
    """Drop the decrypted keys held by this process (as a restart does); the next use decrypts again."""
    with _LOCK:
        _CACHE.clear()
