"""`iti backup-keygen`, `iti backup` and `iti restore` as an operator runs them: messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from bench.crash import Iti


def test_backup_and_restore_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source = Iti.fresh(tmp_path / "a")
    source.upgrade()
    assert source.run("audit", "sign").returncode == 0
    key = tmp_path / "backup.key"
    made = source.run("--json", "backup-keygen", str(key))
    assert made.returncode == 0, made.stderr
    assert len(json.loads(made.stdout)["key_id"]) == 32

    archive = tmp_path / "registry.iti-backup"
    env_key = {"ITI_BACKUP_KEY_FILE": str(key)}
    source.env.update(env_key)
    done = source.run("--json", "backup", str(archive))
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)["manifest"]
    assert manifest["tables"]["audit_tree_heads"] == 1

    target = Iti.fresh(tmp_path / "b")
    target.env.update(env_key)
    inspect = target.run("--json", "restore", str(archive), "--inspect")
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["audit"] == manifest["audit"]
    assert not (tmp_path / "b" / "iti.db").exists()  # --inspect restores nothing

    restored = target.run("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "audit log verified" in restored.stdout
    assert target.run("audit", "verify").returncode == 0

    again = target.run("restore", str(archive))
    assert again.returncode == 5
    assert "--force" in again.stderr
    assert target.run("restore", str(archive), "--force").returncode == 0

    other_key = tmp_path / "other.key"
    assert target.run("backup-keygen", str(other_key)).returncode == 0
    wrong = target.run("restore", str(archive), "--key-file", str(other_key), "--force")
    assert wrong.returncode == 3
    assert "not with the key given" in wrong.stderr

    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    tampered = target.run("restore", str(archive), "--force")
    assert tampered.returncode == 1
    assert "nothing was restored" in tampered.stderr

    target.env.pop("ITI_BACKUP_KEY_FILE")
    assert target.run("restore", str(archive)).returncode == 2  # no key given
