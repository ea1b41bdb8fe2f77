"""`iti import` and `iti export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from cli.common import STATE, Exit, actor, emit, err_console, profile, settings, transaction
from cli.i18n import _, ngettext
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.errors import ImportRejected
from registry.imports import export as exporter
from registry.imports.service import import_file, write_rejects


def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the file name)")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the good rows; write the bad ones to --rejects")
    ] = False,
    rejects: Annotated[Path | None, typer.Option(help="Where to write rejected rows (JSON Lines)")] = None,
    custody_of: Annotated[
        str | None,
        typer.Option(help="The closed company whose records these are (id, registration number or name)"),
    ] = None,
) -> None:
    """Import weapons. By default all or nothing: any bad row is reported (line, field, reason) and nothing is
    committed."""
    rejects_path = rejects or file.with_suffix(file.suffix + ".rejects.jsonl")
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=STATE.json or not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(_("importing %(file)s", file=file.name), total=file.stat().st_size)
        try:
            with transaction(writes=True) as session:
                result = import_file(
                    session,
                    actor=actor(),
                    path=file,
                    profile=profile(),
                    fmt=fmt,
                    home_country=settings().node_country,
                    skip_invalid=skip_invalid,
                    custody_of=custody_of,
                    progress=lambda done, total: bar.update(task, completed=done),
                )
                audit.sign_head(session, load_or_create_signing_key(settings()), actor=actor())
        except ImportRejected as exc:
            write_rejects(rejects_path, exc.rejects)
            _report_rejects(exc.rejects, rejects_path, committed=False, message=exc.message)
            raise typer.Exit(Exit.INVALID) from None
    if result.rejects:
        write_rejects(rejects_path, result.rejects)
    elif rejects_path.exists() and rejects is None:
        rejects_path.unlink()  # a rejects file from an earlier run would mislead
    data = {
        "job_id": result.job_id,
        "rows": result.rows,
        "imported": result.imported,
        "rejected": len(result.rejects),
        "warnings": result.warnings,
        "rejects_file": str(rejects_path) if result.rejects else None,
    }
    emit(
        data,
        human=_(
            "[green]imported[/] %(imported)s of %(rows)s records (job %(job)s); %(rejected)s rejected",
            imported=result.imported,
            rows=result.rows,
            job=result.job_id,
            rejected=len(result.rejects),
        )
        + (f" → {rejects_path}" if result.rejects else "")
        + _("; %(warnings)s warnings", warnings=result.warnings),
    )


def _report_rejects(rejects: list[dict], path: Path, *, committed: bool, message: str) -> None:
    if STATE.json:
        emit({"error": {"message": message, "rejects": rejects, "rejects_file": str(path)}})
        return
    err_console.print(_("[bold red]import refused:[/] %(message)s", message=message))
    for r in rejects[:50]:
        err_console.print(
            "  "
            + _(
                "line %(line)s: %(field)s: %(reason)s",
                line=r["line"],
                field=r["field"] or _("row"),
                reason=r["reason"],
            )
        )
    if len(rejects) > 50:
        err_console.print("  " + _("… and %(more)s more", more=len(rejects) - 50))
    err_console.print(_("every rejected row is listed in %(path)s", path=path))


def export_command(
    fmt: Annotated[
        str, typer.Option("--format", help="csv (one row per weapon) or jsonl (full history)")
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="Output file (default: standard output)")] = None,
    status: Annotated[str | None, typer.Option(help="Only weapons with this status")] = None,
) -> None:
    """Export the registry, streaming."""
    if fmt not in ("csv", "jsonl"):
        err_console.print(_("[bold red]error:[/] %(message)s", message=_("--format must be csv or jsonl")))
        raise typer.Exit(Exit.INVALID)
    with transaction() as session:
        if out is None:
            n = exporter.export(session, sys.stdout.buffer, fmt=fmt, status=status)
        else:
            with out.open("wb") as fh:
                n = exporter.export(session, fh, fmt=fmt, status=status)
    if out is not None:
        err_console.print(
            ngettext("exported %(num)d weapon to %(out)s", "exported %(num)d weapons to %(out)s", n, out=out)
        )
