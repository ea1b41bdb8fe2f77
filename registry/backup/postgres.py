"""PostgreSQL: `pg_dump -Fc` from an exported snapshot, `pg_restore` in a single transaction.

The backup opens a REPEATABLE READ transaction, exports its snapshot and runs `pg_dump --snapshot=…`: the
dump and the manifest's row counts and audit root are then of exactly the same moment, however busy the
server is. The restore runs `pg_restore --single-transaction --exit-on-error`, so a failed restore leaves the
target as it was.

pg_dump must be at least the server's major version (it refuses older servers' newer catalogs otherwise);
Debian installs one client per major under /usr/lib/postgresql/<major>/bin, which is preferred when it
matches the server. `ITI_PG_BIN_DIR` overrides the choice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

from registry.backup.errors import BackupError


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (which goes in PGPASSWORD, never on a command line)."""
    u: URL = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def tool(name: str, major: int) -> str:
    """The path of pg_dump/pg_restore best suited to a server of `major`."""
    override = os.environ.get("ITI_PG_BIN_DIR")
    candidates = [Path(override) / name] if override else []
    candidates += [Path(f"/usr/lib/postgresql/{major}/bin/{name}")]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools of version {major} or later "
            "(Debian: apt-get install postgresql-client)"
        )
    return found


def tool_version(path: str) -> tuple[str, int]:
    done = subprocess.run([path, "--version"], check=True, capture_output=True, text=True)  # noqa: S603 - fixed argv, no shell
    out = done.stdout.strip()
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if match is None:
        raise BackupError(f"cannot tell the version of {path}: {out!r}")
    return out, int(match.group(1))


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - argv list, no shell
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


@contextmanager
def snapshot(url: str) -> Iterator[tuple[Connection, str]]:
    """A connection inside a REPEATABLE READ transaction and the id of its exported snapshot."""
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snap = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            yield conn, str(snap)
    finally:
        engine.dispose()


def dump(url: str, conn: Connection, snap: str, dest: Path) -> dict[str, str]:
    """`pg_dump -Fc` of the snapshot into `dest`; returns the versions involved, for the manifest."""
    major = server_major(conn)
    pg_dump = tool("pg_dump", major)
    described, tool_major = tool_version(pg_dump)
    if tool_major < major:
        raise BackupError(
            f"{pg_dump} is version {tool_major} but the server is {major}: install postgresql-client-{major}"
        )
    uri, env = _libpq(url)
    _run([pg_dump, "-Fc", "--snapshot", snap, "-f", str(dest), "-d", uri], env, "pg_dump")
    version = str(conn.execute(text("SHOW server_version")).scalar_one())
    return {"pg_dump": described, "postgresql_server": version}


def restore(url: str, archive_dump: Path, *, clean: bool) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            major = server_major(conn)
    finally:
        engine.dispose()
    pg_restore = tool("pg_restore", major)
    uri, env = _libpq(url)
    args = [pg_restore, "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run([*args, "-d", uri, str(archive_dump)], env, "pg_restore")
