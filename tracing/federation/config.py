"""Federation settings: from `Settings.extra` (tests and embedders set them per node) or the environment.

| name | default | meaning |
|---|---|---|
| ITI_FEDERATION_KEY_FILE | <var>/keys/federation-signing.pem | the node's Ed25519 key, encrypted PKCS#8 |
| ITI_FEDERATION_KEY_PASSPHRASE | (none: file next to the key, demo only) | its passphrase |
| ITI_FEDERATION_KEY_PASSPHRASE_FILE | <key file>.pass | a file holding the passphrase |
| ITI_FEDERATION_DELIVERY_INTERVAL | 10 | seconds between outbox runs in `iti serve`; 0 = off |
| ITI_FEDERATION_TIMEOUT | 10 | seconds per HTTP request to a peer |
| ITI_FEDERATION_MAX_ATTEMPTS | 200 | attempts before a message is marked failed (about 2 days at the cap) |
| ITI_FEDERATION_BACKOFF_BASE | 5 | seconds before the first retry, doubled each attempt |
| ITI_FEDERATION_BACKOFF_MAX | 900 | cap of the retry delay (15 minutes) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from registry.config import Settings


@dataclass(frozen=True)
class FederationConfig:
    key_file: Path
    key_passphrase: str | None
    passphrase_file: Path
    delivery_interval: float
    timeout: float
    max_attempts: int
    backoff_base: float
    backoff_max: float


def _get(settings: Settings, name: str, default: str | None = None) -> str | None:
    if name in settings.extra:
        return settings.extra[name]
    return os.environ.get(name, default)


def federation_config(settings: Settings) -> FederationConfig:
    key_file = Path(
        _get(settings, "ITI_FEDERATION_KEY_FILE") or settings.var_dir / "keys" / "federation-signing.pem"
    )
    return FederationConfig(
        key_file=key_file,
        key_passphrase=_get(settings, "ITI_FEDERATION_KEY_PASSPHRASE"),
        passphrase_file=Path(_get(settings, "ITI_FEDERATION_KEY_PASSPHRASE_FILE") or f"{key_file}.pass"),
        delivery_interval=float(_get(settings, "ITI_FEDERATION_DELIVERY_INTERVAL", "10") or 0),
        timeout=float(_get(settings, "ITI_FEDERATION_TIMEOUT", "10") or 10),
        max_attempts=int(_get(settings, "ITI_FEDERATION_MAX_ATTEMPTS", "200") or 200),
        backoff_base=float(_get(settings, "ITI_FEDERATION_BACKOFF_BASE", "5") or 5),
        backoff_max=float(_get(settings, "ITI_FEDERATION_BACKOFF_MAX", "900") or 900),
    )
