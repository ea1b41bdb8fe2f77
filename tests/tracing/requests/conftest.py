"""A national node (KE) in the test transaction, with points of contact of UG and TZ in its directory, and
helpers that play the other states' messages as the federation inbox would hand them over."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.config import get_settings
from registry.db import new_id, utcnow
from tracing.federation import service as federation
from tracing.federation.inbox import InboundMessage
from tracing.federation.models import OutboxMessage
from tracing.requests.inputs import ObservedMarking, TraceRequestInput

HOME = "KE"


@pytest.fixture
def node(session: Session, tmp_path: Path) -> str:
    return setup_node(session, tmp_path)


def setup_node(session: Session, tmp_path: Path) -> str:
    """This node's identity (KE) and the directory entries of UG and TZ, in the test transaction."""
    settings = dataclasses.replace(
        get_settings(),
        var_dir=tmp_path,
        node_country=None,
        extra={"ITI_FEDERATION_KEY_PASSPHRASE": "test"},
    )
    federation.init_node(
        session, settings, actor="setup", country=HOME, poc_name="PoC Kenya", contact="poc@ke.example",
        url="http://127.0.0.1:9",
    )  # fmt: skip
    for country in ("UG", "TZ"):
        public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        federation.add_peer(
            session,
            actor="setup",
            data=federation.PeerInput(
                country=country,
                url="http://127.0.0.1:9",
                public_key=public.hex(),
                poc_name=f"PoC {country}",
                contact=f"poc@{country.lower()}.example",
            ),
        )
    return HOME


def complete_input(**overrides: Any) -> TraceRequestInput:
    values: dict[str, Any] = {
        "requested_country": "UG",
        "case_reference": "KE/CID/2026/0042",
        "illicit_nature": "seized from a suspect in an armed robbery; serial partly ground off",
        "legal_justification": "Firearms Act s.4: possession without a certificate",
        "intended_use": "criminal investigation and prosecution",
        "intended_use_code": "criminal_investigation",
        "markings": [
            ObservedMarking(text="GLOCK AUSTRIA AB?2345", position="frame, left side", serial="AB?2345")
        ],
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "calibre": "9mm Luger",
        "recovery_kind": "seized",
        "recovered_on": date(2026, 10, 1),
        "recovery_place": "Nairobi",
    }
    values.update(overrides)
    return TraceRequestInput(**values)


Inbound = Callable[..., InboundMessage]


def inbound_message(kind: str, body: dict[str, Any], *, sender: str = "UG") -> InboundMessage:
    """A message as the federation inbox hands it to a handler, after verifying it."""
    return InboundMessage(
        id=new_id(), kind=kind, from_country=sender, to_country=HOME, sent_at=utcnow(), body=body
    )


@pytest.fixture
def inbound() -> Inbound:
    return inbound_message


SCHEMA_FILE = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "trace-messages-v1.schema.json"


@functools.cache
def _validator(kind: str) -> Any:
    schema = orjson.loads(SCHEMA_FILE.read_bytes())
    return jsonschema_rs.validator_for(
        {"$ref": f"#/$defs/{kind.removeprefix('trace.')}", "$defs": schema["$defs"]}
    )


def check_trace_body(kind: str, body: dict[str, Any]) -> None:
    """A trace message body is valid under the published JSON Schema (docs/schemas)."""
    _validator(kind).validate(body)


def queued(session: Session, kind: str | None = None) -> list[OutboxMessage]:
    """Messages in the outbox, oldest first; every trace body among them is checked against the schema."""
    stmt = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
    rows = list(session.execute(stmt).scalars())
    for r in rows:
        if r.kind.startswith("trace."):
            check_trace_body(r.kind, r.body)
    return [r for r in rows if kind is None or r.kind == kind]


def request_body(request_id: uuid.UUID | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema": "iti-trace/1",
        "request_id": str(request_id or new_id()),
        "case_reference": "UG/2026/7",
        "urgency": "routine",
        "confidentiality": "restricted",
        "requesting_state": "UG",
        "requesting_poc": {"name": "PoC Uganda", "contact": "poc@ug.example"},
        "requested_state": HOME,
        "illicit_nature": "found in an arms cache",
        "legal_justification": "Firearms Act 1970",
        "intended_use": {"code": "criminal_investigation", "text": "investigation"},
        "weapon": {"category": "SA-PIS", "make": "Glock", "model": "17", "calibre": "9mm Luger"},
        "markings": [
            {"text": "IMP KE 2021", "position": "frame"},
            {"text": "AB?2345", "position": "frame", "serial": "AB?2345"},
        ],
        "recovery": {"kind": "found", "date": "2026-09-30", "place": "Kampala"},
        "attachments": [],
    }
    body.update(overrides)
    return body
