"""`iti serve` refuses a database that is not migrated, with a message saying what to do."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import iti_for


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    iti = iti_for(tmp_path / "empty.db", tmp_path, tmp_path)
    out = iti("serve", "--port", "1", code=6)
    assert "iti db upgrade" in out.stderr
