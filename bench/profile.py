"""Where the time of an import (or of an audit verify) goes: cProfile, top functions by own time.

    python -m bench.profile --weapons 50000 [--what import|verify] [--json out.json] [--top 25]

Generates the file, makes a fresh database with `iti db upgrade` (child process), then runs
`registry.imports.service.import_file` in this process under cProfile, exactly as `iti import` calls it
(one transaction, then a signed tree head). With `--what verify` the import runs unprofiled and
`registry.audit.checker.verify` is profiled instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import generate
from bench.run import ACTOR, fresh_db


def _top(prof: cProfile.Profile, top: int) -> tuple[list[dict[str, Any]], float]:
    stats = pstats.Stats(prof)
    rows = []
    total_tt = 0.0
    for (file, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total_tt += tt
        short = file
        for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
            if marker in short:
                short = short.split(marker, 1)[1]
                break
        rows.append({"function": f"{short}:{line}({name})", "tottime": tt, "cumtime": ct, "calls": nc})
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return rows[:top], total_tt


def profile(n: int, seed: int, what: str, top: int, workdir: Path | None) -> dict[str, Any]:
    from registry.audit import checker
    from registry.audit import service as audit
    from registry.audit.keys import load_or_create_signing_key
    from registry.config import Settings
    from registry.db import make_engine, make_sessionmaker
    from registry.imports.service import import_file
    from registry.profiles import get_profile

    work = Path(tempfile.mkdtemp(prefix="iti-profile-", dir=workdir))
    try:
        csv_path = generate.write_file(work / "weapons.csv", n, seed)
        db = fresh_db(work / "profile.db")
        engine = make_engine(f"sqlite:///{db}")
        sessions = make_sessionmaker(engine)
        var = work / "profile-var"
        settings = Settings(
            database_url=f"sqlite:///{db}",
            var_dir=var,
            data_key_file=var / "keys" / "data.key",
            audit_key_file=var / "keys" / "audit-signing.pem",
            audit_key_passphrase="bench",  # noqa: S106 - throw-away key
        )
        prof = cProfile.Profile()

        def do_import() -> None:
            with sessions() as session, session.begin():
                import_file(session, actor=ACTOR, path=csv_path, profile=get_profile("iti"))
                audit.sign_head(session, load_or_create_signing_key(settings), actor=ACTOR)

        if what == "import":
            t0 = time.perf_counter()
            prof.enable()
            do_import()
            prof.disable()
        else:
            do_import()
            t0 = time.perf_counter()
            with sessions() as session, session.begin():
                prof.enable()
                report = checker.verify(session, check_records=True)
                prof.disable()
            if not report.ok:
                raise RuntimeError(f"verify failed: {report.first}")
        seconds = time.perf_counter() - t0
        engine.dispose()
        rows, total_tt = _top(prof, top)
        return {"what": what, "weapons": n, "seconds": seconds, "total_tt": total_tt, "top": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weapons", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--what", choices=("import", "verify"), default="import")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--json", type=Path)
    p.add_argument("--workdir", type=Path)
    args = p.parse_args(argv)
    result = profile(args.weapons, args.seed, args.what, args.top, args.workdir)
    print(
        f"{result['what']} of {result['weapons']:,} weapons: {result['seconds']:.1f} s under cProfile "
        f"({result['weapons'] / result['seconds']:,.0f}/s)"
    )
    print(f"{'tottime':>8} {'%':>5} {'cumtime':>8} {'calls':>10}  function")
    for r in result["top"]:
        print(
            f"{r['tottime']:8.2f} {100 * r['tottime'] / result['total_tt']:5.1f} {r['cumtime']:8.2f} "
            f"{r['calls']:10,}  {r['function']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
