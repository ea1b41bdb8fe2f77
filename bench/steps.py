"""The steps `bench.run` takes the same way on SQLite (bench/run.py) and on PostgreSQL (bench/run_pg.py): the
results header, the CSV files, the import's figures, `iti audit verify` against the bare hashlib Merkle root,
the `find_by_mark` timing loop and its figures, and the report lines both Markdown blocks share.

Each backend keeps what differs: how it makes databases, its baseline, its row comparison, its query plans.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import generate
from bench.run import (
    ChildRun,
    _percentile,
    _step,
    code_version,
    iti_command,
    merkle_baseline,
    registry_changed,
    run_child,
)

# (weapon id hex, query, kind) of one look-up; kind is "serial" or "mark_text".
Lookup = tuple[str, str, str]


# --- the run's frame --------------------------------------------------------------------------------------


def header(args: argparse.Namespace, machine: dict[str, Any], **backend: Any) -> dict[str, Any]:
    """The results' first keys; `backend` (PostgreSQL's database names) goes right after the date."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        **backend,
        "weapons": args.weapons,
        "seed": args.seed,
        "machine": machine,
        "command": "python -m bench.run " + " ".join(sys.argv[1:]),
        "code_at_start": code_version(),
    }


def write_csv_files(results: dict[str, Any], work: Path, n: int, small: int, seed: int) -> tuple[Path, Path]:
    """The full file and the small one (its first tenth), timed for the results."""
    _step(f"generating {n:,} rows (and the first {small:,} as the small file) in {work}")
    t0 = time.perf_counter()
    csv_full = generate.write_file(work / f"weapons-{n}.csv", n, seed)
    results["generate_s"] = time.perf_counter() - t0
    csv_small = generate.write_file(work / f"weapons-{small}.csv", small, seed)
    results["csv_bytes"] = csv_full.stat().st_size
    return csv_full, csv_small


@contextlib.contextmanager
def cleaned_up(
    work: Path, *, keep: bool, kept_note: str = "", then: Callable[[], None] | None = None
) -> Iterator[None]:
    """Remove the run's folder (and `then`, its databases) when the run ends, failed or not, unless --keep."""
    try:
        yield
    finally:
        if keep:
            print(f"kept {work}{kept_note}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            if then is not None:
                then()


def finish(results: dict[str, Any]) -> None:
    """Load and code at the end, so a reader sees whether other work changed the registry during the run."""
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["code_at_end"] = code_version()
    results["registry_changed_during_run"] = registry_changed(
        results["code_at_start"], results["code_at_end"]
    )


# --- a., b. baseline and import ---------------------------------------------------------------------------


def print_baseline(base: dict[str, Any]) -> None:
    print(
        f"   {base['weapons_per_s']:,.0f} weapons/s (SQL), {base['weapons_per_s_incl_build']:,.0f} incl. build"
    )


def run_import(path: Path, rows: int, env: dict[str, str], log: Path) -> ChildRun:
    """`iti import FILE` as a child process; every row must be imported."""
    child = run_child([*iti_command(), "--json", "import", str(path)], env, log)
    if child.output["imported"] != rows:
        raise RuntimeError(f"the import wrote {child.output['imported']} of {rows} rows")
    return child


def import_figures(child: ChildRun, rows: int, **extra: Any) -> dict[str, Any]:
    """One import's figures; `extra` (PostgreSQL's server backend memory) goes before the warnings."""
    return {
        "weapons": rows,
        "wall_s": child.wall_s,
        "weapons_per_s": rows / child.wall_s,
        "peak_rss_mb": child.max_rss_mb,
        "rss_by_tenth_mb": child.rss_by_tenth(),
        **extra,
        "warnings": child.output["warnings"],
        "rejected": child.output["rejected"],
    }


def import_summary(child: ChildRun, rows: int) -> str:
    return f"   {rows / child.wall_s:,.0f} weapons/s, peak RSS {child.max_rss_mb:.0f} MB"


def import_ratios(results: dict[str, Any]) -> None:
    full, base = results["import"]["full"], results["baseline"]
    results["import_ratio"] = full["weapons_per_s"] / base["weapons_per_s"]
    results["import_ratio_incl_build"] = full["weapons_per_s"] / base["weapons_per_s_incl_build"]


def timed_equivalence(results: dict[str, Any], compare: Callable[[], dict[str, Any]]) -> None:
    t0 = time.perf_counter()
    results["equivalence"] = compare()
    results["equivalence"]["seconds"] = time.perf_counter() - t0
    print(f"   identical: {results['equivalence']['identical']}")


# --- c. audit verify against the bare hashlib Merkle root -------------------------------------------------


def verify_and_merkle(results: dict[str, Any], env: dict[str, str], work: Path, n: int, seed: int) -> None:
    """`iti audit verify` with and without the records, then the bare Merkle root over as many leaves."""
    results["verify"] = verify = {}
    for label, extra in (("records", []), ("log_only", ["--no-records"])):
        _step(f"c. iti audit verify {' '.join(extra)}")
        child = run_child(
            [*iti_command(), "--json", "audit", "verify", *extra], env, work / f"verify-{label}.log"
        )
        if not child.output["ok"]:
            raise RuntimeError(f"audit verify failed: {child.output}")
        verify[label] = {
            "entries": child.output["entries"],
            "records": child.output["records"],
            "wall_s": child.wall_s,
            "entries_per_s": child.output["entries"] / child.wall_s,
            "peak_rss_mb": child.max_rss_mb,
        }
        print(f"   {child.wall_s:.1f} s, {child.output['entries'] / child.wall_s:,.0f} entries/s")

    _step(f"c'. bare hashlib Merkle root over {n:,} leaves of 300 bytes")
    results["merkle_baseline"] = mb = merkle_baseline(n, 300, seed)
    for v in verify.values():
        v["ratio_to_hashlib"] = v["wall_s"] / mb["seconds"]
    print(f"   {mb['seconds']:.2f} s")


# --- d. find_by_mark --------------------------------------------------------------------------------------


def lookup_queries(rows: Iterable[tuple[str, str, str]]) -> list[Lookup]:
    """(weapon id hex, serial, mark text) rows, already shuffled, as look-ups: 3 in 4 by serial (1 in 8
    typed in lower case with spaces), 1 in 4 by the full text of the manufacture mark."""
    out = []
    for i, (wid, serial, text) in enumerate(rows):
        if i % 4 == 3:
            out.append((wid, text, "mark_text"))
        elif i % 8 == 1:
            out.append((wid, " ".join(serial.lower()[j : j + 3] for j in range(0, len(serial), 3)), "serial"))
        else:
            out.append((wid, serial, "serial"))
    return out


def time_find_by_mark(
    engine: Any, sample: list[Lookup], *, budget_s: float, warmup: int
) -> tuple[dict[str, list[float]], int, list[tuple[str, Any]]]:
    """`find_by_mark` in-process, a new Session per look-up (as a request would have): milliseconds per kind
    after the warm-up, misses (the expected weapon not found), and the (statement, parameters) of the first
    timed look-up, for the caller to explain."""
    from sqlalchemy import event

    from registry.db import make_sessionmaker
    from registry.weapons.service import find_by_mark

    sessions = make_sessionmaker(engine)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        statements.append((statement, parameters))

    times: dict[str, list[float]] = {"serial": [], "mark_text": []}
    misses = 0
    deadline = time.perf_counter() + budget_s
    for i, (wid, query, kind) in enumerate(sample):
        if i == warmup:
            event.listen(engine, "before_cursor_execute", capture)
        with sessions() as session:
            t0 = time.perf_counter()
            found = find_by_mark(session, query)
            dt = time.perf_counter() - t0
        if i == warmup:
            event.remove(engine, "before_cursor_execute", capture)
        if wid not in {w.id.hex for w, _ in found}:
            misses += 1
        if i >= warmup:
            times[kind].append(dt * 1000)
        if time.perf_counter() > deadline:
            break
    return times, misses, statements


def lookup_figures(
    times: dict[str, list[float]], misses: int, *, planned: int, budget_s: float, plans: list[dict[str, Any]]
) -> dict[str, Any]:
    every = times["serial"] + times["mark_text"]
    return {
        "lookups": len(every),
        "planned": planned,
        "budget_s": budget_s,
        "misses": misses,
        "median_ms": statistics.median(every) if every else None,
        "p99_ms": _percentile(every, 0.99) if every else None,
        "max_ms": max(every) if every else None,
        "by_kind": {
            k: {"n": len(v), "median_ms": statistics.median(v), "p99_ms": _percentile(v, 0.99)}
            for k, v in times.items()
            if v
        },
        "statements": plans,
    }


def lookup_summary(lk: dict[str, Any]) -> str:
    return f"   {lk['lookups']} look-ups: median {lk['median_ms']:.2f} ms, p99 {lk['p99_ms']:.2f} ms"


# --- report lines both blocks share -----------------------------------------------------------------------


def loadavg_text(m: dict[str, Any]) -> str:
    """The end of the Machine line: load average at start, and at end when the run got that far."""
    text = f"Load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}"
    if "loadavg_at_end" in m:
        return text + f", at end {', '.join(f'{x:.2f}' for x in m['loadavg_at_end'])}."
    return text + "."


def audit_bodies_text(eq: dict[str, Any]) -> str:
    return (
        f". Audit bodies average {eq['audit_entries']['import'][1]:.0f} bytes (import) and "
        f"{eq['audit_entries']['baseline'][1]:.0f} bytes (baseline)."
    )


def lookups_by_kind_text(lk: dict[str, Any]) -> str:
    return (
        "Look-ups by kind: "
        + "; ".join(
            f"{k} n={x['n']} median {x['median_ms']:.2f} ms p99 {x['p99_ms']:.2f} ms"
            for k, x in lk["by_kind"].items()
        )
        + f"; {lk['misses']} did not return the expected weapon."
    )
