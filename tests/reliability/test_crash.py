"""kill -9 of the CLI in the middle of an import and of the server under concurrent writes (SQLite).

Small sizes here so CI stays within its time; `python -m bench.crash` runs the same drills at 100,000 rows
and under longer load (figures in docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

from bench.crash import import_drill, server_drill

CLEAN = {"audit_verify": 0, "records_check": 0}


def test_kill_9_mid_import_leaves_nothing_half_written_and_the_import_reruns_without_duplicates(
    tmp_path: Path,
) -> None:
    d = import_drill(tmp_path, rows=4000, kill_at_wal_bytes=1_000_000)
    assert not d.import_finished_before_kill, "the import ended before the kill: raise the row count"
    assert d.wal_bytes_at_kill >= 1_000_000  # killed while the import's transaction was being written
    # All or nothing: not one weapon and not one audit entry of the killed import survived.
    assert d.weapons_after_kill == 0
    assert d.audit_entries_after_kill == d.audit_entries_before
    assert d.checks_after_kill == CLEAN
    assert d.rerun_exit == 0
    assert d.weapons_after_rerun == 4000
    # A third run is refused (every row is already registered) and adds nothing.
    assert d.third_run_exit != 0
    assert d.weapons_after_third_run == 4000
    assert d.checks_at_end == CLEAN


def test_kill_9_of_the_server_under_concurrent_appends_loses_no_acknowledged_write(tmp_path: Path) -> None:
    d = server_drill(tmp_path, threads=4, seconds=3)
    assert d.acknowledged > 0
    assert d.acknowledged_missing == []  # every 201 is in the database after the crash
    assert d.events_in_database >= d.acknowledged + 4  # + the registrations' first events
    # Writers queue for SQLite's one write lock (BEGIN IMMEDIATE, registry.db.WRITES): none is refused.
    assert d.other_statuses == {}
    assert d.checks_after_kill == CLEAN
    assert d.restarted_ready
    assert d.append_after_restart == 201
