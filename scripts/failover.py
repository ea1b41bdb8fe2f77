#!/usr/bin/env python3
"""Promote a streaming standby to primary after the primary has failed, with PostgreSQL's own machinery.

    python scripts/failover.py \\
        --old-primary "host=db1.example port=5432 user=postgres dbname=postgres" \\
        --standby     "host=db2.example port=5432 user=postgres dbname=postgres" [--async-until-new-standby]

What it does, in order (each step prints what it found):

1. Makes sure the old primary is really gone: it tries to connect `--checks` times, `--interval` seconds
   apart. If the old primary answers as a primary, it refuses (exit 1): promoting now would give two
   primaries taking writes (split brain). `--force` skips this only when you have fenced the old primary
   yourself (powered it off, cut it from the network, `pg_ctl stop`).
2. Checks the standby is still a standby (`pg_is_in_recovery()`); if it was already promoted it says so and
   exits 0, so the script can be run again safely.
3. Waits until the standby has replayed all the WAL it received (`pg_last_wal_replay_lsn()` >=
   `pg_last_wal_receive_lsn()`), so the promoted server holds everything that reached it.
4. Promotes it: `SELECT pg_promote(wait => true)`, and checks it now accepts writes.
5. With `--async-until-new-standby`: clears `synchronous_standby_names` on the new primary. A standby made
   with `pg_basebackup` from a primary that required a synchronous standby inherits that setting; as the
   only server left it would then wait forever for a standby that does not exist, and every write would
   hang. Clearing it trades the guarantee "acknowledged => on two servers" for availability until a new
   standby is attached (then set it again: docs/operations.md).

What is automatic and what is not: the DECISION to fail over is a person's (or a monitor's) — this script
does not watch the primary. Everything after the decision is scripted, and the application needs nothing:
with a multi-host `ITI_DATABASE_URL` (`?host=db1:5432&host=db2:5432&target_session_attrs=read-write`) libpq
connects to whichever server accepts writes. For unattended failover use pg_auto_failover (Debian:
postgresql-NN-auto-failover), whose monitor makes this decision with a witness; see docs/scaling.md.

Exit codes: 0 promoted (or already primary), 1 refused (old primary alive), 3 standby unusable.
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 3


def say(message: str) -> None:
    print(f"failover: {message}", flush=True)  # noqa: T201 - an operator's script reports on stdout


def _connect(dsn: str, timeout: int = 3) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=timeout)


def old_primary_alive(dsn: str, *, checks: int, interval: float) -> bool:
    """True if any check finds the old primary answering as a primary (not in recovery)."""
    for attempt in range(1, checks + 1):
        try:
            with _connect(dsn) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.OperationalError as exc:
            say(f"check {attempt}/{checks}: old primary unreachable ({str(exc).strip().splitlines()[0]})")
        else:
            if row is not None and row[0] is False:
                say(f"check {attempt}/{checks}: old primary ANSWERS and accepts writes")
                return True
            say(f"check {attempt}/{checks}: old primary answers but is in recovery (not a primary)")
        if attempt < checks:
            time.sleep(interval)
    return False


def wait_replayed(conn: psycopg.Connection[tuple[object, ...]], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(
            "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
            " pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()"
        ).fetchone()
        assert row is not None
        received, replayed, done = row
        if done:
            say(f"standby has replayed all it received (received {received}, replayed {replayed})")
            return
        if time.monotonic() > deadline:
            say(
                f"replay still behind after {timeout:g} s (received {received}, replayed {replayed}); promoting"
            )
            return
        time.sleep(0.1)


def promote(dsn: str, *, timeout: int, async_until_new_standby: bool) -> int:
    try:
        conn = _connect(dsn)
    except psycopg.OperationalError as exc:
        say(f"standby unreachable: {exc}")
        return EXIT_UNUSABLE
    with conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and row[0] is False:
            say("the standby is already a primary: nothing to do")
            return EXIT_OK
        wait_replayed(conn, timeout=timeout)
        say("promoting the standby (pg_promote)")
        promoted = conn.execute("SELECT pg_promote(true, %s)", (timeout,)).fetchone()
        if promoted is None or promoted[0] is not True:
            say(f"pg_promote did not finish within {timeout} s")
            return EXIT_UNUSABLE
        if async_until_new_standby:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
            conn.execute("SELECT pg_reload_conf()")
            say(
                "synchronous_standby_names cleared: writes no longer wait for a standby until one is attached"
            )
        row = conn.execute(
            "SELECT pg_is_in_recovery(), pg_current_wal_lsn()::text, current_setting('synchronous_standby_names')"
        ).fetchone()
        assert row is not None
        in_recovery, lsn, sync_names = row
        if in_recovery:
            say("the server still reports recovery after promotion")
            return EXIT_UNUSABLE
        say(f"new primary accepts writes at WAL {lsn}; synchronous_standby_names = {sync_names!r}")
    say("next: rebuild the old primary as a standby of the new one (pg_rewind or pg_basebackup -R), then")
    say("      set synchronous_standby_names again; see docs/operations.md 'Replicas and failover'")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old-primary", required=True, help="libpq conninfo of the failed primary")
    parser.add_argument("--standby", required=True, help="libpq conninfo of the standby to promote")
    parser.add_argument("--checks", type=int, default=3, help="connection attempts to the old primary")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between those attempts")
    parser.add_argument("--timeout", type=int, default=60, help="seconds to wait for replay and promotion")
    parser.add_argument("--force", action="store_true", help="skip the old-primary check (fenced by you)")
    parser.add_argument(
        "--async-until-new-standby",
        action="store_true",
        help="clear synchronous_standby_names on the new primary so writes do not wait for a missing standby",
    )
    args = parser.parse_args(argv)
    if not args.force and old_primary_alive(args.old_primary, checks=args.checks, interval=args.interval):
        say("refusing to promote while the old primary takes writes (stop or fence it, or pass --force)")
        return EXIT_REFUSED
    return promote(args.standby, timeout=args.timeout, async_until_new_standby=args.async_until_new_standby)


if __name__ == "__main__":
    sys.exit(main())
