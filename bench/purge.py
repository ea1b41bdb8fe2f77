"""What a retention purge costs per weapon on PostgreSQL, with and without the foreign-key indexes of
migration 0015, on the same data.

    python -m bench.explain --db iti_bench_purge --weapons 200000 --stages load,history --keep
    python -m bench.purge --db iti_bench_purge --weapons 20 --json bench/results/DATE-purge-200000.json

Deleting a weapon's events and marks makes PostgreSQL check, for every deleted row, the rows that reference
it (`events.corrects_event_id`, `events.marking_id`, `weapon_states.pending_transfer_event_id`,
`component_moves.event_id`). Each round purges the same sampled weapons with the registry's own
`registry.retention.service._purge_one` (the rows, the tombstone audit entry) inside one transaction that is
rolled back, so the database is left as it was: first as migrated, then with those four indexes dropped
inside the transaction (DDL is transactional in PostgreSQL; the rollback restores them). Records are never
purged before their retention ends; the call is timed here without that check, which is a read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.fuzzy import pg_url
from bench.run import code_version
from registry.db import make_engine
from registry.retention.service import _purge_one

FK_INDEXES = (
    "ix_events_corrects_event_id",
    "ix_events_marking_id",
    "ix_weapon_states_pending_transfer_event_id",
    "ix_component_moves_event_id",
)


def _round(session: Session, weapon_ids: list[Any], *, drop: bool) -> list[float]:
    if drop:
        for name in FK_INDEXES:
            session.execute(text(f"DROP INDEX {name}"))
    times = []
    now = datetime.now(UTC)
    for wid in weapon_ids:
        t0 = time.perf_counter()
        _purge_one(session, wid, actor="bench", now=now)
        session.flush()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def run(dbname: str, n: int) -> dict[str, Any]:
    engine = make_engine(pg_url(dbname, driver=True))
    with engine.connect() as conn:
        counts = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("weapons", "events", "markings", "weapon_states", "component_moves")
        }
        # Weapons with the most events: the heaviest purges, sampled the same way in both rounds.
        weapon_ids = list(
            conn.execute(
                text("SELECT weapon_id FROM weapon_states ORDER BY event_count DESC, weapon_id LIMIT :n"),
                {"n": n},
            ).scalars()
        )
        events = conn.execute(
            text("SELECT count(*) FROM events WHERE weapon_id = ANY(:ids)"), {"ids": weapon_ids}
        ).scalar_one()
    rounds: dict[str, Any] = {}
    for label, drop in (("with_indexes", False), ("without_fk_indexes", True)):
        with Session(engine) as session:
            session.begin()
            try:
                ms = _round(session, weapon_ids, drop=drop)
                left = session.execute(
                    text("SELECT count(*) FROM events WHERE weapon_id = ANY(:ids)"), {"ids": weapon_ids}
                ).scalar_one()
            finally:
                session.rollback()
        rounds[label] = {**_summary(ms), "events_left_before_rollback": left}
        print(f"{label}: {rounds[label]}", file=sys.stderr, flush=True)
    engine.dispose()
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "database": dbname,
        "rows": counts,
        "weapons_purged": len(weapon_ids),
        "their_events": events,
        "rounds": rounds,
        "ratio": round(rounds["without_fk_indexes"]["p50_ms"] / rounds["with_indexes"]["p50_ms"], 1),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "loadavg": os.getloadavg(),
        },
        "code": code_version(),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="a kept bench.explain database (iti_bench_*)")
    p.add_argument("--weapons", type=int, default=20)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not args.db.startswith("iti_bench_"):
        p.error("--db must be a bench database (iti_bench_*)")
    result = run(args.db, args.weapons)
    out = json.dumps(result, indent=1, default=str)
    if args.json:
        args.json.write_text(out + "\n")
    print(out)


if __name__ == "__main__":
    main()
