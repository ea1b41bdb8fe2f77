"""`iti user …` run as a subprocess: passwords from an option or a hidden prompt, exit codes, API keys."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import test_cli
from tests.cli.test_cli import Iti

migrated = test_cli.migrated  # one migrated template database for this module, copied for each test


@pytest.fixture
def cli(migrated: tuple[Path, Path], tmp_path: Path) -> Iti:
    template, var = migrated
    db = tmp_path / "x.db"
    shutil.copy(template, db)
    return test_cli.iti_for(db, var, tmp_path)


PASSWORD = "correct horse battery"


def run_with_input(cli: Iti, *args: str, stdin: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=cli.env,
        cwd=cli.cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_add_with_password_option_and_list(cli: Iti) -> None:
    out = cli("user", "add", "alice", "--role", "admin", "--password", PASSWORD)
    assert "added user alice (admin)" in out.stdout
    stored = cli.scalar("SELECT password_hash FROM users WHERE username = 'alice'")
    assert stored.startswith("$argon2id$")
    (listed,) = cli.json("user", "list")
    assert (listed["username"], listed["role"], listed["disabled_at"]) == ("alice", "admin", None)
    assert "password_hash" not in listed
    assert PASSWORD not in cli("user", "list").stdout


def test_add_prompts_twice_for_a_hidden_password(cli: Iti) -> None:
    run_with_input(cli, "user", "add", "bob", "--role", "auditor", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert cli.scalar("SELECT role FROM users WHERE username = 'bob'") == "auditor"
    # Two different entries are asked for again; running out of input writes nothing.
    proc = run_with_input(
        cli, "user", "add", "carol", "--role", "auditor", stdin=f"{PASSWORD}\nsomething else!!\n", code=3
    )
    assert "no password given" in proc.stderr
    assert cli.scalar("SELECT count(*) FROM users WHERE username = 'carol'") == 0


def test_duplicate_is_a_conflict_and_short_password_invalid(cli: Iti) -> None:
    cli("user", "add", "dave", "--role", "record_officer", "--password", PASSWORD)
    dup = cli("user", "add", "dave", "--role", "auditor", "--password", PASSWORD, code=5)
    assert "already exists" in dup.stderr
    short = cli.json("user", "add", "erin", "--role", "auditor", "--password", "short", code=3)
    assert short["error"]["field"] == "password"
    bad_role = cli.json("user", "add", "erin", "--role", "root", "--password", PASSWORD, code=3)
    assert bad_role["error"]["field"] == "role"


def test_disable_reset_and_unknown_user(cli: Iti) -> None:
    cli("user", "add", "frank", "--role", "poc_officer", "--password", PASSWORD)
    cli("user", "reset", "frank", "--password", "a different passphrase")
    cli("user", "disable", "frank")
    assert cli.scalar("SELECT disabled_at IS NOT NULL FROM users WHERE username = 'frank'") == 1
    cli("user", "disable", "frank", code=5)
    cli("user", "disable", "nobody", code=4)
    cli("audit", "verify")


def test_api_key_is_printed_once_and_stored_hashed(cli: Iti) -> None:
    data = cli.json("user", "api-key", "station-1", "--role", "marking_operator")
    assert data["key"].startswith("iti_")
    assert data["prefix"] == data["key"][:8]
    stored = cli.scalar("SELECT key_hash FROM api_keys WHERE name = 'station-1'")
    assert stored == hashlib.sha256(data["key"].encode()).hexdigest()
    cli("user", "api-key", "root-key", "--role", "admin", code=3)
