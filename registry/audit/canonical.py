"""Canonical bytes of audited records and audit entries: one encoding, used when writing and verifying.

A record's digest is defined in `record_form` (SHA-256 over the table name and every column value in its
canonical form). Versioned by `ENTRY_VERSION`: never change an encoding in place; add a new version and keep
verifying the old one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

ENTRY_VERSION = 1

# Tables whose rows are written once; a row's digest appears in exactly one audit entry (until a purge).
APPEND_ONLY_TABLES = (
    "weapons",
    "markings",
    "events",
    "components",
    "component_moves",
    "federation_inbox",
    "trace_transitions",
    "trace_attachments",
    "stocktakes",
    "serial_reservations",
    "station_checkouts",
)
# Tables whose rows change; the latest audit entry naming a row holds its current digest.
MUTABLE_TABLES = (
    "organisations",
    "licences",
    "persons",
    "import_jobs",
    "users",
    "api_keys",
    "federation_node",
    "federation_peers",
    "federation_outbox",
    "trace_requests",
    "serial_counters",
    "station_sync_events",
)
AUDITED_TABLES = APPEND_ONLY_TABLES + MUTABLE_TABLES


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def entry_body(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    records: Iterable[tuple[str, str, str]],
    info: Mapping[str, Any] | None = None,
) -> bytes:
    """The bytes that become a Merkle leaf. `records` are (table, id, digest hex) triples."""
    body = {
        "v": ENTRY_VERSION,
        "seq": seq,
        "at": at.astimezone(UTC),
        "actor": actor,
        "action": action,
        "subject": subject,
        "records": [list(r) for r in records],
        "info": dict(info or {}),
    }
    return orjson.dumps(body, default=_default, option=orjson.OPT_SORT_KEYS)


def parse_body(body: bytes) -> dict[str, Any]:
    return orjson.loads(body)


def record_token(digest_hex: str) -> int:
    """A row's digest as a 256-bit number. The digest already covers the table name and every column, the id
    included, so sums of these compare the set of rows in the database with the set the audit log says was
    written, in one pass and constant memory."""
    return int(digest_hex, 16)
