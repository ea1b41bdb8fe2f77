"""The audit log through the service: gapless entries, signed heads, proofs an outsider can verify (REQ-23)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit import canonical, merkle
from registry.audit import repository as audit_repo
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.audit.models import AuditEntry
from registry.audit.signing import public_key_bytes, verify_tree_head
from registry.audit.verify import verify_consistency, verify_inclusion
from registry.config import Settings
from registry.errors import AuditKeyError, NotFound, ValidationError
from registry.history.inputs import EventInput
from tests.factories import record, register_weapon, signing_key


def all_seqs(session: Session) -> list[int]:
    return list(session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())


def test_entries_are_gapless_across_many_writes(session: Session) -> None:
    before = audit_repo.next_seq(session)
    reg = register_weapon(session)
    record(session, reg.weapon.id, EventInput(type="stolen"))
    register_weapon(session, manufactured=True)
    seq = audit.record(session, actor="auditor", action="person.viewed", subject="person:x")
    record(session, reg.weapon.id, EventInput(type="found"))

    seqs = all_seqs(session)
    assert seqs == list(range(len(seqs)))
    assert seqs[before:] == list(range(before, before + 5))
    assert seq == before + 3
    assert audit_repo.next_seq(session) == len(seqs)


def test_record_many_numbers_entries_in_order(session: Session) -> None:
    first = audit_repo.next_seq(session)
    entries = [audit.PendingEntry(actor="a", action=f"test.{i}", subject=None) for i in range(4)]
    assert audit.record_many(session, entries) == [first, first + 1, first + 2, first + 3]
    assert audit.record_many(session, []) == []


def test_entry_names_the_rows_it_wrote_by_digest(session: Session) -> None:
    reg = register_weapon(session)
    (entry,) = audit_repo.entries_for_subject(session, f"weapon:{reg.weapon.id}")
    body = canonical.parse_body(bytes(entry.body))
    assert (body["seq"], body["actor"], body["action"]) == (entry.seq, "officer-test", "weapon.registered")
    logged = {(t, rid): digest for t, rid, digest in body["records"]}
    assert logged[("weapons", str(reg.weapon.id))] == audit.snapshot_obj(reg.weapon)[2]
    assert logged[("events", str(reg.event.id))] == audit.snapshot_obj(reg.event)[2]
    for m in reg.markings:
        assert logged[("markings", str(m.id))] == audit.snapshot_obj(m)[2]
    assert bytes(entry.leaf_hash) == merkle.leaf_hash(bytes(entry.body))


def test_entries_carry_no_serials_or_personal_data(session: Session) -> None:
    reg = register_weapon(session, serial="SECRET424242")
    (entry,) = audit_repo.entries_for_subject(session, f"weapon:{reg.weapon.id}")
    assert b"SECRET424242" not in bytes(entry.body)


def test_signed_head_proves_inclusion_to_a_standalone_verifier(session: Session) -> None:
    reg = register_weapon(session)
    key = signing_key()
    head = audit.sign_head(session, key, actor="auditor")
    assert head.tree_size == audit_repo.next_seq(session)
    assert verify_tree_head(public_key_bytes(key), audit.as_tree_head(head), bytes(head.signature))

    (seq,) = audit.entries_for(session, f"weapon:{reg.weapon.id}")
    proof = audit.prove_inclusion(session, seq=seq, head=head)
    assert (proof.tree_size, proof.root, proof.head_id) == (head.tree_size, bytes(head.root_hash), head.id)
    assert verify_inclusion(proof.leaf_hash, proof.seq, proof.tree_size, proof.path, proof.root)
    # The proof is for that leaf at that place and nothing else.
    assert not verify_inclusion(
        merkle.leaf_hash(b"forged"), proof.seq, proof.tree_size, proof.path, proof.root
    )
    if proof.seq > 0:
        assert not verify_inclusion(proof.leaf_hash, proof.seq - 1, proof.tree_size, proof.path, proof.root)


def test_every_entry_is_provably_included(session: Session) -> None:
    register_weapon(session)
    head = audit.sign_head(session, signing_key(), actor="auditor")
    for seq in range(head.tree_size):
        p = audit.prove_inclusion(session, seq=seq)
        assert verify_inclusion(p.leaf_hash, p.seq, p.tree_size, p.path, p.root), seq


def test_inclusion_needs_a_head_that_covers_the_entry(session: Session) -> None:
    head = audit.sign_head(session, signing_key(), actor="auditor")
    reg = register_weapon(session)
    (seq,) = audit.entries_for(session, f"weapon:{reg.weapon.id}")
    with pytest.raises(ValidationError) as exc:
        audit.prove_inclusion(session, seq=seq, head=head)
    assert exc.value.field == "seq"


def test_inclusion_without_any_head_is_not_found(session: Session) -> None:
    assert audit_repo.latest_tree_head(session) is None  # tests never commit heads to the shared database
    with pytest.raises(NotFound, match="no signed tree head"):
        audit.prove_inclusion(session, seq=0)


def test_consistency_between_two_heads_verifies(session: Session) -> None:
    key = signing_key()
    register_weapon(session)
    old = audit.sign_head(session, key, actor="auditor")
    for _ in range(3):
        register_weapon(session)
    new = audit.sign_head(session, key, actor="auditor")
    assert new.tree_size > old.tree_size

    proof = audit.prove_consistency(session, old=old, new=new)
    assert verify_consistency(proof.old_size, proof.new_size, proof.old_root, proof.new_root, proof.path)
    assert not verify_consistency(
        proof.old_size, proof.new_size, merkle.leaf_hash(b"other history"), proof.new_root, proof.path
    )
    with pytest.raises(ValidationError):
        audit.prove_consistency(session, old=new, new=old)


def test_signed_root_is_the_root_of_the_stored_leaves(session: Session) -> None:
    register_weapon(session)
    head = audit.sign_head(session, signing_key(), actor="auditor")
    assert bytes(head.root_hash) == merkle.root(audit_repo.leaf_hashes(session, head.tree_size))


def test_signing_key_is_registered_once_and_audited(session: Session) -> None:
    key = signing_key()
    before = audit_repo.next_seq(session)
    kid = audit.register_key(session, key, actor="auditor")
    assert audit.register_key(session, key, actor="auditor") == kid
    assert audit_repo.all_keys(session)[kid] == public_key_bytes(key)
    assert audit_repo.next_seq(session) == before + 1
    assert audit_repo.get_entry(session, before).action == "audit.key_registered"


def _settings(tmp_path: Path, passphrase: str | None) -> Settings:
    return Settings(
        database_url="sqlite://",
        var_dir=tmp_path,
        data_key_file=tmp_path / "data.key",
        audit_key_file=tmp_path / "keys" / "audit.pem",
        audit_key_passphrase=passphrase,
    )


def test_signing_key_file_is_encrypted_and_reloads(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "correct horse")
    key = load_or_create_signing_key(settings)
    assert settings.audit_key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert public_key_bytes(load_or_create_signing_key(settings)) == public_key_bytes(key)
    with pytest.raises(AuditKeyError):
        load_or_create_signing_key(_settings(tmp_path, "wrong passphrase"))
