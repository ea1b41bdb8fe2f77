"""Settings from the environment. Every command and the server read the same names."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEFAULT_VAR = Path(os.environ.get("ITI_VAR_DIR", "var"))


@dataclass(frozen=True)
class Settings:
    database_url: str
    var_dir: Path
    # Personal-data key (AES-256-GCM) and HMAC key for identity-number lookup: files outside the database.
    data_key_file: Path
    # Ed25519 key that signs audit tree heads, stored encrypted with the passphrase below.
    audit_key_file: Path
    audit_key_passphrase: str | None
    profile: str = "iti"
    node_country: str | None = None
    # Import uploads over HTTP: the largest accepted request body, and how long finished jobs' files (the
    # upload of a failed job and its rejects report) are kept under var_dir/imports/.
    max_upload_bytes: int = 100 * 1024 * 1024
    import_keep_days: int = 30
    # Browser session cookies carry `Secure` (sent over HTTPS only; browsers also send them to loopback).
    # Turn off only behind a TLS-terminating proxy that talks plain HTTP to browsers — never in production.
    cookie_secure: bool = True
    # Streaming replicas that may answer reads (registry/db_routing.py); a replica further behind than
    # replica_max_lag_seconds is skipped, and health is probed at most every replica_check_seconds.
    database_replica_urls: tuple[str, ...] = ()
    replica_max_lag_seconds: float = 10.0
    replica_check_seconds: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)


def _from_env() -> Settings:
    var = Path(os.environ.get("ITI_VAR_DIR", str(DEFAULT_VAR)))
    return Settings(
        database_url=os.environ.get("ITI_DATABASE_URL", f"sqlite:///{var / 'iti.db'}"),
        var_dir=var,
        data_key_file=Path(os.environ.get("ITI_DATA_KEY_FILE", str(var / "keys" / "data.key"))),
        audit_key_file=Path(os.environ.get("ITI_AUDIT_KEY_FILE", str(var / "keys" / "audit-signing.pem"))),
        audit_key_passphrase=os.environ.get("ITI_AUDIT_KEY_PASSPHRASE"),
        profile=os.environ.get("ITI_PROFILE", "iti"),
        node_country=os.environ.get("ITI_NODE_COUNTRY"),
        max_upload_bytes=int(os.environ.get("ITI_MAX_UPLOAD_BYTES", str(100 * 1024 * 1024))),
        import_keep_days=int(os.environ.get("ITI_IMPORT_KEEP_DAYS", "30")),
        cookie_secure=os.environ.get("ITI_COOKIE_SECURE", "true").lower() not in ("0", "false", "no"),
        database_replica_urls=tuple(
            u.strip() for u in os.environ.get("ITI_DATABASE_REPLICA_URLS", "").split(",") if u.strip()
        ),
        replica_max_lag_seconds=float(os.environ.get("ITI_REPLICA_MAX_LAG_SECONDS", "10")),
        replica_check_seconds=float(os.environ.get("ITI_REPLICA_CHECK_SECONDS", "1")),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return _from_env()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
