"""The COPY write path of imports on PostgreSQL (registry/imports/copy_writer.py): the same rows as the
`executemany` path in every table, an audit log that verifies, every bad row reported with nothing committed,
and nothing left behind by an import killed in the middle of a COPY.

PostgreSQL only: COPY does not exist on SQLite (where the import keeps `executemany`).
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from bench import generate
from bench.run import iti_command
from registry.audit.checker import verify
from registry.audit.models import AuditEntry
from registry.errors import ImportRejected
from registry.imports import copy_writer
from registry.imports.service import ImportResult, import_file
from registry.profiles import ITI
from registry.weapons.models import Weapon
from tests.factories import ACTOR, HOME

pytestmark = pytest.mark.postgres

TABLES = ("weapons", "markings", "events", "weapon_states", "serial_skeletons")
# Clocks of the run: differ by nature between two imports of the same file (the ids are mapped, see `labels`).
VOLATILE = {"registered_at", "recorded_at", "updated_at"}
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def pg(postgres_engine: Engine) -> Iterator[Session]:
    """As the `session` fixture, on PostgreSQL only."""
    with postgres_engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            yield s
        outer.rollback()


def national_file(path: Path, n: int, *, every_tenth_imported: bool = True) -> Path:
    """`bench.generate`'s realistic rows; every tenth one an import into Kenya (a second, import mark), every
    seventh with the serial alone as its mark's text (no separate text row in `serial_skeletons`)."""
    buf = io.StringIO()
    generate.write_csv(buf, n, seed=7)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    fields = [*rows[0].keys(), "import_country", "import_year", "custodian"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=fields)
        out.writeheader()
        for i, r in enumerate(rows):
            if every_tenth_imported and i % 10 == 3:
                r |= {"event_type": "imported", "import_country": "KE", "import_year": "2021"}
            if i % 7 == 5:
                r["mark_text"] = r["serial"]
            out.writerow(r)
    return path


def run_import(session: Session, path: Path, **kwargs: Any) -> ImportResult:
    return import_file(session, actor=ACTOR, path=path, profile=ITI, home_country=HOME, **kwargs)


class Inserts:
    """Counts INSERT statements per table (a COPY goes to the driver, not through these)."""

    def __init__(self, engine: Engine) -> None:
        self.count: dict[str, int] = {}
        self.engine = engine

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if match := re.match(r"INSERT INTO (\w+)", statement):
            self.count[match[1]] = self.count.get(match[1], 0) + 1

    def __enter__(self) -> Inserts:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def _value(v: Any, labels: dict[str, str]) -> Any:
    if isinstance(v, uuid.UUID):
        return labels.get(str(v), str(v))
    if isinstance(v, dict | list):
        v = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(v, str):
        return UUID_RE.sub(lambda m: labels.get(m[0], m[0]), v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def snapshot(session: Session, job_id: uuid.UUID, first_seq: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the import wrote, ids replaced by names that do not depend on the run (the weapon's
    uniqueness key, its mark's kind and text, its event's number), clocks of the run left out."""
    conn = session.connection()
    labels = {str(job_id): "job"}
    weapons = conn.execute(
        text("SELECT id, uniqueness_key FROM weapons WHERE import_job_id = :j"), {"j": job_id}
    ).all()
    labels |= {str(i): f"W|{k}" for i, k in weapons}
    ids = [i for i, _ in weapons]
    for i, w, kind, txt in conn.execute(
        text("SELECT id, weapon_id, kind, text FROM markings WHERE weapon_id = ANY(:ids)"), {"ids": ids}
    ):
        labels[str(i)] = f"M|{labels[str(w)]}|{kind}|{txt}"
    for i, w, seq in conn.execute(
        text("SELECT id, weapon_id, seq FROM events WHERE weapon_id = ANY(:ids)"), {"ids": ids}
    ):
        labels[str(i)] = f"E|{labels[str(w)]}|{seq}"
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        fk = "id" if table == "weapons" else "weapon_id"
        result = conn.execute(text(f"SELECT * FROM {table} WHERE {fk} = ANY(:ids)"), {"ids": ids})
        cols = list(result.keys())
        rows = []
        for r in result:
            kept = []
            for c, v in zip(cols, r, strict=True):
                if c in VOLATILE:
                    assert isinstance(v, datetime)  # present, of the right type
                    continue
                kept.append((c, _value(v, labels)))
            rows.append(tuple(kept))
        out[table] = sorted(rows, key=repr)
    entries = []
    for actor, action, subject, body in conn.execute(
        text("SELECT actor, action, subject, body FROM audit_entries WHERE seq >= :s ORDER BY seq"),
        {"s": first_seq},
    ):
        b = orjson.loads(bytes(body))
        # A record's digest covers its id and clocks: compared as present, 64 hex digits.
        records = [(t, _value(i, labels), len(d)) for t, i, d in b["records"]]
        entries.append((actor, action, _value(subject, labels), records, _value(b["info"], labels), b["v"]))
    out["audit_entries"] = sorted(entries, key=repr)
    return out


def next_seq(session: Session) -> int:
    return session.execute(select(func.coalesce(func.max(AuditEntry.seq), -1))).scalar_one() + 1


def _skeleton_triggers_enabled(session: Session) -> list[str]:
    return list(
        session.execute(
            text(
                "SELECT tgenabled FROM pg_trigger WHERE tgname IN ('trg_weapons_skeleton', 'trg_markings_skeleton')"
            )
        ).scalars()
    )


@pytest.mark.parametrize("owner", [True, False], ids=["table owner", "not the owner"])
def test_copy_writes_the_same_rows_as_executemany_and_the_log_verifies(
    pg: Session, postgres_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: bool
) -> None:
    """As the owner of the tables, the import writes `serial_skeletons` itself with the triggers off; as
    another role it may not switch them off, and the triggers write the rows. The same rows either way."""
    if not owner:
        # A role with every right on the rows but not the tables' owner (rolled back with the test).
        role = f"iti_test_writer_{uuid.uuid4().hex[:8]}"
        pg.execute(text(f"CREATE ROLE {role}"))
        pg.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
        pg.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        pg.execute(text(f"SET LOCAL ROLE {role}"))
    assert copy_writer._may_switch_triggers(pg) is owner
    n = 1500 if owner else 500
    path = national_file(tmp_path / "national.csv", n)
    seq0 = next_seq(pg)

    monkeypatch.setenv(copy_writer.ENV, "off")
    assert not copy_writer.enabled(pg)
    with Inserts(postgres_engine) as old_inserts:
        savepoint = pg.begin_nested()
        old = run_import(pg, path, batch_size=n // 4 + 1)  # four batches
        before = snapshot(pg, old.job_id, seq0)
        savepoint.rollback()
    assert pg.execute(select(func.count()).select_from(Weapon)).scalar_one() == 0

    monkeypatch.delenv(copy_writer.ENV)
    assert copy_writer.enabled(pg)
    with Inserts(postgres_engine) as copy_inserts:
        new = run_import(pg, path, batch_size=n // 4 + 1)
    after = snapshot(pg, new.job_id, seq0)
    assert _skeleton_triggers_enabled(pg) == ["O", "O"]  # on again for every other writer

    assert {t: old_inserts.count.get(t, 0) > 0 for t in (*TABLES[:4], "audit_entries")} == dict.fromkeys(
        (*TABLES[:4], "audit_entries"), True
    )
    # Every weapon row and its audit entry went by COPY; the one audit INSERT is `import.finished`.
    assert {t: copy_inserts.count.get(t, 0) for t in (*TABLES[:4], "audit_entries")} == {
        "weapons": 0,
        "markings": 0,
        "events": 0,
        "weapon_states": 0,
        "audit_entries": 1,
    }
    assert (new.rows, new.imported, new.rejects, new.warnings) == (old.rows, old.imported, [], old.warnings)
    assert new.imported == n
    counts = {t: len(after[t]) for t in after}
    assert counts == {t: len(before[t]) for t in before}
    assert counts["markings"] == n * 11 // 10  # with an import mark on every tenth
    assert n < counts["serial_skeletons"] < 2 * counts["markings"]
    assert counts["audit_entries"] == n + 1  # one per weapon and import.finished
    for table in after:
        assert after[table] == before[table], table
    report = verify(pg)
    assert report.ok, report.first


def test_copy_reports_every_bad_row_and_writes_nothing(pg: Session, tmp_path: Path) -> None:
    path = national_file(tmp_path / "national.csv", 900, every_tenth_imported=False)
    lines = path.read_text(encoding="utf-8").splitlines()
    # Bad rows after batches were already copied: an unknown category, a serial repeated from a copied
    # batch (found in the database, in this transaction), a year that is not a number.
    rows = list(csv.reader(lines))
    rows[600][0] = "SA-XXX"
    rows[700] = list(rows[5])
    rows[850][6] = "19x5"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    seq0 = next_seq(pg)

    with pytest.raises(ImportRejected) as refused, pg.begin_nested():
        run_import(pg, path, batch_size=200)

    assert [(r["line"], r["field"]) for r in refused.value.rejects] == [
        (601, "category"),
        (701, "serial"),
        (851, "year_of_manufacture"),
    ]
    assert "twice" in refused.value.rejects[1]["reason"]
    assert "3 of 900 records are invalid" in refused.value.message
    assert pg.execute(select(func.count()).select_from(Weapon)).scalar_one() == 0
    assert next_seq(pg) == seq0
    assert verify(pg).ok


def test_a_failure_inside_a_copy_leaves_nothing(pg: Session, tmp_path: Path) -> None:
    """The server refuses a row in the middle of the third batch's COPY: the import raises and its savepoint
    (the edge's transaction) leaves nothing."""
    path = national_file(tmp_path / "national.csv", 600, every_tenth_imported=False)
    with path.open(encoding="utf-8") as fh:
        bad = list(csv.DictReader(fh))[450]["serial"]
    pg.execute(text(f"ALTER TABLE weapons ADD CONSTRAINT ck_test_refused CHECK (serial <> '{bad}')"))
    seq0 = next_seq(pg)

    with pytest.raises(Exception, match="ck_test_refused"), pg.begin_nested():
        run_import(pg, path, batch_size=200)

    assert pg.execute(select(func.count()).select_from(Weapon)).scalar_one() == 0
    assert next_seq(pg) == seq0


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_an_import_killed_mid_copy_leaves_nothing_and_can_run_again(
    pg: Session, postgres_engine: Engine, tmp_path: Path
) -> None:
    """`iti import` killed (SIGKILL) while one of its COPYs is under way, on the test database: the server
    rolls the import back; the same file then imports whole."""
    url = postgres_engine.url.render_as_string(hide_password=False)
    path = national_file(tmp_path / "national.csv", 2500)  # two batches of the CLI's 2,000
    app = f"iti-test-kill-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITI_")}
    env |= {
        "ITI_DATABASE_URL": url,
        "ITI_VAR_DIR": str(tmp_path / "var"),
        "ITI_AUDIT_KEY_PASSPHRASE": "test-passphrase",
        "ITI_ACTOR": ACTOR,
        "ITI_PROFILE": "iti",
        "ITI_NODE_COUNTRY": HOME,
        "PGAPPNAME": app,  # libpq names the child's connections, to watch them
    }
    tables = ["weapons", "markings", "serial_skeletons", "import_jobs", "audit_entries", "audit_tree_heads"]
    counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    seen: list[tuple[str, int]] = []
    with (
        psycopg.connect(_psycopg_url(url), autocommit=True) as watch,
        (tmp_path / "import.err").open("wb") as err,
    ):
        before = watch.execute(counts).fetchone()
        proc = subprocess.Popen(
            [*iti_command(), "--json", "import", str(path)], env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            # A COPY of the import in progress, rows of it already sent.
            row = watch.execute(
                "SELECT c.relid::regclass::text, c.tuples_processed FROM pg_stat_progress_copy c "
                "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = %s AND c.tuples_processed > 0",
                [app],
            ).fetchone()
            if row is not None:
                seen.append(row)
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.003)  # the import and the server need the machine's cores more than this loop
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, (tmp_path / "import.err").read_text()[-2000:]
        assert seen, "no COPY in progress was caught"
        # The server notices the lost client and rolls its transaction back.
        for _ in range(500):
            alive = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app])
            if alive.fetchone() == (0,):
                break
            time.sleep(0.02)
        assert watch.execute(counts).fetchone() == before
    assert _skeleton_triggers_enabled(pg) == ["O", "O"]
    assert verify(pg).ok

    again = run_import(pg, path)
    assert (again.imported, again.rejects) == (2500, [])
    assert verify(pg).ok
