"""`iti audit rotate-key` on a registry in use: the last head under the old key, the first under the new one,
the old key file kept aside, and every head — old and new — still verifying after the old file is gone."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bench.crash import Iti
from registry.audit import checker
from registry.audit.models import AuditKey, TreeHeadRecord


def test_rotate_key_keeps_old_heads_verifiable_and_signs_new_ones_with_the_new_key(tmp_path: Path) -> None:
    iti = Iti.fresh(tmp_path)
    iti.upgrade()
    key_file = tmp_path / "keys" / "audit-signing.pem"
    first = json.loads(iti.run("--json", "audit", "sign").stdout)
    old_key = key_file.read_bytes()

    rotated = iti.run("--json", "audit", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    new_head = json.loads(rotated.stdout)
    assert new_head["key_id"] != first["key_id"]
    retired = list(key_file.parent.glob("audit-signing.retired-*.pem"))
    assert [p.read_bytes() for p in retired] == [old_key]  # kept aside, not destroyed
    assert key_file.read_bytes() != old_key

    later = json.loads(iti.run("--json", "audit", "sign").stdout)
    assert later["key_id"] == new_head["key_id"]
    for p in retired:  # the retired private key is not needed to verify: public keys are in the database
        p.unlink()

    engine = create_engine(iti.url)
    with Session(engine) as s:
        heads = s.execute(select(TreeHeadRecord).order_by(TreeHeadRecord.id)).scalars().all()
        keys = set(s.execute(select(AuditKey.key_id)).scalars())
        report = checker.verify(s)
    engine.dispose()
    assert [h.key_id for h in heads] == [first["key_id"]] * 2 + [new_head["key_id"]] * 2
    assert keys == {first["key_id"], new_head["key_id"]}
    assert report.ok, report.problems
    assert report.tree_heads == 4
    assert iti.run("audit", "verify").returncode == 0
