"""Fuzz the checks on trace message bodies (`iti-trace/1`) as the federation inbox hands them to the trace
workflow: `trace.request` (`answering.receive`), `trace.response` and `trace.close`.

The envelope is already verified at this point, so the sender is an authenticated peer (UG) — but its body is
still outside input. Documented errors: `RegistryError` (the inbox answers `refused_by_handler`, nothing
stored). Anything else would make the inbox roll back and the peer retry the same message for ever. What a
request stores must have the column types the PostgreSQL schema expects (text where text is declared).
Each input runs in a transaction that is rolled back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy.orm import Session

from fuzz._db import scratch_engine
from fuzz._runner import fuzz, time_bound
from registry.errors import RegistryError
from tracing.federation.inbox import InboundMessage
from tracing.requests import answering, inbound
from tracing.requests.config import TraceConfig
from tracing.requests.models import TraceRequest

CONFIG = TraceConfig(auto_acknowledge=False)  # acknowledging needs a node identity; the checks come first
NOW = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
TEXT_COLUMNS = (
    "case_reference",
    "category",
    "make",
    "model",
    "calibre",
    "recovery_place",
    "intended_use_code",
)

TEMPLATE: dict[str, Any] = {
    "schema": "iti-trace/1",
    "request_id": "01936b7e-0000-7000-8000-000000000001",
    "case_reference": "UG/CID/2026/7",
    "urgency": "routine",
    "confidentiality": "restricted",
    "requesting_state": "UG",
    "requesting_poc": {"name": "PoC Uganda"},
    "requested_state": "KE",
    "illicit_nature": "seized",
    "legal_justification": "Firearms Act",
    "intended_use": {"code": "criminal_investigation", "text": "investigation"},
    "weapon": {"category": "SA-PIS", "make": "Glock", "model": "17", "calibre": "9mm", "other_info": ""},
    "markings": [{"text": "GLOCK AB?2345", "serial": "AB?2345", "position": "frame"}],
    "recovery": {"kind": "seized", "date": "2026-11-01", "place": "Kampala"},
    "attachments": [],
    "outcome": "answered",
    "completeness": "full",
    "note": "closed",
}
FIELDS = sorted(TEMPLATE)
PATHS = (
    [(f,) for f in FIELDS]
    + [("weapon", k) for k in TEMPLATE["weapon"]]
    + [("recovery", k) for k in TEMPLATE["recovery"]]
    + [("intended_use", k) for k in TEMPLATE["intended_use"]]
)


def body_of(data: bytes) -> Any:
    """Mostly the template with one member replaced by fuzzed JSON; otherwise the fuzzed JSON itself."""
    try:
        value = orjson.loads(data[2:]) if len(data) > 2 else None
    except orjson.JSONDecodeError:
        value = data[2:].decode("utf-8", errors="replace")
    if not data or data[0] % 4 == 0:
        return value if isinstance(value, dict) else {"request_id": value}
    body = orjson.loads(orjson.dumps(TEMPLATE))
    path = PATHS[data[1] % len(PATHS)] if len(data) > 1 else PATHS[0]
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@cache
def warmed() -> bool:
    """One valid request first, outside the time bound: the first call loads the matcher's statements and the
    catalogue (about a second on a busy machine), which is start-up, not a slow input."""
    _run("trace.request", orjson.loads(orjson.dumps(TEMPLATE)))
    return True


def check(data: bytes) -> None:
    warmed()
    body = body_of(data)
    kind = ("trace.request", "trace.response", "trace.close")[data[0] % 3 if data else 0]
    with time_bound():
        _run(kind, body)


def _run(kind: str, body: Any) -> None:
    message = InboundMessage(
        id=uuid.UUID(int=7), kind=kind, from_country="UG", to_country="KE", sent_at=NOW, body=body
    )
    with Session(scratch_engine()) as session, session.begin():
        try:
            if kind == "trace.request":
                req = answering.receive(session, message=message, config=CONFIG)
                session.flush()
                for column in TEXT_COLUMNS:
                    value = getattr(req, column)
                    assert value is None or isinstance(value, str), (column, value)
                    # PostgreSQL refuses a longer value (SQLite would store it): the peer would retry for ever.
                    limit = getattr(TraceRequest.__table__.c[column].type, "length", None)
                    assert value is None or limit is None or len(value) <= limit, (column, len(value))
            elif kind == "trace.response":
                inbound.on_response(session, message)
            else:
                inbound.on_close(session, message)
        except RegistryError as exc:
            assert exc.message
        finally:
            session.rollback()


if __name__ == "__main__":
    fuzz(check)
