"""Where the audit signing key lives: an encrypted PKCS#8 file outside the database.

The passphrase comes from ITI_AUDIT_KEY_PASSPHRASE or the file named by ITI_AUDIT_KEY_PASSPHRASE_FILE. With
neither set (a laptop demo), a random passphrase is written next to the key with mode 0600 and a warning is
logged: acceptable for a demo, not for a national registry (see docs/operations.md, "Key management").
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.audit.signing import generate_signing_key, load_signing_key, save_signing_key
from registry.config import Settings

log = logging.getLogger(__name__)


def _passphrase(settings: Settings, *, create: bool) -> bytes:
    if settings.audit_key_passphrase:
        return settings.audit_key_passphrase.encode()
    pass_file = Path(os.environ.get("ITI_AUDIT_KEY_PASSPHRASE_FILE", str(settings.audit_key_file) + ".pass"))
    if pass_file.exists():
        return pass_file.read_bytes().strip()
    if not create:
        return b""
    log.warning(
        "audit.key.passphrase_generated path=%s (demo only: keep passphrases off the key's disk)", pass_file
    )
    pass_file.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32).encode()
    fd = os.open(pass_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


def load_or_create_signing_key(settings: Settings) -> Ed25519PrivateKey:
    path = settings.audit_key_file
    if path.exists():
        return load_signing_key(path, _passphrase(settings, create=False))
    key = generate_signing_key()
    save_signing_key(key, path, _passphrase(settings, create=True))
    log.info("audit.key.created path=%s", path)
    return key


def rotate_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Move the current key aside (kept, so old heads stay checkable offline) and create a new one."""
    path = settings.audit_key_file
    if path.exists():
        retired = path.with_name(f"{path.stem}.retired-{secrets.token_hex(4)}{path.suffix}")
        path.rename(retired)
        log.info("audit.key.retired path=%s", retired)
    key = generate_signing_key()
    save_signing_key(key, path, _passphrase(settings, create=True))
    return key
