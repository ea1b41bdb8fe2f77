"""The suite's read-side figures on a database an earlier run kept, without importing again: size per table,
exact look-ups (p50/p99 with plans), and `iti audit verify` (log only, and with every row on request).

    python -m bench.pg_import --weapons 10000000 --keep --json bench/results/DATE-import-postgresql-10000000.json
    python -m bench.kept --db iti_bench_import --verify-records --json bench/results/DATE-kept-postgresql-10000000.json

At 10,000,000 weapons a whole `bench.run --db postgresql` (baseline COPY, two imports, row comparison) takes
longer than a working session on this machine; the import alone is `bench.pg_import`, and this runs the
remaining steps on what it kept, with the same functions as `bench.run` (`bench.run_pg`, `bench.steps`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import run_pg
from bench.run import code_version, iti_command, machine, run_child


def verify(dbname: str, work: Path, *, records: bool) -> dict[str, Any]:
    extra = [] if records else ["--no-records"]
    child = run_child(
        [*iti_command(), "--json", "audit", "verify", *extra],
        run_pg.env(dbname, work / "var"),
        work / f"verify-{'records' if records else 'log'}.log",
    )
    if not child.output["ok"]:
        raise RuntimeError(f"audit verify failed: {child.output}")
    return {
        "entries": child.output["entries"],
        "records": child.output["records"],
        "wall_s": child.wall_s,
        "entries_per_s": child.output["entries"] / child.wall_s,
        "peak_rss_mb": child.max_rss_mb,
    }


def run(dbname: str, *, lookups: int, budget_s: float, verify_records: bool, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "database": dbname,
        "machine": machine() | {"postgresql": run_pg.server(), "loadavg_at_start": os.getloadavg()},
        "code": code_version(),
    }
    t0 = time.perf_counter()
    out["size"] = run_pg.sizes(dbname)
    out["size_s"] = time.perf_counter() - t0
    print(f"size: {out['size']['bytes_per_weapon']:,.0f} bytes a weapon", flush=True)
    sample = run_pg.lookup_sample(dbname, lookups, seed)
    out["lookup"] = run_pg.lookups(dbname, sample, budget_s=budget_s)
    print(
        f"look-ups: {out['lookup'].get('median_ms')} ms median, {out['lookup'].get('p99_ms')} ms p99",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="iti-bench-kept-") as tmp:
        out["verify"] = {"log_only": verify(dbname, Path(tmp), records=False)}
        print(f"verify, log only: {out['verify']['log_only']['wall_s']:.1f} s", flush=True)
        if verify_records:
            out["verify"]["records"] = verify(dbname, Path(tmp), records=True)
            print(f"verify, with records: {out['verify']['records']['wall_s']:.1f} s", flush=True)
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="a kept bench database (iti_bench_*)")
    p.add_argument("--lookups", type=int, default=2000)
    p.add_argument("--lookup-budget", type=float, default=120.0)
    p.add_argument("--verify-records", action="store_true", help="also verify with every audited row")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not args.db.startswith("iti_bench_"):
        p.error("--db must be a bench database (iti_bench_*)")
    result = run(
        args.db,
        lookups=args.lookups,
        budget_s=args.lookup_budget,
        verify_records=args.verify_records,
        seed=args.seed,
    )
    text = json.dumps(result, indent=1, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    print(text[:2000])


if __name__ == "__main__":
    main()
