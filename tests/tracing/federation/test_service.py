"""Node identity, the PoC directory and the outbox rules, against the test databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.audit import repository as audit_repo
from registry.audit.checker import verify as audit_verify
from registry.config import Settings, get_settings
from registry.db import utcnow
from registry.errors import InvalidCountry
from tracing.federation import envelope, inbox, keys, outbox, service
from tracing.federation.errors import (
    FederationKeyError,
    InvalidFederationInput,
    NodeAlreadyInitialised,
    NodeNotInitialised,
    NoPeer,
    PeerConflict,
    UntrustedDirectory,
)
from tracing.federation.models import OutboxStatus

PEER_KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def node_settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(
        get_settings(), var_dir=tmp_path, node_country=None, extra={"ITI_FEDERATION_KEY_PASSPHRASE": "pw"}
    )


def init(session: Session, settings: Settings, country: str = "KEN") -> None:
    service.init_node(
        session,
        settings,
        actor="officer",
        country=country,
        poc_name="PoC Kenya",
        contact="poc@ke.example",
        url="https://iti.ke.example/",
    )


def peer_input(key: Ed25519PrivateKey = PEER_KEY, country: str = "UGA", **over: object) -> service.PeerInput:
    fields: dict[str, object] = {
        "country": country,
        "url": "https://iti.ug.example",
        "public_key": envelope.b64url(envelope.public_bytes(key)),
        "poc_name": "PoC Uganda",
        "contact": "poc@ug.example",
    }
    fields.update(over)
    return service.PeerInput(**fields)  # type: ignore[arg-type]


def test_init_creates_an_identity_with_an_encrypted_key(session: Session, node_settings: Settings) -> None:
    init(session, node_settings)
    node = service.get_node(session)
    assert (node.country, node.url) == ("KE", "https://iti.ke.example")  # alpha-3 in, alpha-2 stored
    key_file = node_settings.var_dir / "keys" / "federation-signing.pem"
    pem = key_file.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    keys.forget_loaded_keys()
    assert envelope.public_bytes(keys.load_node_key(node_settings)) == bytes(node.public_key)
    wrong = dataclasses.replace(node_settings, extra={"ITI_FEDERATION_KEY_PASSPHRASE": "not it"})
    keys.forget_loaded_keys()
    with pytest.raises(FederationKeyError, match="cannot be loaded"):
        keys.load_node_key(wrong)
    entry = service.node_entry(session, node_settings)
    assert envelope.verify_entry(entry).key_id == node.key_id


def test_init_refuses_twice_and_bad_input(session: Session, node_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(NodeNotInitialised):
        service.get_node(session)
    with pytest.raises(InvalidCountry):
        init(session, node_settings, country="Kenya")
    with pytest.raises(InvalidFederationInput) as caught:
        service.init_node(
            session, node_settings, actor="o", country="KE", poc_name="P", contact="c", url="ftp://x"
        )
    assert caught.value.field == "url"
    pinned = dataclasses.replace(node_settings, node_country="UG")
    with pytest.raises(InvalidFederationInput, match="ITI_NODE_COUNTRY"):
        init(session, pinned)
    init(session, node_settings)
    with pytest.raises(NodeAlreadyInitialised):
        init(session, node_settings)


def test_peers_add_list_remove_restore_with_audit(session: Session, node_settings: Settings) -> None:
    init(session, node_settings)
    second = Ed25519PrivateKey.generate()
    first = service.add_peer(session, actor="admin", data=peer_input())
    service.add_peer(session, actor="admin", data=peer_input(second, country="UG", priority=1))
    assert [p.country for p in service.list_peers(session)] == ["UG", "UG"]  # two PoCs of one state
    with pytest.raises(PeerConflict):
        service.add_peer(session, actor="admin", data=peer_input())
    own = service.get_node(session)
    with pytest.raises(PeerConflict, match="own key"):
        service.add_peer(session, actor="admin", data=peer_input(public_key=bytes(own.public_key).hex()))
    with pytest.raises(InvalidFederationInput) as caught:
        service.add_peer(session, actor="admin", data=peer_input(public_key="abc"))
    assert caught.value.field == "public_key"
    service.remove_peer(session, actor="admin", ref=first.key_id)
    assert len(service.list_peers(session)) == 1
    assert len(service.list_peers(session, include_removed=True)) == 2
    with pytest.raises(PeerConflict, match="already removed"):
        service.remove_peer(session, actor="admin", ref=str(first.id))
    with pytest.raises(NoPeer):
        service.remove_peer(session, actor="admin", ref="0123456789abcdef")
    restored = service.add_peer(session, actor="admin", data=peer_input(url="https://new.ug.example"))
    assert restored.id == first.id
    assert restored.url == "https://new.ug.example"
    actions = [e.action for e in audit_repo.entries_for_subject(session, f"federation_peer:{first.id}")]
    assert actions == ["federation.peer_added", "federation.peer_removed", "federation.peer_restored"]
    assert audit_verify(session).ok


def test_a_peer_key_changed_in_the_database_fails_the_audit(
    session: Session, node_settings: Settings
) -> None:
    init(session, node_settings)
    peer = service.add_peer(session, actor="admin", data=peer_input())
    session.flush()
    evil = envelope.public_bytes(Ed25519PrivateKey.generate())
    session.execute(
        text("UPDATE federation_peers SET public_key = :k WHERE key_id = :kid"),
        {"k": evil, "kid": peer.key_id},
    )
    report = audit_verify(session)
    assert not report.ok
    assert "federation_peers" in report.problems[0].message


def test_import_needs_a_trusted_issuer(session: Session, node_settings: Settings) -> None:
    init(session, node_settings)
    now = utcnow()
    entry = envelope.sign_entry(
        PEER_KEY, country="UG", poc_name="PoC UG", contact="c@ug", url="https://ug.example", issued_at=now
    )
    document = envelope.sign_directory(PEER_KEY, issuer="UG", entries=[entry], issued_at=now)
    with pytest.raises(UntrustedDirectory) as caught:
        service.import_directory(session, actor="admin", document=document)
    assert caught.value.field == "fingerprint"
    with pytest.raises(UntrustedDirectory, match="not the fingerprint"):
        service.import_directory(session, actor="admin", document=document, fingerprint="0" * 16)
    tampered = {**document, "issuer": "TZ"}
    with pytest.raises(UntrustedDirectory, match="does not verify"):
        service.import_directory(session, actor="admin", document=tampered, fingerprint=document["key_id"])
    result = service.import_directory(
        session, actor="admin", document=document, fingerprint=document["key_id"]
    )
    assert [p.url for p in result.added] == ["https://ug.example"]
    # Later documents from a known peer need no fingerprint: e.g. its second PoC.
    other = Ed25519PrivateKey.generate()
    entry2 = envelope.sign_entry(
        other, country="UG", poc_name="PoC UG 2", contact="c2@ug", url="https://ug2.example", issued_at=now
    )
    doc2 = envelope.sign_directory(PEER_KEY, issuer="UG", entries=[entry, entry2], issued_at=now)
    result2 = service.import_directory(session, actor="admin", document=doc2)
    assert [p.poc_name for p in result2.added] == ["PoC UG 2"]
    assert result2.unchanged == [envelope.key_id(envelope.public_bytes(PEER_KEY))]


def test_enqueue_rules(session: Session, node_settings: Settings) -> None:
    with pytest.raises(NodeNotInitialised):
        outbox.enqueue(session, to_country="UG", kind="trace.request", body={})
    init(session, node_settings)
    with pytest.raises(NoPeer) as caught:
        outbox.enqueue(session, to_country="UG", kind="trace.request", body={})
    assert caught.value.field == "to_country"
    service.add_peer(session, actor="admin", data=peer_input())
    bad = [
        ({"to_country": "KE"}, "to_country"),
        ({"to_country": "Uganda"}, "to_country"),
        ({"kind": "Trace Request"}, "kind"),
        ({"confidentiality": "secret"}, "confidentiality"),
        ({"body": {"x": float("inf")}}, "body"),
        ({"body": {"x": "y" * envelope.MAX_MESSAGE_BYTES}}, "body"),
    ]
    for over, field in bad:
        args: dict[str, object] = {"to_country": "UGA", "kind": "trace.request", "body": {}}
        args.update(over)
        with pytest.raises(Exception) as caught_bad:  # noqa: PT011 - the field is what is checked
            outbox.enqueue(session, **args)  # type: ignore[arg-type]
        assert getattr(caught_bad.value, "field", None) == field, (over, caught_bad.value)
    mid = outbox.enqueue(session, to_country="UGA", kind="trace.request", body={"a": 1})
    row = outbox.get_outbox(session, mid)
    assert (row.to_country, row.status, row.attempts, row.envelope) == (
        "UG",
        OutboxStatus.PENDING.value,
        0,
        None,
    )
    assert [e.action for e in audit_repo.entries_for_subject(session, f"federation_message:{mid}")] == [
        "federation.message_queued"
    ]


def test_backoff_doubles_up_to_the_cap(node_settings: Settings) -> None:
    from tracing.federation.config import federation_config

    cfg = federation_config(node_settings)
    delays = [outbox.backoff(cfg, n) for n in (1, 2, 3, 20)]
    assert timedelta(seconds=5) <= delays[0] <= timedelta(seconds=6)
    assert timedelta(seconds=10) <= delays[1] <= timedelta(seconds=12)
    assert timedelta(seconds=20) <= delays[2] <= timedelta(seconds=24)
    assert timedelta(seconds=900) <= delays[3] <= timedelta(seconds=1080)


def test_received_messages_cannot_be_changed_in_the_database(
    session: Session, node_settings: Settings
) -> None:
    """federation_inbox is append-only (triggers from migration 0009)."""
    init(session, node_settings)
    service.add_peer(session, actor="admin", data=peer_input())
    message = envelope.sign(
        PEER_KEY,
        id=outbox.new_id(),
        kind="test.note",
        from_country="UG",
        to_country="KE",
        body={},
        sent_at=utcnow(),
    )
    seen: list[inbox.InboundMessage] = []
    inbox.handler("test.note")(lambda _s, m: seen.append(m))
    received = inbox.receive(session, node_settings, message.to_json())
    assert not received.duplicate
    assert [m.id for m in seen] == [message.id]
    assert inbox.receive(session, node_settings, message.to_json()).duplicate
    assert len(seen) == 1
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE federation_inbox SET kind = 'x'"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM federation_inbox"))


def test_nothing_is_received_before_the_node_has_an_identity(
    session: Session, node_settings: Settings
) -> None:
    message = envelope.sign(
        PEER_KEY,
        id=outbox.new_id(),
        kind="federation.ping",
        from_country="UG",
        to_country="KE",
        body={},
        sent_at=utcnow(),
    )
    with pytest.raises(envelope.Rejected) as caught:
        inbox.receive(session, node_settings, message.to_json())
    assert caught.value.reason == inbox.NOT_INITIALISED


def test_a_kind_has_one_handler() -> None:
    def first(_s: Session, _m: inbox.InboundMessage) -> None: ...

    def second(_s: Session, _m: inbox.InboundMessage) -> None: ...

    inbox.handler("test.single")(first)
    inbox.handler("test.single")(first)  # registering the same function again (a module reload) is fine
    with pytest.raises(ValueError, match="already registered"):
        inbox.handler("test.single")(second)
    assert inbox.get_handler("test.single") is first
    assert "federation.ping" in inbox.registered_kinds()
