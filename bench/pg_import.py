"""`iti import` on PostgreSQL: the COPY write path against the `executemany` one, same file, same rules.

    python -m bench.pg_import --weapons 1000000 --old-weapons 100000 \
        --json bench/results/2026-11-25-import-postgresql-1000000.json

For each run: a fresh database `iti_bench_import` made by `iti db upgrade`, then `iti --json import FILE`
as a child process (wall time, rate, peak RSS and RSS by tenth of the run, load average before and after),
the rows counted per table and the database size. Runs:

- `copy`: the default on PostgreSQL (registry/imports/copy_writer.py), at `--weapons`;
- `executemany`: `ITI_IMPORT_COPY=off`, at `--old-weapons` (the old path is slower; 0 skips it);
- `copy, skeleton triggers` (with `--trigger-cost`): `ITI_IMPORT_COPY=triggers`, the COPY path that leaves
  the two skeleton triggers to fill `serial_skeletons`, at `--old-weapons`, to price the triggers;
- `iti audit verify` on the `copy` database (with `--verify`).

Files come from `bench.generate` (seed 1, as `bench.run`). The database is dropped at the end (`--keep` keeps
the last one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import generate
from bench.fuzzy import iti_env, pg_drop, pg_recreate, pg_url
from bench.run import REPO, code_version, iti_command, machine, run_child

DBNAME = "iti_bench_import"
TABLES = ("weapons", "markings", "events", "weapon_states", "serial_skeletons", "audit_entries")


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def _env(work: Path, **extra: str) -> dict[str, str]:
    env = iti_env(pg_url(DBNAME, driver=True), work / "var")
    env |= {"ITI_PROFILE": "iti", **extra}
    return env


def _fresh(work: Path) -> None:
    pg_recreate(DBNAME)
    child = run_child([*iti_command(), "--json", "db", "upgrade"], _env(work), work / "upgrade.log")
    if child.returncode != 0:
        raise RuntimeError("iti db upgrade failed")


def _facts() -> dict[str, Any]:
    import psycopg

    with psycopg.connect(pg_url(DBNAME), autocommit=True) as con:
        rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]
        size = con.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {"rows": rows, "database_mb": round(size / 2**20)}


def import_run(
    label: str, path: Path, n: int, work: Path, *, env: dict[str, str], sql: str = ""
) -> dict[str, Any]:
    log(f"{label}: {n:,} weapons")
    _fresh(work)
    if sql:
        import psycopg

        with psycopg.connect(pg_url(DBNAME), autocommit=True) as con:
            con.execute(sql)
    load_before = os.getloadavg()
    child = run_child(
        [*iti_command(), "--json", "import", str(path)], _env(work, **env), work / f"{label}.log"
    )
    load_after = os.getloadavg()
    if child.output["imported"] != n:
        raise RuntimeError(f"{label}: imported {child.output['imported']} of {n}")
    out = {
        "label": label,
        "weapons": n,
        "env": env,
        "extra_sql": sql or None,
        "wall_s": round(child.wall_s, 1),
        "weapons_per_s": round(n / child.wall_s),
        "peak_rss_mb": round(child.max_rss_mb),
        "rss_by_tenth_mb": child.rss_by_tenth(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "warnings": child.output["warnings"],
        **_facts(),
    }
    log(f"  {out['weapons_per_s']:,} weapons/s, {out['wall_s']} s, peak RSS {out['peak_rss_mb']} MB")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weapons", type=int, default=100_000, help="size of the COPY run")
    ap.add_argument("--old-weapons", type=int, default=0, help="size of the executemany run (0: none)")
    ap.add_argument("--trigger-cost", action="store_true", help="also COPY without the skeleton triggers")
    ap.add_argument("--verify", action="store_true", help="iti audit verify after the COPY run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the database of the last run")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="iti-bench-pgimport-", dir=args.workdir))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python -m bench.pg_import " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "code_at_start": code_version(),
        "seed": args.seed,
        "runs": [],
    }
    try:
        sizes = sorted({args.weapons, args.old_weapons} - {0})
        files = {}
        for n in sizes:
            t0 = time.perf_counter()
            files[n] = generate.write_file(work / f"weapons-{n}.csv", n, args.seed)
            log(f"generated {n:,} rows in {time.perf_counter() - t0:.0f} s")
        runs = results["runs"]
        if args.old_weapons:
            runs.append(
                import_run(
                    "executemany",
                    files[args.old_weapons],
                    args.old_weapons,
                    work,
                    env={"ITI_IMPORT_COPY": "off"},
                )
            )
            if args.old_weapons != args.weapons:
                runs.append(
                    import_run("copy (same size)", files[args.old_weapons], args.old_weapons, work, env={})
                )
        if args.trigger_cost:
            n = args.old_weapons or args.weapons
            runs.append(
                import_run("copy, skeleton triggers", files[n], n, work, env={"ITI_IMPORT_COPY": "triggers"})
            )
        runs.append(import_run("copy", files[args.weapons], args.weapons, work, env={}))
        if args.verify:
            log("iti audit verify")
            child = run_child([*iti_command(), "--json", "audit", "verify"], _env(work), work / "verify.log")
            results["verify"] = {
                "ok": child.output["ok"],
                "entries": child.output["entries"],
                "wall_s": round(child.wall_s, 1),
                "peak_rss_mb": round(child.max_rss_mb),
            }
            log(f"  ok={child.output['ok']} in {child.wall_s:.0f} s")
    finally:
        results["code_at_end"] = code_version()
        if args.json:
            path = args.json if args.json.is_absolute() else REPO / args.json
            path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
            log(f"wrote {path}")
        if not args.keep:
            pg_drop(DBNAME)


if __name__ == "__main__":
    main()
