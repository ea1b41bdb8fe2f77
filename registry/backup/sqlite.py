"""SQLite: copies through SQLite's online backup API, never a file copy.

The backup API copies the database page by page under a read transaction, so the copy is one consistent
snapshot even while the server keeps writing (in WAL mode writers are not blocked meanwhile). A restore
goes the same way in the other direction, through SQLite's locks, so a process that still has the target
open sees either the old database or the restored one, never a mixture.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from registry.backup.errors import BackupError

BUSY_TIMEOUT_S = 30.0


def path_of(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(
            "an in-memory SQLite database cannot be backed up or restored", field="database_url"
        )
    return Path(database)


def snapshot(source: Path, dest: Path) -> None:
    """A consistent copy of `source` in `dest` (a single self-contained file, no WAL beside it)."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}", field="database_url")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def check_integrity(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"the SQLite database in the archive fails its integrity check: {result}")


def restore(copy: Path, target: Path) -> None:
    """Replace the contents of `target` (created if missing) with `copy`, through SQLite's own locking."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def engine_for(path: Path) -> Engine:
    """A plain engine (no WAL pragma): used on temporary copies only."""
    return create_engine(f"sqlite:///{path}")
